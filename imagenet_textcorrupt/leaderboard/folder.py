"""The leaderboard's folder: leaderboard.md, .csv and .json, the report of the accepted results (drawn again only
when their bytes changed), the audit records the rows cite; and its upload to the results repository.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.audit.store import PUBLISHED_AUDITS
from imagenet_textcorrupt.leaderboard.board import Board
from imagenet_textcorrupt.leaderboard.render import to_csv, to_json, to_markdown
from imagenet_textcorrupt.leaderboard.sources import PUBLISHED_FOLDER
from imagenet_textcorrupt.report import write_report

REPORT_KEY = ".report-key.json"  # what the report in a written folder was made from, and its files


def _report(board: Board, out: Path) -> dict[str, Path]:
    """The report of the accepted results; reused as it is when the folder already holds the report of the same
    results bytes made by this version (a rebuild that finds nothing new redraws no plot)."""
    from imagenet_textcorrupt import __version__

    digest = hashlib.sha256(__version__.encode())
    for entry in board.accepted:  # in ranking order, which the report's tables follow
        digest.update(b"\0" + entry.file.encode() + b"\0" + entry.sha256.encode())
    key = digest.hexdigest()
    try:
        kept = json.loads((out / REPORT_KEY).read_text(encoding="utf-8"))
        files = {str(name): out / str(where) for name, where in kept["files"].items()}
        if kept["key"] == key and all(path.is_file() for path in files.values()):
            return files
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # no report yet, or one this cannot vouch for: draw it
    written = write_report([e.results for e in board.accepted], out)
    atomic_write_text(out / REPORT_KEY, json.dumps({"key": key, "files": {
        name: path.relative_to(out).as_posix() for name, path in written.items()}}, sort_keys=True) + "\n")
    return written


def write(board: Board, out: str | Path) -> dict[str, Path]:
    """leaderboard.md, .csv and .json, and the report (tables by domain, severity and group; plots)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {"leaderboard.md": out / "leaderboard.md", "leaderboard.csv": out / "leaderboard.csv",
               "leaderboard.json": out / "leaderboard.json"}
    atomic_write_text(written["leaderboard.md"], to_markdown(board))
    atomic_write_text(written["leaderboard.csv"], to_csv(board))
    atomic_write_text(written["leaderboard.json"], json.dumps(to_json(board), indent=2, ensure_ascii=False) + "\n")
    if board.accepted:
        written.update(_report(board, out))
    for digest, record in sorted(board.audits.items()):  # the records the rows cite, published beside them
        target = out / PUBLISHED_AUDITS / f"{digest}.json"
        atomic_write_text(target, record.read_text(encoding="utf-8"))
        written[f"{PUBLISHED_AUDITS}/{digest}.json"] = target
    return written


def publish(out: str | Path, results_repo: str, token: str | None = None) -> str:
    """Upload the written leaderboard (JSON, markdown, CSV, plots) to `results_repo` under leaderboard/, replacing
    what was there, in one commit; returns the commit's URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    commit = api.upload_folder(folder_path=str(out), path_in_repo=PUBLISHED_FOLDER, repo_id=results_repo,
                               repo_type="dataset", delete_patterns=["*"],
                               commit_message="Leaderboard rebuilt by imagenet-tc leaderboard --publish")
    return str(commit.commit_url)
