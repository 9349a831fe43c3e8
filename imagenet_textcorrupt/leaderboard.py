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
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.audit import AUDIT_SUFFIX, REFUSED, audit_results
from imagenet_textcorrupt.audit.store import PUBLISHED_AUDITS, AuditStore, row_status
from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.provenance import utc_timestamp
from imagenet_textcorrupt.estimate import MISSING, format_estimate
from imagenet_textcorrupt.hub import HUB_ID, resolve_commit
from imagenet_textcorrupt.report import markdown_table, write_report
from imagenet_textcorrupt.results import (CHECKED, PREDICTIONS_SUFFIX, RESULTS_FORMAT, Results, ResultsError,
                                          verify_results)
from imagenet_textcorrupt.results.verify_cache import default_cache, verify_results_cached
from imagenet_textcorrupt.schema import DEFAULT_CONFIG

# the figures of a table row, in column order, and where each is in the metrics
ESTIMATE_SOURCES = {"edited_top1": ("edited", "top1"), "clean_top1": ("clean", "top1"), "drop": ("edited", "drop"),
                    "relative_robustness": ("edited", "relative_robustness"), "flip_rate": ("edited", "flip_rate"),
                    "edited_top1_config": ("edited", "top1_config")}
ESTIMATES = tuple(ESTIMATE_SOURCES)


PUBLISHED_FOLDER = "leaderboard"  # where --publish puts the written files in the results repo (the Space reads them)


class LeaderboardError(ImageNetTCError):
    """The source cannot be read or the requested revision cannot be resolved."""


@dataclass
class Candidate:
    """A results file that passed its checks, and how far it was checked."""

    file: str
    results: Results
    status: str  # results.verify_results' status: checked, no predictions file, other metrics version
    path: Path | None = None  # where it is read from (audits rerun it)
    audit: dict[str, Any] = field(default_factory=lambda: row_status(None))

    @property
    def verified(self) -> bool:
        return self.status == CHECKED

    @cached_property
    def sha256(self) -> str:
        """The results file's bytes' digest: what audits and the written report are keyed by."""
        from imagenet_textcorrupt.checksums import sha256_file

        if self.path is None:
            return hashlib.sha256(json.dumps(self.results.data, sort_keys=True).encode()).hexdigest()
        return sha256_file(self.path)

    @property
    def section_key(self) -> tuple[str, str, str]:
        """The leaderboard section it belongs to: (dataset id, revision, metrics version)."""
        dataset = self.results.dataset
        return dataset.id, dataset.revision_key or "unknown revision", self.results.metrics.version


@dataclass
class Board:
    sections: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    superseded: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[Candidate] = field(default_factory=list)
    hub: list[dict[str, Any]] = field(default_factory=list)  # the Hub's own leaderboards, as it ranks them
    audits: dict[str, Path] = field(default_factory=dict)  # results sha256 -> the audit record the rows cite


@dataclass
class Auditing:
    """How a build treats audits: where the records are kept, how many rows a new audit reruns (None: audit
    nothing new), whether only audited results rank, and the device audits run on."""

    store: AuditStore
    rows: int | None = None
    audited_only: bool = False
    device: str | None = None
    progress: bool = True


def benchmark_task(dataset: str, token: str | None = None) -> str | None:
    """The task the Hub's leaderboard API ranks: the first task of the dataset's eval.yaml (the API takes no task),
    or None when eval.yaml cannot be read (gated without access, offline)."""
    import yaml
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(dataset, "eval.yaml", repo_type="dataset", token=token)
        return str(yaml.safe_load(Path(path).read_text(encoding="utf-8"))["tasks"][0]["id"])
    except Exception:  # noqa: BLE001 - the label then says "the first task of its eval.yaml"
        return None


