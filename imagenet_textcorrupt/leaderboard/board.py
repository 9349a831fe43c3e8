"""What a leaderboard is made of: a results file that passed its checks (`Candidate`), the board built from them
(`Board`: sections of ranked tables, the refused and superseded files, the Hub's own leaderboards), how a build
treats audits (`Auditing`), the figures of a table row and where each is in the metrics, and the leaderboard's error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.audit.store import AuditStore, row_status
from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.results.format import Results
from imagenet_textcorrupt.results.verify import CHECKED

# the figures of a table row, in column order, and where each is in the metrics
ESTIMATE_SOURCES = {"edited_top1": ("edited", "top1"), "clean_top1": ("clean", "top1"), "drop": ("edited", "drop"),
                    "relative_robustness": ("edited", "relative_robustness"), "flip_rate": ("edited", "flip_rate"),
                    "edited_top1_config": ("edited", "top1_config")}
ESTIMATES = tuple(ESTIMATE_SOURCES)


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
    """A built leaderboard: per (dataset, revision, metrics version) a section of ranked tables, the files refused
    (with their problems) and superseded, the results ranked, the Hub's own leaderboards, the audits the rows cite."""

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
