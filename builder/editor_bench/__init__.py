"""The editor bench: editors judged on held-out scenes of the micro world against its ground truth (target reached,
label kept, structure, what should stay untouched, reconstruction, cost), the instrument that chooses the release's
editor. `python -m builder editor-bench` (parsed in `builder.cli.micro`); `measure` judges one edit, `run` runs
one editor, `folder` keeps the results resumable, `report` writes the tables and contact sheet, `bench` runs them
in order."""
