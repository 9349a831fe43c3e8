"""The editor bench's output folder: its settings, each editor's results (written atomically when the editor
finishes, reused by a rerun with the same settings), and the report files.

    DIR/bench.json              the settings every result here was measured with (written first)
    DIR/editors/<label>.json    one editor's records, cost and metadata
    DIR/editors/<label>.npz     its edits of the contact sheet's scenes (uint8)
    DIR/editor-bench.json       the figures with intervals, for the editors of the latest run
    DIR/editor-bench.md         the same as Markdown tables
    DIR/contact_sheet.png       originals beside each editor's edits

A folder that holds anything else, or a bench with other settings, is refused: results measured on other scenes
or steps would be mixed in silently otherwise.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
import numpy as np
from PIL import Image

from imagenet_textcorrupt.atomic import atomic_write_bytes, atomic_write_text

from builder.editor_bench.measure import EDIT_KINDS
from builder.editor_bench.run import BenchError, BenchSettings, EditorRun, EditorSpec

FORMAT = 1
SETTINGS_FILE = "bench.json"
REPORT_FILES = ("editor-bench.json", "editor-bench.md", "contact_sheet.png")


class BenchFolder:
    def __init__(self, path: str | Path, settings: BenchSettings):
        self.path = Path(path)
        self.settings = settings
        self.editors = self.path / "editors"

    def open(self) -> None:
        """Create the folder, or check that it holds a bench with these settings."""
        wanted = {"format": FORMAT, **self.settings.comparable()}
        record = self.path / SETTINGS_FILE
        if record.is_file():
            try:
                found = json.loads(record.read_text())
            except ValueError as error:
                raise BenchError(f"{record} is not an editor bench's settings ({error}); choose another --out") \
                    from None
            if found != wanted:
                differ = ", ".join(f"{key} {found.get(key)!r} here, {value!r} asked"
                                   for key, value in wanted.items() if found.get(key) != value)
                raise BenchError(f"{self.path} holds another editor bench ({differ}); choose another --out or "
                                 "the same settings")
            return
        if self.path.exists() and any(self.path.iterdir()):
            raise BenchError(f"{self.path} is not empty and holds no editor bench ({SETTINGS_FILE}); choose "
                             "another --out")
        self.editors.mkdir(parents=True, exist_ok=True)
        atomic_write_text(record, json.dumps(wanted, indent=2) + "\n")

    def _files(self, spec: EditorSpec) -> tuple[Path, Path]:
        return self.editors / f"{spec.label}.json", self.editors / f"{spec.label}.npz"

    def load(self, spec: EditorSpec) -> EditorRun | None:
        """The editor's results, when a run finished them."""
        record, pictures = self._files(spec)
        if not record.is_file():
            return None
        data = json.loads(record.read_text())
        sheet: dict[str, list[Image.Image]] = {}
        if pictures.is_file():
            with np.load(pictures) as arrays:
                sheet = {kind: [Image.fromarray(a) for a in arrays[kind]] for kind in arrays.files}
        return EditorRun(spec, data["records"], data["cost"], data["metadata"], data["environment"], sheet)

    def save(self, run: EditorRun) -> None:
        """The pictures, then the record: a record's presence means the editor is done."""
        record, pictures = self._files(run.spec)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{kind: np.stack([np.asarray(im) for im in run.sheet[kind]])
                                       for kind in EDIT_KINDS if run.sheet.get(kind)})
        atomic_write_bytes(pictures, buffer.getvalue())
        atomic_write_text(record, json.dumps({"editor": run.spec.label, "environment": run.environment,
                                              "cost": run.cost, "metadata": run.metadata,
                                              "records": run.records}, indent=1) + "\n")

    def write_report(self, name: str, data: bytes | str) -> Path:
        target = self.path / name
        return atomic_write_text(target, data) if isinstance(data, str) else atomic_write_bytes(target, data)