def hub_leaderboard(dataset: str, token: str | None = None) -> dict[str, Any] | None:
    """The Hub's leaderboard of a registered benchmark dataset, or None when the Hub has none for it. Fine-tuned
    models are included (the Hub's API leaves out models that declare a base model unless asked not to)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        entries = HfApi(token=token).get_dataset_leaderboard(dataset, base_model_only=False)
    except RepositoryNotFoundError:
        raise LeaderboardError(f"dataset repository {dataset!r} not found (or the token cannot see it)") from None
    except HfHubHTTPError as error:
        if getattr(error.response, "status_code", None) == 404:  # a dataset that is not a registered benchmark
            return None
        raise LeaderboardError(f"{dataset}: the Hub's leaderboard cannot be read ({str(error).splitlines()[0]})"
                               ) from None
    except Exception as error:  # noqa: BLE001 - offline, unreachable
        raise LeaderboardError(f"{dataset}: not a folder here, and the Hub cannot be reached "
                               f"({type(error).__name__})") from None
    return {"dataset": dataset, "task": benchmark_task(dataset, token), "base_model_only": False, "entries": [
        {"rank": e.rank, "model": e.model_id, "value": e.value, "verified": e.verified,
         "source": (e.source or {}).get("url"), "notes": e.notes} for e in entries]}


def results_files(source: str, token: str | None = None) -> tuple[Path, list[Path]]:
    """The results files of a folder, or of a results dataset repo downloaded from the Hub."""
    folder = Path(source)
    if not folder.is_dir():
        if not HUB_ID.match(source):
            raise LeaderboardError(f"{source}: neither a folder nor a dataset repository id (ORG/NAME)")
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            folder = Path(snapshot_download(source, repo_type="dataset", token=token,
                                            allow_patterns=["*.json", f"*{PREDICTIONS_SUFFIX}"]))
        except RepositoryNotFoundError:
            raise LeaderboardError(f"dataset repository {source!r} not found (or the token cannot see it)") from None
        except Exception as error:  # noqa: BLE001 - offline, unreachable, gated
            raise LeaderboardError(f"{source}: not a folder here, and the Hub cannot be reached "
                                   f"({type(error).__name__})") from None
    files = sorted(p for p in folder.rglob("*.json") if not any(part.startswith(".") for part in p.parts)
                   and p.relative_to(folder).parts[0] != PUBLISHED_FOLDER and not p.name.endswith(AUDIT_SUFFIX))
    return folder, files


def _looks_like_results(path: Path) -> bool:
    """A readable regular file holding a JSON object of our format (never reads a pipe or a device forever, never
    lets a file nested too deeply stop the build)."""
    from imagenet_textcorrupt.results.format import parse_json, read_text

    try:
        data = parse_json(read_text(path), str(path))
    except ResultsError:
        return False
    return isinstance(data, dict) and data.get("format") == RESULTS_FORMAT


def resolve_revision(dataset_id: str, revision: str, token: str | None = None) -> str:
    """A tag or branch of a Hub dataset as its commit sha (a sha is returned as is)."""
    from huggingface_hub import HfApi

    try:
        return resolve_commit(dataset_id, revision, "dataset", HfApi(token=token))
    except Exception as error:  # noqa: BLE001 - offline, unknown revision, missing repo
        raise LeaderboardError(f"--revision {revision}: cannot resolve it on {dataset_id} "
                               f"({type(error).__name__}); pass the commit sha instead") from None


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
    from imagenet_textcorrupt.audit.record import AUDITED

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
        if not _looks_like_results(path):
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


# ------------------------------------------------------------------------------------------------------- output
_HEADER = ["#", "model", "family", "params (M)", "edited top-1", "clean top-1", "drop", "rel. robustness",
           "flip rate", "top-1, config classes", "checked", "audited"]


def audit_cell(audit: dict[str, Any] | None) -> str:
    """A row's audit for people: `✓ 200 rows, seed 42`, or `–` (not audited; the reason is in the JSON)."""
    if audit and audit.get("status") == "audited":
        return f"✓ {audit['rows']} rows, seed {audit['seed']}"
    return MISSING


def _markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    cells = [[row["rank"], row["model"], row["family"],
              f"{row['parameters'] / 1e6:.1f}" if row.get("parameters") else MISSING,
              *(format_estimate(row[name]) for name in ESTIMATES), "✓" if row["verified"] else MISSING,
              audit_cell(row.get("audit"))] for row in rows]
    return markdown_table(_HEADER, cells, align="rllrrrrrrrcl").splitlines()


