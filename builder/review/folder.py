"""The rows of a build folder or a release folder, as review reads them: where the data files are, the edit rows'
metadata (no pixels), and the images of a few rows by id.

A build is recognised by its `manifest.json` (it must be complete: a growing build would change the sample), a
release by its `release.json` (the files of its `all` config: every row once, whatever other configs repeat).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.results.format import shown
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
        index = root / "manifest.json"
        manifest = _expect(_read_json(index), dict, index, "(top level)")
        if not manifest.get("complete"):
            shards = manifest.get("shards")
            raise ReviewError(f"{root}: the build is not complete ({len(shards) if isinstance(shards, list) else 0} "
                              f"of {shown(manifest.get('shards_total', '?'))} shards done); review a finished build, "
                              "so that every reviewer is offered the same sample")
        shards = _expect(manifest.get("shards"), list, index, "shards")
        entries = [_expect(entry, dict, index, f"shards[{i}]") for i, entry in enumerate(shards)]
        files = tuple(_data_file(root, index, f"shards[{i}].file", entry.get("file"))
                      for i, entry in enumerate(entries))
        kind = "build"
    elif (root / "release.json").is_file():
        index = root / "release.json"
        where = f"configs.{DEFAULT_CONFIG}"
        release = _expect(_read_json(index), dict, index, "(top level)")
        config = _expect(_expect(release.get("configs"), dict, index, "configs").get(DEFAULT_CONFIG), dict, index,
                         where)
        names = _expect(config.get("files"), list, index, f"{where}.files")
        files = tuple(_data_file(root, index, f"{where}.files[{i}]", name) for i, name in enumerate(names))
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


def _read_json(path: Path) -> Any:
    """The JSON of a folder's index file; a ReviewError naming it when it is not JSON (or not UTF-8)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ReviewError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise ReviewError(f"{path}: cannot be read ({error.strerror or error})") from None
    except RecursionError:
        raise ReviewError(f"{path}: not valid JSON (nested too deeply)") from None
    except ValueError as error:
        raise ReviewError(f"{path}: not valid JSON ({error})") from None


def _expect(value: Any, kind: type, file: Path, where: str) -> Any:
    """`value` when it is of `kind` (dict or list); else a ReviewError naming the file and the field."""
    if not isinstance(value, kind):
        raise ReviewError(f"{file}: {where} is {shown(value)}, expected {'a list' if kind is list else 'an object'}")
    return value


def _data_file(root: Path, index: Path, where: str, name: Any) -> Path:
    """A data file named in a folder's index: a relative path inside the folder, never one that leaves it."""
    path = PurePosixPath(name) if isinstance(name, str) and name.strip() and "\0" not in name else None
    if path is None or path.is_absolute() or ".." in path.parts:
        raise ReviewError(f"{index}: {where} is {shown(name)}, expected the name of a file inside {root}")
    return root / name


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
