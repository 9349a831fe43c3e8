"""Audit records kept by whoever builds the leaderboard, one per results file's sha256, so a rebuild reruns no
model whose results did not change; and the status a leaderboard row shows for a record (or for none).

Only records in the builder's own store count: a record that arrived beside a submission was written by the
submitter and proves nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagenet_textcorrupt.audit.record import (AUDITED, REFUSED, AuditError, AuditRecord, read_record,
                                               write_record)

PUBLISHED_AUDITS = "audits"  # the folder of the written (and published) leaderboard that holds the records
UNAUDITED = "unaudited"
NOT_YET = "not audited yet (imagenet-tc leaderboard --audit N reruns the model)"


class AuditStore:
    """A folder of audit records named by the sha256 of the results file they audit."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, results_sha256: str) -> Path:
        return self.folder / f"{results_sha256}.json"

    def get(self, results_sha256: str) -> AuditRecord | None:
        """The stored audit of these results bytes; None when there is none, or when the stored file is unreadable
        or belongs to other bytes (then the results are audited again)."""
        path = self.path(results_sha256)
        if not path.is_file():
            return None
        try:
            record = read_record(path)
        except AuditError:
            return None
        return record if record.results_sha256 == results_sha256 else None

    def put(self, record: AuditRecord) -> Path:
        return write_record(record, self.path(record.results_sha256))


def row_status(record: AuditRecord | None, reason: str = NOT_YET) -> dict[str, Any]:
    """What a leaderboard row carries of its audit: status audited, refused or unaudited (with why)."""
    if record is None:
        return {"status": UNAUDITED, "rows": None, "seed": None, "agreement": None, "reason": reason,
                "record": None}
    shown = f"{PUBLISHED_AUDITS}/{record.results_sha256}.json"
    if record.status == AUDITED:
        return {"status": AUDITED, "rows": record.rows, "seed": record.seed,
                "agreement": record.agreement.get("share"), "reason": None, "record": shown}
    if record.status == REFUSED:
        return {"status": REFUSED, "rows": record.rows, "seed": record.seed,
                "agreement": record.agreement.get("share"), "reason": record.reason, "record": shown,
                "disagreements": len(record.disagreements) + len(record.metadata_mismatches)}
    return {"status": UNAUDITED, "rows": None, "seed": None, "agreement": None,
            "reason": f"unauditable: {record.reason}", "record": shown}
