"""The rows of a build folder or a release folder, as review reads them: where the data files are, the edit rows'
metadata (no pixels), and the images of a few rows by id.

A build is recognised by its `manifest.json` (it must be complete: a growing build would change the sample), a
release by its `release.json` (the files of its `all` config: every row once, whatever other configs repeat).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS, DEFAULT_CONFIG, ORIGINAL_DOMAIN

# what the review page, its statistics and the hard subset read of a row: everything but the pixels
METADATA_COLUMNS = ("id", "source_id", "label", "wnid", "group", "domain", "template", "prompt", "source_prompt",
                    "severity", "passed_qc", "clip_label_rank", "clip_label_prob", "clip_edit_direction", "ssim")


class ReviewError(ImageNetTCError):
    """A folder, sample or verdict file that review cannot use."""


@dataclass(frozen=True)
class RowFolder:
    root: Path
    kind: str  # "build" or "release"
    files: tuple[Path, ...]


def open_folder(path: str | Path) -> RowFolder:
    """The build or release folder at `path`, with its data files; a clear error for anything else."""
    root = Path(path)
    if (root / "manifest.json").is_file():
        manifest = json.loads((root / "manifest.json").read_text())
        if not manifest.get("complete"):
            raise ReviewError(f"{root}: the build is not complete ({len(manifest.get('shards', []))} of "
                              f"{manifest.get('shards_total', '?')} shards done); review a finished build, so that "
                              "every reviewer is offered the same sample")
        files = tuple(root / entry["file"] for entry in manifest["shards"])
        kind = "build"
    elif (root / "release.json").is_file():
        release = json.loads((root / "release.json").read_text())
        files = tuple(root / name for name in release["configs"][DEFAULT_CONFIG]["files"])
        kind = "release"
    elif root.is_dir():
        raise ReviewError(f"{root} is neither a build folder (no manifest.json) nor a release folder "
                          "(no release.json)")
    else:
        raise ReviewError(f"{root}: no such folder")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ReviewError(f"{root}: data files missing: {', '.join(missing[:3])}"
                          + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""))
    return RowFolder(root, kind, files)


def is_text_guided(domain: str) -> bool:
    """The rows review is about: text-guided edits (not originals, not ImageNet-C's algorithmic corruptions)."""
    return domain != ORIGINAL_DOMAIN and domain not in CORRUPTION_DOMAINS


def read_metadata(folder: RowFolder, columns: Iterable[str] = METADATA_COLUMNS) -> Any:
    """Every row's metadata as one pyarrow table (no image column: a release's pixels stay on disk)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(columns)
    tables = [pq.read_table(f, columns=columns) for f in folder.files]
    if not tables:
        raise ReviewError(f"{folder.root}: the {folder.kind} has no data files")
    return pa.concat_tables(tables)


def read_images(folder: RowFolder, ids: Iterable[str]) -> dict[str, bytes]:
    """The encoded image bytes of the rows `ids`. Only the row groups that hold one of them are read."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    wanted = set(ids)
    value_set = _string_array(wanted)
    found: dict[str, bytes] = {}
    for path in folder.files:
        parquet = pq.ParquetFile(path)
        for group in range(parquet.metadata.num_row_groups):
            if len(found) == len(wanted):
                return found
            row_ids = parquet.read_row_group(group, columns=["id"]).column("id")
            hits = pc.is_in(row_ids, value_set=value_set)
            if not pc.any(hits).as_py():
                continue
            table = parquet.read_row_group(group, columns=["id", "image"]).filter(hits)
            for row_id, image in zip(table.column("id").to_pylist(), table.column("image").to_pylist()):
                found[row_id] = image["bytes"]
    missing = wanted - set(found)
    if missing:
        raise ReviewError(f"{folder.root}: rows not found: {', '.join(sorted(missing)[:5])}")
    return found


def _string_array(values: Iterable[str]) -> Any:
    import pyarrow as pa

    return pa.array(sorted(values), type=pa.string())
