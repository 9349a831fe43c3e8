"""The audit record: what `imagenet-tc audit` found, written atomically as JSON beside whatever asked for it.

Statuses and the command's exit status: `audited` (0) every audited row agreed, `refused` (1) some row disagreed
or the results do not match their own predictions, `unauditable` (2) the auditor could not rerun the model on the
recorded data (the reason says why). Records are keyed by the sha256 of the results file's bytes, so a leaderboard
rebuild finds the audit of an unchanged file instead of rerunning its model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.errors import ImageNetTCError

AUDIT_FORMAT = "imagenet-tc-audit"
AUDIT_FORMAT_VERSION = 1
AUDITED, REFUSED, UNAUDITABLE = "audited", "refused", "unauditable"
EXIT_STATUS = {AUDITED: 0, REFUSED: 1, UNAUDITABLE: 2}
SHOWN_DISAGREEMENTS = 20  # in messages; the record keeps them all


class Unauditable(ImageNetTCError):
    """The model or the data the results name cannot be had again: the audit cannot decide."""


class AuditError(ImageNetTCError):
    """The audit's own input is wrong (its options, a record that cannot be read)."""


@dataclass
class AuditRecord:
    """One audit of one results file."""

    status: str
    results_file: str
    results_sha256: str
    reason: str | None = None
    seed: int | None = None
    seed_source: str | None = None  # "given" or "os"
    rows_requested: int | None = None
    rows: int = 0  # rows rerun
    population: int | None = None  # rows in the predictions file
    agreement: dict[str, Any] = field(default_factory=dict)  # agree, within_tolerance, disagree, share
    tolerance: dict[str, Any] = field(default_factory=dict)
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    metadata_mismatches: list[dict[str, Any]] = field(default_factory=list)
    strata: list[dict[str, Any]] = field(default_factory=list)
    detection: list[dict[str, Any]] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    seconds: float | None = None

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.status]

    def to_json(self) -> dict[str, Any]:
        return {"format": AUDIT_FORMAT, "format_version": AUDIT_FORMAT_VERSION, **asdict(self)}

    def summary(self) -> str:
        """One line for people: the status, the rows and the seed, and why when it is not audited."""
        if self.status == AUDITED:
            tolerated = self.agreement.get("within_tolerance", 0)
            return (f"audited: {self.rows} rows (seed {self.seed}) agree with the submitted predictions"
                    + (f", {tolerated} of them within the tie tolerance" if tolerated else ""))
        if self.status == REFUSED:
            return f"refused: {self.reason}"
        return f"unauditable: {self.reason}"


def write_record(record: AuditRecord, path: str | Path) -> Path:
    return atomic_write_text(Path(path), json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n")


def read_record(path: str | Path) -> AuditRecord:
    """An audit record as written by `write_record`; AuditError naming the file and the problem otherwise."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AuditError(f"{path}: not a readable audit record ({type(error).__name__}: {error})") from None
    if not isinstance(data, dict) or data.get("format") != AUDIT_FORMAT:
        raise AuditError(f"{path}: not an audit record (no \"format\": \"{AUDIT_FORMAT}\")")
    if data.get("format_version") != AUDIT_FORMAT_VERSION:
        raise AuditError(f"{path}: audit format version {data.get('format_version')!r}; this version reads "
                         f"{AUDIT_FORMAT_VERSION}")
    fields = {k: v for k, v in data.items() if k not in ("format", "format_version")}
    try:
        record = AuditRecord(**fields)
    except TypeError as error:
        raise AuditError(f"{path}: {error}") from None
    if record.status not in EXIT_STATUS:
        raise AuditError(f"{path}: status {record.status!r} is none of {', '.join(EXIT_STATUS)}")
    return record
