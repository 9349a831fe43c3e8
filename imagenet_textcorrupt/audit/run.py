"""`imagenet-tc audit RESULTS.json`: a results file checked by rerunning its model.

In order: the results must match their own predictions (`verify_results`); every predictions row must be a row of
the recorded dataset revision with the same id, label, source, domain, severity, group and template (all rows: this
reads no images); then a stratified, seeded sample of rows is rerun through the model the results name, and each
rerun top-1 must equal the submitted top-1 (or be tied with it within `TIE_TOLERANCE`). What cannot be had again
(model, checkpoint, revision) makes the results unauditable, never a crash.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.audit.record import (AUDITED, REFUSED, SHOWN_DISAGREEMENTS, UNAUDITABLE, AuditError,
                                               AuditRecord, Unauditable)
from imagenet_textcorrupt.audit.rerun import TIE_TOLERANCE, load_audited_model, open_audited_rows, rerun
from imagenet_textcorrupt.audit.sample import detection_table, draw_rows, os_seed, strata
from imagenet_textcorrupt.checksums import sha256_file
from imagenet_textcorrupt.provenance import library_versions, utc_timestamp
from imagenet_textcorrupt.results import (CHECKED, NO_PREDICTIONS, OTHER_METRICS_VERSION, Results, ResultsError,
                                          predictions_path, read_predictions, verify_results)

DEFAULT_ROWS = 200
# the columns of a predictions row that must equal the dataset's row of the same id
METADATA_FIELDS = ("source_id", "label", "domain", "severity", "group", "template")


def _shown(items: list[str]) -> str:
    more = len(items) - SHOWN_DISAGREEMENTS
    return ", ".join(items[:SHOWN_DISAGREEMENTS]) + (f" and {more} more" if more > 0 else "")


def metadata_mismatches(records: list[dict[str, Any]], dataset_rows: Any) -> list[dict[str, Any]]:
    """Rows whose submitted metadata is not the dataset's: ids it lacks, ids it has that were not submitted, and
    fields that differ (a changed label forges accuracy without touching a prediction)."""
    columns = dataset_rows.select_columns(["id", *METADATA_FIELDS]).to_dict()
    truth = {row_id: {f: columns[f][i] for f in METADATA_FIELDS} for i, row_id in enumerate(columns["id"])}
    mismatches = []
    for record in records:
        expected = truth.pop(str(record["id"]), None)
        if expected is None:
            mismatches.append({"id": record["id"], "problem": "not a row of the dataset"})
            continue
        for name in METADATA_FIELDS:
            if record[name] != expected[name]:
                mismatches.append({"id": record["id"], "problem": f"{name} {record[name]!r}, the dataset has "
                                                                  f"{expected[name]!r}"})
    mismatches += [{"id": row_id, "problem": "a row of the dataset with no prediction"} for row_id in sorted(truth)]
    return mismatches


def compare(records: dict[str, dict[str, Any]], reruns: list[tuple[str, list[int], list[float]]], tolerance: float
            ) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Counts (agree, within_tolerance, disagree) and the disagreeing rows with both predictions."""
    counts = {"agree": 0, "within_tolerance": 0, "disagree": 0}
    disagreements = []
    for row_id, (first, second), (top, runner_up) in reruns:
        submitted = int(records[row_id]["top5"][0])
        gap = top - runner_up
        if submitted == first:
            counts["agree"] += 1
        elif submitted == second and gap <= tolerance:
            counts["within_tolerance"] += 1
        else:
            counts["disagree"] += 1
            disagreements.append({"id": row_id, "submitted_top1": submitted, "rerun_top1": first,
                                  "rerun_top2": second, "rerun_logit_gap": round(gap, 6)})
    return counts, disagreements


def _verified(path: Path, record: AuditRecord) -> Results | None:
    """The results when they match their predictions; otherwise fills in the record's verdict and returns None."""
    try:
        results, status = verify_results(path)
    except ResultsError as error:
        record.status, record.reason = REFUSED, "the results do not match their own predictions: " + \
            "; ".join(error.problems)
        return None
    if status == NO_PREDICTIONS:
        record.status, record.reason = UNAUDITABLE, "no predictions file beside the results: nothing to compare"
    elif status == OTHER_METRICS_VERSION:
        record.status, record.reason = UNAUDITABLE, (
            f"metrics version {results.metrics.version}: this version of imagenet-textcorrupt cannot recompute its "
            f"figures from the predictions, so agreeing predictions would prove nothing about them")
    return results if status == CHECKED else None


