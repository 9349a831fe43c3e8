"""The hard subset: edits that pass QC and that a majority of surrogate classifiers get wrong.

    python -m builder hard BUILD --models timm:tf_efficientnet_lite0,timm:tf_efficientnet_lite1 \
        [--checkpoint timm:tf_efficientnet_lite0=lite0.safetensors ...]

ImageNet-D's idea (a subset that fools a surrogate ensemble) without its flaw: an edit can be hard because its label
is gone, so the release states the reviewed label-keeping rate on the subset beside its size and surrogates (from
`python -m builder review`). A row is hard when it is a text-guided edit with `passed_qc` and more than half of
the surrogates' top-1 predictions (1000-way) differ from its label; with two surrogates both must be wrong.

Writes `BUILD/hard.json` atomically (the sha256 of the build shards it read, surrogates, rule, candidates, the hard
row ids and every candidate's predictions); `release` refuses one made from other shards, and adds a `hard` config with those edits and their originals.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.checksums import sha256_file

from builder.review.folder import ReviewError, is_text_guided, open_folder

HARD_FILE = "hard.json"
READ_ROWS = 64


def is_hard(predictions: Sequence[int], label: int) -> bool:
    """More than half of the surrogates' top-1 predictions are not the label."""
    wrong = sum(p != label for p in predictions)
    return 2 * wrong > len(predictions)


def _candidate_batches(folder: Any, batch_rows: int = READ_ROWS) -> Any:
    """(ids, labels, PIL images) of the build's text-guided edits that passed QC, in batches."""
    import io

    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from PIL import Image

    for path in folder.files:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=batch_rows,
                                          columns=["id", "label", "domain", "passed_qc", "image"]):
            keep = pc.and_(batch.column("passed_qc"),
                           pc.is_in(batch.column("domain"), value_set=_text_guided(batch.column("domain"))))
            chosen = batch.filter(keep)
            if chosen.num_rows:
                images = [Image.open(io.BytesIO(image["bytes"])).convert("RGB")
                          for image in chosen.column("image").to_pylist()]
                yield chosen.column("id").to_pylist(), chosen.column("label").to_pylist(), images


def _text_guided(domains: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa.array([d for d in pc.unique(domains).to_pylist() if is_text_guided(d)], type=pa.string())


def find_hard(build: str | Path, models: Sequence[str], checkpoints: Mapping[str, str] | None = None,
              device: str = "cpu", progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Score the build's QC-passing edits with every surrogate and write `hard.json`; returns its content."""
    import torch
    from tqdm import tqdm

    from imagenet_textcorrupt.models import load_classifier

    build = Path(build)
    folder = open_folder(build)
    if folder.kind != "build":
        raise ReviewError(f"{build}: `hard` adds a config to a build (then `release` writes it); this is a release")
    if not models:
        raise ReviewError("--models: name at least one surrogate classifier (timm:NAME, hf:ID, ...)")
    checkpoints = dict(checkpoints or {})
    unknown = sorted(set(checkpoints) - set(models))
    if unknown:
        raise ReviewError(f"--checkpoint names {', '.join(unknown)}, which is not in --models ({', '.join(models)})")
    classifiers = [load_classifier(spec, checkpoint=checkpoints.get(spec)) for spec in models]
    for classifier in classifiers:
        classifier.module.to(device)
    predictions: dict[str, list[int]] = {}
    labels: dict[str, int] = {}
    total = _count_candidates(folder)
    bar = tqdm(total=total, unit="edit", desc="surrogates", disable=not progress, dynamic_ncols=True)
    with torch.inference_mode():
        for ids, batch_labels, images in _candidate_batches(folder):
            tops = []
            for classifier in classifiers:
                pixels = torch.stack([classifier.transform(image) for image in images]).to(device)
                tops.append(classifier.forward(pixels).argmax(-1).cpu().tolist())
            for i, row_id in enumerate(ids):
                predictions[row_id] = [top[i] for top in tops]
                labels[row_id] = int(batch_labels[i])
            bar.update(len(ids))
    bar.close()
    hard = [row_id for row_id, predicted in predictions.items() if is_hard(predicted, labels[row_id])]
    surrogates = [{"model": spec, "checkpoint": {"file": Path(checkpoints[spec]).name,
                                                 "sha256": sha256_file(checkpoints[spec])} if spec in checkpoints
                   else None, "accuracy": _accuracy(predictions, labels, index)}
                  for index, spec in enumerate(models)]
    manifest = json.loads((build / "manifest.json").read_text())
    content = {"build_shards": [entry["sha256"] for entry in manifest["shards"]],
               "rule": f"passed_qc text-guided edits that more than half of the {len(models)} surrogates "
                       "classify wrongly (top-1, 1000-way)",
               "surrogates": surrogates, "candidates": len(predictions), "rows": sorted(hard),
               "predictions": {row_id: predictions[row_id] for row_id in sorted(predictions)}}
    atomic_write_text(build / HARD_FILE, json.dumps(content, indent=1) + "\n")
    accuracies = ", ".join(f"{s['model']} top-1 {s['accuracy']:.1%}" for s in surrogates)
    log(f"{build / HARD_FILE}: {len(hard)} of {len(predictions)} QC-passing edits are hard ({accuracies})")
    return content


def _count_candidates(folder: Any) -> int:
    import pyarrow.compute as pc

    from builder.review.folder import read_metadata

    table = read_metadata(folder, ["domain", "passed_qc"])
    keep = pc.and_(table.column("passed_qc"), pc.is_in(table.column("domain"),
                                                       value_set=_text_guided(table.column("domain"))))
    return int(pc.sum(keep.cast("int64")).as_py() or 0)


def _accuracy(predictions: Mapping[str, list[int]], labels: Mapping[str, int], index: int) -> float:
    if not predictions:
        return 0.0
    return sum(p[index] == labels[row_id] for row_id, p in predictions.items()) / len(predictions)


def load_hard(build: Path, known_ids: Any) -> dict[str, Any] | None:
    """`hard.json` of a build, checked against its rows; None when the build has none."""
    path = build / HARD_FILE
    if not path.is_file():
        return None
    content = json.loads(path.read_text())
    shards = [entry["sha256"] for entry in json.loads((build / "manifest.json").read_text())["shards"]]
    if content.get("build_shards") != shards:
        raise ReviewError(f"{path} was made from other build shards than the build's (rebuilt since?): rerun "
                          "python -m builder hard")
    missing = [row_id for row_id in content.get("rows", []) if row_id not in known_ids]
    if missing:
        raise ReviewError(f"{path}: rows not in the build: {', '.join(missing[:5])} (rerun python -m builder hard)")
    return content
