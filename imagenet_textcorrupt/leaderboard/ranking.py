"""Building the leaderboard (`build`): every results file of the source read and checked (with the verification
cache), refused with its reasons or kept; the newest result per model and config; results on one dataset revision
and metrics version grouped in a section, cut to those covering as many rows as the others, audited when asked;
each config's table ranked by edited top-1 accuracy, ties sharing a rank.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.audit import REFUSED, audit_results
from imagenet_textcorrupt.audit.record import AUDITED
from imagenet_textcorrupt.audit.store import row_status
from imagenet_textcorrupt.hub import HUB_ID
from imagenet_textcorrupt.leaderboard.board import ESTIMATE_SOURCES, Auditing, Board, Candidate
from imagenet_textcorrupt.leaderboard.sources import (hub_leaderboard, looks_like_results, resolve_revision,
                                                      results_files)
from imagenet_textcorrupt.results.format import RESULTS_FORMAT, ResultsError
from imagenet_textcorrupt.results.verify import CHECKED
from imagenet_textcorrupt.results.verify_cache import verify_results_cached
from imagenet_textcorrupt.schema import DEFAULT_CONFIG

def _newest_per_model(entries: list[Candidate], board: Board) -> list[Candidate]:
    latest: dict[tuple[str, str], Candidate] = {}
    for entry in sorted(entries, key=lambda e: e.results.created):
        key = (entry.results.model.id, entry.results.dataset.config)
        if key in latest:
            board.superseded.append({"file": latest[key].file, "by": entry.file})
        latest[key] = entry
    return list(latest.values())


def _complete(entries: list[Candidate], board: Board) -> list[Candidate]:
    """Refuses results that cover fewer (or more) rows of a config than the others on the same revision do."""
    by_config: dict[str, list[Candidate]] = {}
    for entry in entries:
        by_config.setdefault(entry.results.dataset.config, []).append(entry)
    kept = []
    for config, members in by_config.items():
        counts = Counter(e.results.dataset.rows for e in members)
        usual = max(counts.values())
        expected = max(rows for rows, n in counts.items() if n == usual)  # the most common; the largest on a tie
        for entry in members:
            rows = entry.results.dataset.rows
            if rows == expected:
                kept.append(entry)
            else:
                board.refused.append({"file": entry.file, "problems": [
                    f"it covers {rows} rows of config {config}; the other results on this revision cover {expected}"]})
    return kept


def model_url(model: str) -> str | None:
    """The Hub page of a model spec whose weights come from a Hub repository (`hf:ORG/NAME`,
    `timm:hf-hub:ORG/NAME`, `clip:ORG/NAME`), or None (timm's registry names, open_clip tags, local folders)."""
    for prefix in ("timm:hf-hub:", "hf:", "clip:"):
        if model.startswith(prefix):
            repo = model[len(prefix):].split("@")[0]
            return f"https://huggingface.co/{repo}" if HUB_ID.match(repo) else None
    return None


def _row(rank: int, entry: Candidate) -> dict[str, Any]:
    r = entry.results
    row: dict[str, Any] = {"rank": rank, "model": r.model.id, "url": model_url(r.model.id),
                           "family": r.model.family, "parameters": r.model.parameters}
    for name, (part, metric) in ESTIMATE_SOURCES.items():
        estimate = getattr(r.metrics, part).get(metric)
        row[name] = estimate.to_json() if estimate else None
    return row | {"verified": entry.verified, "check": entry.status, "audit": entry.audit, "created": r.created,
                  "file": entry.file}


def _ranked(entries: list[Candidate]) -> list[dict[str, Any]]:
    def score(entry: Candidate) -> tuple[float, float]:
        m = entry.results.metrics
        return (-(m.edited["top1"].value or 0.0), -(m.clean["top1"].value or 0.0))

    rows, previous, rank = [], None, 0
    for position, entry in enumerate(sorted(entries, key=lambda e: (score(e), e.results.model.id)), 1):
        if score(entry) != previous:  # ties share a rank
            rank, previous = position, score(entry)
        rows.append(_row(rank, entry))
    return rows


UNVERIFIED = "not verified: {status} (a leaderboard of verified entries ranks only results whose metrics were " \
             "recomputed from their predictions)"


def _audited(entries: list[Candidate], board: Board, auditing: Auditing) -> list[Candidate]:
    """Each entry's audit status, from the store or (with `auditing.rows`) from a new audit; refused results, and
    under `audited_only` every result not audited, leave the ranking with the reason."""
    kept = []
    for entry in entries:
        assert entry.path is not None
        digest = entry.sha256
        record = auditing.store.get(digest)
        if record is None and auditing.rows is not None:
            print(f"auditing {entry.file}: {auditing.rows} rows")
            record = audit_results(entry.path, rows=auditing.rows, device=auditing.device,
                                   progress=auditing.progress)
            auditing.store.put(record)
        if record is not None:
            board.audits[digest] = auditing.store.path(digest)
        entry.audit = row_status(record)
        if entry.audit["status"] == REFUSED:
            board.refused.append({"file": entry.file, "problems": [f"audit: {record.reason}"], "audit": entry.audit})
        elif auditing.audited_only and entry.audit["status"] != AUDITED:
            board.refused.append({"file": entry.file, "problems": [f"not audited: {entry.audit['reason']} (a "
                                                                   f"leaderboard of audited entries ranks only "
                                                                   f"results whose model was rerun)"],
                                  "audit": entry.audit})
        else:
            kept.append(entry)
    return kept


def build(source: str, revision: str | None = None, token: str | None = None, verified_only: bool = False,
          benchmark: str | None = None, auditing: Auditing | None = None, cache: str | Path | None = None) -> Board:
    """Reads, checks, groups and ranks every results file of the source; for a benchmark dataset on the Hub,
    reads the Hub's leaderboard instead. `verified_only` refuses, with the reason, results that were not
    recomputed from their predictions; `benchmark` (the dataset's Hub id) adds the Hub's own leaderboard of it
    beside the results', once the Hub lists it. `auditing` gives each ranked result its audit status (and audits
    the new ones when it says how many rows); refused audits never rank."""
    board = Board()
    if benchmark is not None:
        ranked = hub_leaderboard(benchmark, token)
        if ranked is not None:
            board.hub.append(ranked)
    if not Path(source).is_dir() and HUB_ID.match(source):
        ranked = hub_leaderboard(source, token)
        if ranked is not None:  # the benchmark dataset itself: its files are the data, not results
            board.hub.append(ranked)
            return board
    folder, files = results_files(source, token)
    entries = []
    for path in files:
        shown = path.relative_to(folder).as_posix()
        if not looks_like_results(path):
            board.refused.append({"file": shown, "problems": [f"not an ImageNet-TC results file (no \"format\": "
                                                              f"\"{RESULTS_FORMAT}\")"]})
            continue
        try:
            results, status = verify_results_cached(path, cache, files)
        except ResultsError as error:
            board.refused.append({"file": shown, "problems": error.problems})
            continue
        except Exception as error:  # noqa: BLE001 - one malformed file must not stop the others being ranked
            board.refused.append({"file": shown, "problems": [f"unreadable: {type(error).__name__}: {error}"]})
            continue
        problems = results.comparability_problems()
        if problems:
            board.refused.append({"file": shown, "problems": problems})
            continue
        if verified_only and status != CHECKED:
            board.refused.append({"file": shown, "problems": [UNVERIFIED.format(status=status)]})
            continue
        entries.append(Candidate(shown, results, status, path))
    if revision is not None:
        datasets = sorted({e.results.dataset.id for e in entries})
        wanted = {resolve_revision(d, revision, token) if HUB_ID.match(d) else revision
                  for d in datasets}
        kept = []
        for entry in entries:
            sha = entry.results.dataset.sha
            if sha in wanted:
                kept.append(entry)
            else:
                board.refused.append({"file": entry.file, "problems": [
                    f"computed on dataset revision {sha or 'unknown'}; this leaderboard is for {revision}"
                    + (f" ({', '.join(sorted(wanted))})" if wanted != {revision} else "")]})
        entries = kept
    groups: dict[tuple[str, str, str], list[Candidate]] = {}
    for entry in entries:
        groups.setdefault(entry.section_key, []).append(entry)
    for (dataset, rev, metrics_version), members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        members = _complete(_newest_per_model(members, board), board)
        if auditing is not None:
            members = _audited(members, board, auditing)
            if not members:
                continue
        board.accepted += members
        configs: dict[str, list[Candidate]] = {}
        for entry in members:
            configs.setdefault(entry.results.dataset.config, []).append(entry)
        order = sorted(configs, key=lambda c: (c != DEFAULT_CONFIG, c))
        board.sections.append({"dataset": dataset, "revision": rev, "metrics_version": metrics_version,
                               "configs": {c: _ranked(configs[c]) for c in order},
                               "overall": _ranked(configs.get(DEFAULT_CONFIG, []))})
    return board