def audit_results(path: str | Path, rows: int = DEFAULT_ROWS, seed: int | None = None, device: str | None = None,
                  checkpoint: str | Path | None = None, batch_size: int = 32, progress: bool = True) -> AuditRecord:
    """Audits one results file; the verdict is in the returned record (never raised), except for wrong options."""
    import torch

    if rows < 1:
        raise AuditError(f"--rows must be at least 1, got {rows}")
    if seed is not None and not 0 <= seed < 2 ** 63:
        raise AuditError(f"--seed must be in [0, 2**63), got {seed}")
    path = Path(path)
    if not path.is_file():
        raise AuditError(f"{path}: no such results file")
    started = time.perf_counter()
    record = AuditRecord(status=UNAUDITABLE, results_file=path.name, results_sha256=sha256_file(path),
                         seed=seed if seed is not None else os_seed(), seed_source="given" if seed is not None else "os",
                         rows_requested=rows, versions=library_versions(), created=utc_timestamp())
    try:
        results = _verified(path, record)
        if results is not None:
            _audit(results, path, record, rows, device or ("cuda" if torch.cuda.is_available() else "cpu"),
                   checkpoint, batch_size, progress)
    except Unauditable as error:
        record.status, record.reason = UNAUDITABLE, str(error)
    record.seconds = round(time.perf_counter() - started, 3)
    return record


def _audit(results: Results, path: Path, record: AuditRecord, rows: int, device: str,
           checkpoint: str | Path | None, batch_size: int, progress: bool) -> None:
    dataset = results.dataset
    record.dataset = {"id": dataset.id, "config": dataset.config, "revision": dataset.revision, "sha": dataset.sha,
                      "fingerprint": dataset.fingerprint}
    name = Path(str(results.predictions.get("file") or predictions_path(path).name)).name
    records = read_predictions(path.parent / name)
    record.population = len(records)
    dataset_rows = open_audited_rows(results)
    mismatches = metadata_mismatches(records, dataset_rows)
    if mismatches:
        record.metadata_mismatches = mismatches
        record.status, record.reason = REFUSED, (
            f"{len(mismatches)} predictions rows do not describe the dataset's rows: "
            + _shown([f"{m['id']} ({m['problem']})" for m in mismatches]))
        return

    model = load_audited_model(results, checkpoint, path.parent)
    record.model = {"id": results.model.id, "revision_recorded": results.data["model"].get("revision"),
                    "resolved_commit": model.resolved_commit, "checkpoint_sha256": model.checkpoint_sha256}
    drawn = draw_rows(records, rows, record.seed)
    chosen = set(drawn)
    record.strata = [{"group": g, "domain": d, "severity": s, "rows": len(ids),
                      "audited": sum(i in chosen for i in ids)} for (g, d, s), ids in strata(records).items()]
    index = {row_id: i for i, row_id in enumerate(dataset_rows["id"])}
    selected = dataset_rows.select(sorted(index[row_id] for row_id in drawn))
    dtype = results.dtype or "float32"
    tolerance = TIE_TOLERANCE.get(dtype, max(TIE_TOLERANCE.values()))
    record.tolerance = {"dtype": dtype, "logit_gap": tolerance, "device": device}
    reruns = list(rerun(model.classifier, selected, device, dtype, batch_size, progress))
    counts, record.disagreements = compare({str(r["id"]): r for r in records}, reruns, tolerance)
    record.rows = len(reruns)
    record.agreement = {**counts, "share": round((counts["agree"] + counts["within_tolerance"]) / len(reruns), 6)}
    record.detection = detection_table(len(records), len(reruns))
    if record.disagreements:
        record.status, record.reason = REFUSED, (
            f"{len(record.disagreements)} of {len(reruns)} audited rows disagree with the submitted predictions: "
            + _shown([f"{d['id']} (submitted {d['submitted_top1']}, rerun {d['rerun_top1']})"
                      for d in record.disagreements]))
    else:
        record.status, record.reason = AUDITED, None
