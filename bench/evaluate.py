"""Throughput of `imagenet-tc evaluate` (images/s) against a bare loop over the same decoded, preprocessed tensors
with the same model and batch size, measured in the same run; and the decoding throughput of the parquet rows.

The dataset is the miniature release of real photos (tests/photo_release.py) with each photo repeated as further
source images to get a size worth timing. The model has random weights (no network needed): what is measured is
the code path, not the accuracy.

    python bench/evaluate.py [--model timm:resnet50] [--copies 8] [--batch-size 32] [--workers 2] [--device cpu]
                             [--dtype float32] [--size 256] [--format png|jpeg]

Goal: evaluate / bare >= 0.9 when the model dominates. Ends with one line: BENCH {json}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from throughput import images_per_second, throughput  # noqa: E402  (bench/throughput.py, beside this script)


def decode_rate(release: Path) -> dict[str, float]:
    """Rows per second and MB/s of image bytes when reading and decoding every image of the release."""
    import io

    import pyarrow.parquet as pq
    from PIL import Image

    files = sorted(release.glob("data/*/test-*.parquet"))
    start = time.perf_counter()
    rows = nbytes = 0
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(columns=["image"], batch_size=64):
            for cell in batch.column(0).to_pylist():
                Image.open(io.BytesIO(cell["bytes"])).convert("RGB")
                rows += 1
                nbytes += len(cell["bytes"])
    seconds = time.perf_counter() - start
    return {"decode_rows_per_s": rows / seconds, "decode_mb_per_s": nbytes / seconds / 1e6}


def bare_loop(model: str, release: Path, batch_size: int, device: str, dtype: str) -> tuple[float, int]:
    """Images/s of the model alone over tensors decoded and preprocessed beforehand."""
    import torch

    from imagenet_textcorrupt.evaluation import open_rows
    from imagenet_textcorrupt.models import load_classifier

    classifier = load_classifier(model, pretrained=False)
    classifier.module.to(device, getattr(torch, dtype))
    rows = open_rows(str(release), "all", None, streaming=False)
    tensors = torch.stack([classifier.transform(image.convert("RGB")) for image in rows["image"]])

    def step(pixels: Any) -> Any:
        logits = classifier.forward(pixels.to(device, getattr(torch, dtype))).float()
        return logits.softmax(-1).topk(5, dim=-1)[1].cpu()

    return images_per_second(step, tensors, batch_size, device), len(tensors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="timm:resnet50")
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--size", type=int, default=256, help="side of the stored images")
    parser.add_argument("--format", default="png", choices=("png", "jpeg"), help="how the images are stored")
    args = parser.parse_args()

    from imagenet_textcorrupt.evaluation import EvaluationSettings, evaluate
    from photo_release import write_photo_release

    with tempfile.TemporaryDirectory() as tmp:
        release = write_photo_release(Path(tmp) / "release", size=args.size, copies=args.copies,
                                      fmt=args.format)
        decoding = decode_rate(release)
        settings = EvaluationSettings(model=args.model, dataset=str(release), batch_size=args.batch_size,
                                      device=args.device, dtype=args.dtype, workers=args.workers, pretrained=False,
                                      resamples=0)
        evaluate(settings, Path(tmp) / "warmup.json", progress=False)  # the first pass fills the datasets cache
        start = time.perf_counter()
        results = evaluate(settings, Path(tmp) / "results.json", progress=False)
        total_seconds = time.perf_counter() - start
        # the bare loop runs after the warm-up too, twice, and its best rate is the baseline (conservative)
        bare, rows = max(bare_loop(args.model, release, args.batch_size, args.device, args.dtype) for _ in range(2))
    figures = {"model": args.model, "device": args.device, "dtype": args.dtype, "batch_size": args.batch_size,
               "workers": args.workers, "rows": rows, "image_side": args.size, "image_format": args.format,
               **throughput(bare, results.data, rows, total_seconds, args.batch_size, args.device, "bare model loop",
                            "model load, dataset open, metrics and files"),
               **{k: round(v, 1) for k, v in decoding.items()}}
    print(f"decoding parquet rows:    {decoding['decode_rows_per_s']:8.1f} rows/s, "
          f"{decoding['decode_mb_per_s']:.1f} MB/s of {args.format.upper()}")
    print("BENCH " + json.dumps(figures))


if __name__ == "__main__":
    main()
