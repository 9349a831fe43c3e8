"""`imagenet-tc leaderboard` as a whole: the options checked, the board built (auditing as asked, with the
verification cache), written, summed up on the terminal and, with --publish, uploaded.
"""

from __future__ import annotations

from pathlib import Path

from imagenet_textcorrupt.audit.store import AuditStore
from imagenet_textcorrupt.hub import HUB_ID
from imagenet_textcorrupt.leaderboard.board import Auditing, LeaderboardError
from imagenet_textcorrupt.leaderboard.folder import publish, write
from imagenet_textcorrupt.leaderboard.ranking import build
from imagenet_textcorrupt.leaderboard.sources import PUBLISHED_FOLDER
from imagenet_textcorrupt.results.verify_cache import default_cache

def default_audit_store() -> Path:
    """Where `imagenet-tc leaderboard` keeps its audit records unless told otherwise."""
    from imagenet_textcorrupt.cache import cache_root

    return cache_root() / "audits"


def leaderboard_main(source: str, out: str, revision: str | None = None, verified_only: bool = False,
                     benchmark: str | None = None, publish_to_source: bool = False, audit_rows: int | None = None,
                     audited_only: bool = False, audits: str | Path | None = None, device: str | None = None,
                     progress: bool = True, cache: str | Path | None = None) -> int:
    if publish_to_source and (Path(source).is_dir() or not HUB_ID.match(source)):
        raise LeaderboardError(f"--publish uploads to the results repository, but {source} is not a Hub dataset id "
                               "(a folder here, or not ORG/NAME): give the results dataset's id")
    if audit_rows is not None and audit_rows < 1:
        raise LeaderboardError(f"--audit must be at least 1 row, got {audit_rows}")
    auditing = Auditing(AuditStore(audits if audits is not None else default_audit_store()), audit_rows,
                        audited_only, device, progress)
    board = build(source, revision, verified_only=verified_only, benchmark=benchmark, auditing=auditing,
                  cache=cache if cache is not None else default_cache())
    written = write(board, out)
    ranked = sum(len(rows) for s in board.sections for rows in s["configs"].values())
    for hub in board.hub:
        task = f"task {hub['task']}" if hub.get("task") else "the first task of its eval.yaml"
        print(f"the Hub's leaderboard of {hub['dataset']}, {task}: {len(hub['entries'])} entries (fine-tunes included)")
    if not board.hub or benchmark is not None:
        audited = sum(row["audit"]["status"] == "audited" for s in board.sections for rows in s["configs"].values()
                      for row in rows)
        print(f"{ranked} results ranked in {len(board.sections)} section(s); {len(board.refused)} refused, "
              f"{len(board.superseded)} superseded; {audited} of the ranked audited")
    for problem in board.refused:
        print(f"  refused {problem['file']}: {'; '.join(problem['problems'])}")
    for name, path in written.items():
        print(f"{name}: {path}")
    if publish_to_source:
        print(f"published to {source} under {PUBLISHED_FOLDER}/: {publish(out, source)}")
    return 0
