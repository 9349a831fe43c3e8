"""Assemble a finished build into a release folder in the Hub's layout, with its generated dataset card.

    python -m builder release --build build/v1 --out releases/v1.0.0 [--previous releases/v0.9.0]

    data/<group>/test-00000-of-0000N.parquet    one config per group, originals included; "all" (the default)
                                                reads every group's files, so no row is stored twice
    README.md                                   the card: YAML (configs, dataset_info, license, gating) + text
    LICENSE                                     the terms the images carry (the card's license_link)
    eval.yaml                                   the benchmark description: one task per config
    data/hard/test-00000-of-0000N.parquet       the hard subset, when the build has hard.json (`python -m builder
                                                hard`): those edits and their originals; not part of "all"
    reviews/<reviewer>.jsonl, reviews/sample.json   the build's review verdicts, when it was reviewed
    release.json                                counts per config, domain and severity; QC pass rates; the
                                                review's figures (`review`, null without one) and the hard
                                                subset's (`hard`); the sha256 of every data file (`file_sha256`,
                                                what `validate` checks) and of the build shards it was made from

Every build shard is first checked against the sha256 its manifest entry records: a shard changed or lost after
the build is refused before anything is written. The shards are then streamed batch by batch into per-config
writers that roll over near a target file size, so memory stays flat. The release is assembled in a temporary
folder beside `--out` and renamed into place only when complete: a crash or a refusal never leaves a half-made
release.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.checksums import sha256_file
from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.provenance import library_versions
from imagenet_textcorrupt.schema import DEFAULT_CONFIG, HARD_CONFIG, features, shard_file

from builder.generation import parquet_files
from builder.review.verdicts import REVIEWS_DIR

TARGET_FILE_BYTES = 500 * 1024 * 1024
READ_ROWS = 500  # rows read from the build at a time: memory stays bounded, per-batch overhead small
RELEASE_LIBRARIES = ("imagenet-textcorrupt", "torch", "diffusers", "transformers", "datasets", "pyarrow")
FILE_SHA256 = "file_sha256"  # release.json: {data file path in the release: sha256 of its bytes}


class ReleaseError(ImageNetTCError):
    """The build is incomplete, or the release folder cannot be made."""


@dataclass
class ConfigStats:
    rows: int = 0
    num_bytes: int = 0  # uncompressed, as datasets reports dataset_size
    by_domain: Counter = field(default_factory=Counter)
    by_severity: Counter = field(default_factory=Counter)
    passed: Counter = field(default_factory=Counter)  # domain -> rows that passed QC
    files: list[str] = field(default_factory=list)
    download_bytes: int = 0


class _ConfigWriter:
    """Writes one config's rows into files of about `target` bytes (named once their count is known), as `datasets`
    writes parquet (builder/generation/parquet_files.py), in row groups of about parquet_files.ROW_GROUP_BYTES."""

    def __init__(self, root: Path, config: str, row_features: Any, target: int):
        self.root, self.config, self.features, self.target = root, config, row_features, target
        self.parts: list[Path] = []
        self.writer: Any = None
        self.written = 0
        self.stats = ConfigStats()
        self.pending: list[Any] = []  # tables waiting to fill a row group
        self.pending_bytes = 0

    def write(self, table: Any) -> None:
        """Buffer rows and write them as one row group once they reach ROW_GROUP_BYTES uncompressed."""
        self.pending.append(table)
        self.pending_bytes += table.nbytes
        if self.pending_bytes >= parquet_files.ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self.pending:
            return
        table = pa.concat_tables(self.pending)
        self.pending, self.pending_bytes = [], 0
        self._write_group(table)

    def _write_group(self, table: Any) -> None:
        if self.writer is None:
            path = self.root / f".{self.config}-part{len(self.parts):05d}.parquet"
            self.parts.append(path)
            self.writer = parquet_files.open_writer(path, self.features)
            self.written = 0
        self.writer.write_table(table, row_group_size=max(1, table.num_rows))
        self.written += table.nbytes
        if self.written >= self.target:
            self.writer.close()
            self.writer = None

    def finish(self, out: Path) -> None:
        self._flush()
        if self.writer is not None:
            self.writer.close()
        count = len(self.parts)
        for index, part in enumerate(self.parts):
            name = shard_file(self.config, index, count)
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            part.rename(out / name)
            self.stats.files.append(name)
            self.stats.download_bytes += (out / name).stat().st_size


def check_shards(build: Path, shards: list[dict[str, Any]]) -> None:
    """Refuse a build whose shard files are not the bytes its manifest recorded (changed or lost after the build):
    a release is made only of what the build wrote."""
    for entry in shards:
        path, recorded = build / entry["file"], entry["sha256"]
        if not path.is_file():
            raise ReleaseError(f"{path}: the shard is missing (the manifest records sha256 {recorded}); rerun the "
                               "build to remake it")
        actual = sha256_file(path)
        if actual != recorded:
            raise ReleaseError(f"{path}: sha256 {actual} differs from the manifest's {recorded} (the shard changed "
                               "after it was built); rerun the build to remake it")


def assemble(build: str | Path, out: str | Path, target_bytes: int = TARGET_FILE_BYTES,
             previous: str | Path | None = None) -> Path:
    """Make the release folder `out` from the finished build `build`; returns `out`."""
    import pyarrow.parquet as pq

    from imagenet_textcorrupt.hierarchy import load_hierarchy

    build, out = Path(build), Path(out)
    manifest_path = build / "manifest.json"
    if not manifest_path.exists():
        raise ReleaseError(f"{build} is not a build folder (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    if not manifest["complete"]:
        done = len(manifest["shards"])
        raise ReleaseError(f"{build}: the build is not complete ({done} of {manifest['shards_total']} shards done)")
    if out.exists() and any(out.iterdir()):
        raise ReleaseError(f"{out} exists and is not empty: a release is never overwritten")
    recipe = json.loads((build / "recipe.json").read_text())
    check_shards(build, manifest["shards"])
    hard, hard_rows = _hard_subset(build)
    from builder.review.evidence import folder_review

    review = folder_review(build, hard_ids=hard["rows"] if hard else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        row_features = features()
        schema = row_features.arrow_schema
        groups = load_hierarchy().group_names
        import pyarrow as pa
        import pyarrow.compute as pc

        writers = {name: _ConfigWriter(staging, name, row_features, target_bytes) for name in groups}
        hard_writer = _ConfigWriter(staging, HARD_CONFIG, row_features, target_bytes) if hard else None
        everything = ConfigStats()  # "all" is the union of the group configs' files: no row is stored twice
        models: Counter = Counter()
        for entry in manifest["shards"]:
            source = pq.ParquetFile(build / entry["file"])
            for batch in source.iter_batches(batch_size=READ_ROWS):
                table = pa.Table.from_batches([batch])
                if not table.schema.equals(schema, check_metadata=False):
                    table = table.cast(schema)
                _count(everything, table)
                models.update(m for m in pc.unique(table.column("model")).to_pylist() if m)
                for group in pc.unique(table.column("group")).to_pylist():
                    part = table.filter(pc.equal(table.column("group"), group))
                    _count(writers[group].stats, part)
                    writers[group].write(part)
                if hard_writer is not None:
                    part = table.filter(pc.is_in(table.column("id"), value_set=hard_rows))
                    if part.num_rows:
                        _count(hard_writer.stats, part)
                        hard_writer.write(part)
        for writer in [*writers.values(), *([hard_writer] if hard_writer else [])]:
            writer.finish(staging)
        stats = {name: w.stats for name, w in writers.items() if w.stats.rows}
        everything.files = [f for s in stats.values() for f in s.files]
        everything.download_bytes = sum(s.download_bytes for s in stats.values())
        stats = {DEFAULT_CONFIG: everything, **stats}
        if hard_writer is not None and hard_writer.stats.rows:
            stats[HARD_CONFIG] = hard_writer.stats
        pins = json.loads((build / "models.json").read_text()) if (build / "models.json").exists() else {}
        release = _release_summary(recipe, manifest, stats, models, pins)
        release["review"] = review
        release["hard"] = {key: hard[key] for key in ("rule", "surrogates", "candidates")} | {
            "edits": len(hard["rows"])} if hard else None
        release[FILE_SHA256] = {name: sha256_file(staging / name) for s in stats.values() for name in s.files}
        if (build / REVIEWS_DIR).is_dir():
            shutil.copytree(build / REVIEWS_DIR, staging / REVIEWS_DIR)
        atomic_write_text(staging / "release.json", json.dumps(release, indent=2, sort_keys=True) + "\n")
        from builder.release.card import LICENSE_FILE, render_card, render_eval_yaml, render_license

        atomic_write_text(staging / "README.md", render_card(release, previous))
        atomic_write_text(staging / LICENSE_FILE, render_license(release))
        atomic_write_text(staging / "eval.yaml", render_eval_yaml(release))
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _hard_subset(build: Path) -> tuple[dict[str, Any] | None, Any]:
    """The build's hard.json, checked against its rows, and the ids of the `hard` config's rows (its edits and
    their originals) as an Arrow array; (None, None) without one."""
    import pyarrow as pa

    from builder.review.hard import load_hard
    from builder.review.folder import open_folder, read_metadata

    if not (build / "hard.json").is_file():
        return None, None
    table = read_metadata(open_folder(build), ["id", "source_id"])
    sources = dict(zip(table.column("id").to_pylist(), table.column("source_id").to_pylist()))
    hard = load_hard(build, sources)
    rows = set(hard["rows"]) | {sources[row_id] for row_id in hard["rows"]}
    return hard, pa.array(sorted(rows), type=pa.string())


def _tally(counter: Counter, column: Any) -> None:
    import pyarrow.compute as pc

    for entry in pc.value_counts(column).to_pylist():
        counter[entry["values"]] += entry["counts"]


def _count(stats: ConfigStats, table: Any) -> None:
    import pyarrow.compute as pc

    stats.rows += table.num_rows
    stats.num_bytes += table.nbytes
    _tally(stats.by_domain, table.column("domain"))
    _tally(stats.by_severity, table.column("severity"))
    _tally(stats.passed, table.filter(table.column("passed_qc")).column("domain") if pc.any(
        table.column("passed_qc")).as_py() else table.column("domain").slice(0, 0))


def _release_summary(recipe: dict[str, Any], manifest: dict[str, Any], stats: dict[str, ConfigStats],
                     models: Counter, pins: dict[str, Any]) -> dict[str, Any]:
    configs = {}
    for name, s in stats.items():
        configs[name] = {"rows": s.rows, "num_bytes": s.num_bytes, "download_bytes": s.download_bytes,
                         "files": s.files, "by_domain": dict(sorted(s.by_domain.items())),
                         "by_severity": {str(k): v for k, v in sorted(s.by_severity.items())},
                         "qc_pass_rate": {d: s.passed[d] / n for d, n in sorted(s.by_domain.items())}}
    return {"name": recipe["name"], "version": recipe["version"], "recipe": recipe, "configs": configs,
            "models": sorted(models), "pinned_models": {role: pin["identity"] for role, pin in sorted(pins.items())},
            "rejects": manifest["rejects"], "libraries": library_versions(RELEASE_LIBRARIES),
            "build_shards": [{"file": e["file"], "sha256": e["sha256"]} for e in manifest["shards"]]}