def to_markdown(board: Board) -> str:
    lines = ["# ImageNet-TC leaderboard", ""]
    if len(board.sections) > 1:
        lines += ["Results on different dataset revisions or metrics versions are not comparable: each has its own "
                  "section below.", ""]
    for section in board.sections:
        lines += [f"## {section['dataset']} @ {section['revision']} · metrics {section['metrics_version']}", ""]
        lines += ["### Overall (config all)", ""]
        lines += _markdown_table(section["overall"]) if section["overall"] else \
            ["No results on config `all` yet: the per-config tables below are not an overall ranking."]
        lines.append("")
        for config, rows in section["configs"].items():
            if config == DEFAULT_CONFIG:
                continue
            lines += [f"### Config {config}", ""] + _markdown_table(rows) + [""]
    for ranked in board.hub:
        task = f"task `{ranked['task']}`" if ranked.get("task") else "the first task of its eval.yaml"
        lines += [f"## The Hub's leaderboard of {ranked['dataset']}: {task}", "",
                  f"As the Hub ranks the models' `.eval_results` entries for {task} (edited top-1 accuracy in %; the "
                  "Hub's API ranks only the first task of eval.yaml), fine-tuned models included. These entries "
                  "carry no predictions, so nothing here was recomputed; the Hub's own *verified* flag is shown.", ""]
        cells = [[e["rank"], e["model"], e["value"], "✓" if e["verified"] else MISSING, e["source"] or MISSING,
                  e["notes"] or MISSING] for e in ranked["entries"]]
        lines += markdown_table(["#", "model", "value", "verified", "source", "notes"], cells, align="rlrcll"
                                ).splitlines()
        lines += ["" if ranked["entries"] else "No entries yet.", ""]
    if not board.sections and not board.hub:
        lines += ["No accepted results.", ""]
    if board.refused:
        lines += ["## Refused", ""] + [f"- `{r['file']}`: {'; '.join(r['problems'])}" for r in board.refused] + [""]
    if board.superseded:
        lines += ["## Superseded by a newer result of the same model and config", ""]
        lines += [f"- `{s['file']}` (by `{s['by']}`)" for s in board.superseded] + [""]
    lines += ["Accuracies in %, with 95% bootstrap intervals over source images. Ranked by edited top-1 accuracy "
              "(ties share a rank). Drop is clean minus edited top-1 on the same source images. *Checked* means the "
              "metrics were recomputed from the submitted predictions and matched (`–`: no predictions file, or "
              "another metrics version). *Audited* means the model was rerun on that many rows, drawn with a seed the "
              "submitter could not know, and gave the submitted top-1 on every one (docs: what an audit promises). "
              "See report.md for the breakdown "
              "by domain, severity and group, and the plots.", ""]
    return "\n".join(lines)


def to_csv(board: Board) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["dataset", "revision", "metrics_version", "config", "rank", "model", "family", "parameters"]
    for name in ESTIMATES:
        header += [name, f"{name}_ci_low", f"{name}_ci_high"]
    writer.writerow(header + ["verified", "audit_status", "audit_rows", "audit_seed", "created", "file"])
    for section in board.sections:
        for config, rows in section["configs"].items():
            for row in rows:
                values = [section["dataset"], section["revision"], section["metrics_version"], config, row["rank"],
                          row["model"], row["family"], row["parameters"]]
                for name in ESTIMATES:
                    est = row[name] or {}
                    values += [est.get("value"), est.get("ci_low"), est.get("ci_high")]
                audit = row.get("audit") or {}
                writer.writerow(values + [row["verified"], audit.get("status"), audit.get("rows"), audit.get("seed"),
                                          row["created"], row["file"]])
    return buffer.getvalue()


def to_json(board: Board) -> dict[str, Any]:
    return {"generated": utc_timestamp(),
            "sections": board.sections, "refused": board.refused, "superseded": board.superseded,
            "hub": board.hub}


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
