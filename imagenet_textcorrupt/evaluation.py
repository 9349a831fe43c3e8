"""Scoring a classifier on one config of ImageNet-TC: `imagenet-tc evaluate`.

The dataset (a Hub id at a revision, or a local release folder) is read through `datasets` as an iterable of rows,
decoded and preprocessed in DataLoader workers with the model's own preprocessing (the same for originals and
edits), classified in batches, and reduced to the top-5 classes over all 1000 outputs and over the config's
classes only. Predictions are written next to the results so any metric can be recomputed without the model.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.checksums import update_with_file
from imagenet_textcorrupt.classes import NUM_CLASSES
from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.hub import card_metadata, resolve_commit
from imagenet_textcorrupt.provenance import library_versions, utc_timestamp
from imagenet_textcorrupt.results import (FORMAT_VERSION, RESULTS_FORMAT, Results, metrics_from_predictions,
                                          predictions_path, write_predictions, write_results)
from imagenet_textcorrupt.schema import DEFAULT_CONFIG, DOMAINS, HARD_CONFIG, ORIGINAL_DOMAIN, SPLIT

DTYPES = ("float32", "float16", "bfloat16")
# what a run scores: our paired metrics always; "study" adds the source study's figures (study_protocol.py)
PROTOCOLS = ("paired", "study")
META_COLUMNS = ("id", "source_id", "label", "domain", "severity", "group", "template")
TOP_K = 5


class EvaluationError(ImageNetTCError):
    """The dataset, the settings or the run cannot produce results."""


@dataclass
class EvaluationSettings:
    model: str
    dataset: str
    config: str = DEFAULT_CONFIG
    revision: str | None = None
    batch_size: int = 64
    device: str | None = None  # cuda when available, else cpu
    dtype: str = "float32"
    limit: int | None = None  # the first N source images, each with all its edits
    streaming: bool = False
    workers: int | None = None  # DataLoader workers; default min(8, CPUs)
    pretrained: bool = True
    checkpoint: str | None = None
    family: str | None = None  # override the architecture family the reports show
    resamples: int | None = None  # bootstrap resamples (default metrics.DEFAULT_RESAMPLES)
    seed: int = 0
    protocol: str = "paired"  # "study": also the source study's figures, under the results' "study_protocol"


def config_classes(config: str) -> list[int]:
    """The class indices of a config: its group's members, or all 1000 for "all" and "hard"."""
    from imagenet_textcorrupt.hierarchy import load_hierarchy

    hierarchy = load_hierarchy()
    if config in (DEFAULT_CONFIG, HARD_CONFIG):
        return list(range(NUM_CLASSES))
    group = hierarchy.group(config)  # an unknown name raises UnknownNameError with suggestions
    return sorted(c.index for c in hierarchy.members(group.name))


# ------------------------------------------------------------------------------------------------------ dataset
def _is_local(dataset: str) -> bool:
    return Path(dataset).is_dir()


