"""The leaderboard: `imagenet-tc leaderboard SOURCE --out DIR`.

SOURCE is a folder of results files, a results dataset repository on the Hub (the layout `imagenet-tc submit
--results-repo` writes), or the benchmark dataset itself once the Hub lists it as a benchmark: then the Hub's own
leaderboard (`HfApi.get_dataset_leaderboard`, built from the models' `.eval_results` entries) is read and shown as
the Hub ranks it, in a section of its own, since the Hub's entries carry no predictions to check. Every results
file is checked (schema; metrics recomputed from its predictions when present); files that fail are listed with
their reasons, never ranked. Results on different dataset revisions or metrics
versions are never mixed: each (dataset, revision, metrics version) gets its own section, and `--revision` keeps
one and refuses the others. Within a section there is one table per config, ranked by edited top-1 accuracy;
"overall" is the config `all`, which covers every class. Written as markdown, CSV and JSON, with the report's
plots beside them.

The types are in `board`, reading the source in `sources`, the ranking in `ranking`, the markdown, CSV and JSON in
`render`, the written folder and its upload in `folder`, the command as a whole in `run`.
"""

from imagenet_textcorrupt.leaderboard.board import (ESTIMATE_SOURCES, ESTIMATES, Auditing, Board, Candidate,
                                                    LeaderboardError)
from imagenet_textcorrupt.leaderboard.folder import REPORT_KEY, publish, write
from imagenet_textcorrupt.leaderboard.ranking import UNVERIFIED, build, model_url
from imagenet_textcorrupt.leaderboard.render import audit_cell, to_csv, to_json, to_markdown
from imagenet_textcorrupt.leaderboard.run import default_audit_store, leaderboard_main
from imagenet_textcorrupt.leaderboard.sources import (PUBLISHED_FOLDER, benchmark_task, hub_leaderboard,
                                                      resolve_revision, results_files)

__all__ = ["ESTIMATES", "ESTIMATE_SOURCES", "PUBLISHED_FOLDER", "REPORT_KEY", "UNVERIFIED", "Auditing", "Board",
           "Candidate", "LeaderboardError", "audit_cell", "benchmark_task", "build", "default_audit_store",
           "hub_leaderboard", "leaderboard_main", "model_url", "publish", "resolve_revision", "results_files",
           "to_csv", "to_json", "to_markdown", "write"]