def dataset_provenance(dataset: str, config: str, revision: str | None) -> dict[str, Any]:
    """Where the rows come from: for the Hub the commit sha the revision resolves to; for a local release folder
    its version and the name of the recipe it was built from (release.json) and a sha256 over the config's data
    files."""
    info: dict[str, Any] = {"id": dataset, "config": config, "split": SPLIT, "revision": revision, "sha": None,
                            "version": None, "fingerprint": None, "recipe": None}
    if _is_local(dataset):
        root = Path(dataset)
        info["id"] = str(root.resolve())
        release = root / "release.json"
        if release.is_file():
            import json

            content = json.loads(release.read_text())
            info["version"] = content.get("version")
            info["recipe"] = release_recipe(content)
        digest = hashlib.sha256()
        for file in map(Path, local_data_files(root, config)):
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            update_with_file(digest, file)
        info["fingerprint"] = "sha256:" + digest.hexdigest()
        return info
    try:
        info["sha"] = resolve_commit(dataset, revision, "dataset", trust_sha=False)
    except Exception as error:  # noqa: BLE001 - offline, gated or missing: the load itself will say more
        info["sha_error"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return info


def release_recipe(release: Any) -> str | None:
    """The name of the recipe a release was built from, as its release.json records it (the recipe's own `name`,
    else the release's); None when it says nothing."""
    if not isinstance(release, dict):
        return None
    recipe = release.get("recipe")
    name = recipe.get("name") if isinstance(recipe, dict) else None
    name = name if isinstance(name, str) else release.get("name")
    return name if isinstance(name, str) and name else None


def local_data_files(root: Path, config: str) -> list[str]:
    """The data files of one config of a local release folder, from its card's `configs` (the Hub layout's
    `data/<config>/test-*.parquet` when the card has none)."""
    patterns = None
    readme = root / "README.md"
    if readme.is_file():
        header = card_metadata(readme)
        if header is not None:
            for entry in header.get("configs") or []:
                if entry.get("config_name") == config:
                    files = entry.get("data_files")
                    files = [files] if isinstance(files, (str, dict)) else files
                    patterns = [f["path"] if isinstance(f, dict) else f for f in files
                                if not isinstance(f, dict) or f.get("split", SPLIT) == SPLIT]
                    patterns = [p for group in patterns for p in ([group] if isinstance(group, str) else group)]
    if patterns is None:
        patterns = [f"data/*/{SPLIT}-*.parquet" if config == DEFAULT_CONFIG else f"data/{config}/{SPLIT}-*.parquet"]
    files = sorted({str(path) for pattern in patterns for path in root.glob(pattern)})
    if not files:
        raise EvaluationError(f"--dataset {root}: no data files for config {config!r} "
                              f"(looked for {', '.join(patterns)})")
    return files


def open_rows(dataset: str, config: str, revision: str | None, streaming: bool) -> Any:
    """The config's test split as a `datasets` dataset (an IterableDataset when streaming).

    A local folder is read through the parquet builder with the config's files listed explicitly: `datasets`
    caches a folder loaded by path under a key that ignores which files it holds, so a second release folder of
    the same name would be served from the first one's cache."""
    from datasets import load_dataset

    from imagenet_textcorrupt.schema import features

    if _is_local(dataset):
        if revision is not None:
            raise EvaluationError(f"--revision {revision}: {dataset} is a local folder, which has no revisions "
                                  f"(its release.json version and a fingerprint of its files are recorded)")
        files = local_data_files(Path(dataset), config)
        return load_dataset("parquet", data_files={SPLIT: files}, split=SPLIT, streaming=streaming,
                            features=features())
    try:
        return load_dataset(dataset, config, revision=revision, split=SPLIT, streaming=streaming)
    except ValueError as error:
        if "BuilderConfig" in str(error) or "config" in str(error).lower():
            raise EvaluationError(f"--config {config!r}: {error}") from None
        raise EvaluationError(f"--dataset {dataset!r}: {error}") from None
    except Exception as error:  # noqa: BLE001 - missing, gated, offline: say which of them it was
        from imagenet_textcorrupt.hub import gated_message, gated_status

        status = gated_status(error)
        if status is not None:
            raise EvaluationError(f"--dataset {gated_message(dataset, status)}") from None
        first = str(error).splitlines()[0] if str(error) else ""
        raise EvaluationError(f"--dataset {dataset!r}: not a folder here, and loading it from the Hub failed "
                              f"({type(error).__name__}: {first})") from None


def _first_sources(rows: Any, limit: int) -> Any:
    """The rows of the first `limit` source images (in file order), with all their edits."""
    chosen: set[str] = set()
    if hasattr(rows, "select"):  # an Arrow dataset: choose by the source_id column without decoding images
        keep = []
        for index, source in enumerate(rows["source_id"]):
            if source not in chosen and len(chosen) < limit:
                chosen.add(source)
            if source in chosen:
                keep.append(index)
        return rows.select(keep)
    # streaming: a release keeps the rows of a source image together, so the wanted rows are the first ones, up
    # to the first row of the source image after the last one wanted
    count = 0
    for row in rows.select_columns(["source_id"]):
        if row["source_id"] not in chosen:
            if len(chosen) == limit:
                break
            chosen.add(row["source_id"])
        count += 1
    return rows.take(count)


class _Preprocessed:
    """Rows -> (pixel tensor, metadata); runs inside DataLoader workers."""

    def __init__(self, transform: Any):
        self.transform = transform

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        image = row.pop("image")
        row["pixel_values"] = self.transform(image.convert("RGB"))
        return row


def _collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {"pixel_values": torch.stack([b["pixel_values"] for b in batch])}
    for key in META_COLUMNS:
        out[key] = [b[key] for b in batch]
    return out


def _loader(rows: Any, transform: Any, batch_size: int, workers: int) -> Any:
    import torch

    if not hasattr(rows, "n_shards"):  # an Arrow dataset: iterate it in shards so that workers share the work
        rows = rows.to_iterable_dataset(num_shards=max(1, min(workers, len(rows))))
    workers = min(workers, rows.n_shards)
    keep = ["image", *META_COLUMNS]
    rows = rows.select_columns(keep).map(_Preprocessed(transform))
    return torch.utils.data.DataLoader(rows, batch_size=batch_size, num_workers=workers, collate_fn=_collate,
                                       persistent_workers=False, prefetch_factor=4 if workers else None)


# ---------------------------------------------------------------------------------------------------- inference
def predict(classifier: Any, batches: Any, allowed: list[int], device: str, dtype: str, total: int | None = None,
            progress: bool = True) -> Iterator[dict[str, Any]]:
    """Prediction records for every row of `batches`: top-5 over all outputs with probabilities, and the top
    classes among `allowed` only."""
    import torch
    from tqdm import tqdm

    torch_dtype = getattr(torch, dtype)
    mask = torch.full((NUM_CLASSES,), float("-inf"), device=device)
    mask[torch.tensor(allowed, device=device)] = 0.0
    k_config = min(TOP_K, len(allowed))
    bar = tqdm(total=total, unit="img", desc="evaluate", disable=not progress, dynamic_ncols=True)
    with torch.inference_mode():
        for batch in batches:
            pixels = batch["pixel_values"].to(device, torch_dtype, non_blocking=True)
            logits = classifier.forward(pixels).float()
            probs, top5 = logits.softmax(-1).topk(TOP_K, dim=-1)
            top_config = (logits + mask).topk(k_config, dim=-1).indices
            probs, top5, top_config = probs.cpu().tolist(), top5.cpu().tolist(), top_config.cpu().tolist()
            for i in range(len(top5)):
                record = {key: batch[key][i] for key in META_COLUMNS}
                record["label"] = int(record["label"])
                record["severity"] = int(record["severity"])
                record.update(top5=top5[i], top5_probs=[round(p, 6) for p in probs[i]], top5_config=top_config[i])
                yield record
            bar.update(len(top5))
    bar.close()


def _count_rows(rows: Any) -> int | None:
    try:
        return len(rows)
    except TypeError:  # streaming
        return None


def evaluate(settings: EvaluationSettings, output: str | Path, progress: bool = True) -> Results:
    """Runs the evaluation and writes the results JSON and its predictions file; returns the results."""
    import torch

    from imagenet_textcorrupt.models import load_classifier

    if settings.dtype not in DTYPES:
        raise EvaluationError(f"--dtype {settings.dtype!r}: choose one of {', '.join(DTYPES)}")
    if settings.batch_size < 1:
        raise EvaluationError(f"--batch-size must be at least 1, got {settings.batch_size}")
    if settings.limit is not None and settings.limit < 1:
        raise EvaluationError(f"--limit must be at least 1 source image, got {settings.limit}")
    if settings.resamples is not None and settings.resamples < 0:
        raise EvaluationError(f"--resamples must be 0 (no intervals) or more, got {settings.resamples}")
    if settings.protocol not in PROTOCOLS:
        raise EvaluationError(f"--protocol {settings.protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    output = Path(output)
    if output.suffix != ".json":
        raise EvaluationError(f"--output {output}: the results file is JSON (name it *.json)")
    try:  # before hours of inference, not after
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EvaluationError(f"--output {output}: cannot create its folder ({error.strerror})") from None
    if not os.access(output.parent, os.W_OK):
        raise EvaluationError(f"--output {output}: its folder is not writable")
    device = settings.device or ("cuda" if torch.cuda.is_available() else "cpu")
    workers = settings.workers if settings.workers is not None else min(8, os.cpu_count() or 1)
    allowed = config_classes(settings.config)

    classifier = load_classifier(settings.model, settings.pretrained, settings.checkpoint, settings.family)
    classifier.module.to(device, getattr(torch, settings.dtype))
    provenance = dataset_provenance(settings.dataset, settings.config, settings.revision)
    rows = open_rows(settings.dataset, settings.config, settings.revision, settings.streaming)
    missing = [c for c in ("image", *META_COLUMNS) if c not in (rows.column_names or [])]
    if missing:
        raise EvaluationError(f"--dataset {settings.dataset!r} config {settings.config!r} has no column "
                              f"{', '.join(missing)}: not an ImageNet-TC release")
    if settings.limit:
        rows = _first_sources(rows, settings.limit)
        if settings.streaming:  # the first rows of the stream, which workers splitting its files cannot share
            workers = min(workers, 1)
    total = _count_rows(rows)
    classifier.prepare(progress)  # a zero-shot model's class embeddings, once the rows are known to be readable

    start = time.perf_counter()
    records = list(predict(classifier, _loader(rows, classifier.transform, settings.batch_size, workers), allowed,
                           device, settings.dtype, total, progress))
    seconds = time.perf_counter() - start
    if not records:
        raise EvaluationError(f"--dataset {settings.dataset!r} config {settings.config!r}: no rows to score")
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        raise EvaluationError(f"--dataset {settings.dataset!r}: row ids repeat; the release is corrupt "
                              f"(python -m builder validate finds out where)")

    if not any(r["domain"] in DOMAINS for r in records):  # the headline figures are the text-guided edits'
        only = "only originals" if all(r["domain"] == ORIGINAL_DOMAIN for r in records) else \
            "only originals and ImageNet-C rows"
        raise EvaluationError(f"--dataset {settings.dataset!r} config {settings.config!r} has no text-guided edits, "
                              f"{only}: there is no robustness to score")
    metrics = metrics_from_predictions(records, settings.resamples, settings.seed)
    predictions_file = predictions_path(output)
    digest = write_predictions(predictions_file, records)
    provenance["rows"] = len(records)
    results = {
        "format": RESULTS_FORMAT,
        "format_version": FORMAT_VERSION,
        "created": utc_timestamp(),
        "dataset": provenance,
        "model": classifier.describe(),
        "preprocessing": classifier.preprocessing,
        "run": {"batch_size": settings.batch_size, "device": device, "dtype": settings.dtype,
                "limit": settings.limit, "streaming": settings.streaming, "workers": workers,
                "seconds": round(seconds, 3), "images_per_second": round(len(records) / seconds, 2)},
        "versions": library_versions(),
        "predictions": {"file": predictions_file.name, "sha256": digest, "rows": len(records)},
        "metrics": metrics,
    }
    if settings.protocol == "study":
        from imagenet_textcorrupt.study_protocol import study_figures

        results["study_protocol"] = study_figures(records, metrics["bootstrap"]["resamples"], settings.seed)
    parsed = Results.parse(results, str(output))  # checked before it is written
    write_results(output, results)
    return parsed
