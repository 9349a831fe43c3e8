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

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


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
    with torch.inference_mode():
        classifier.forward(tensors[:batch_size].to(device, getattr(torch, dtype)))  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, len(tensors), batch_size):
            logits = classifier.forward(tensors[i:i + batch_size].to(device, getattr(torch, dtype))).float()
            logits.softmax(-1).topk(5, dim=-1)[1].cpu()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return len(tensors) / (time.perf_counter() - start), len(tensors)


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
    loop_rate = results["run"]["images_per_second"]  # the inference loop, DataLoader included
    figures = {
        "model": args.model, "device": args.device, "dtype": args.dtype, "batch_size": args.batch_size,
        "workers": args.workers, "rows": rows, "image_side": args.size, "image_format": args.format,
        "bare_images_per_s": round(bare, 2), "evaluate_loop_images_per_s": round(loop_rate, 2),
        "evaluate_total_images_per_s": round(rows / total_seconds, 2),
        "ratio_loop": round(loop_rate / bare, 3), "ratio_total": round(rows / total_seconds / bare, 3),
        **{k: round(v, 1) for k, v in decoding.items()},
    }
    print(f"bare model loop:          {bare:8.1f} img/s ({rows} rows, batch {args.batch_size}, {args.device})")
    print(f"evaluate, inference loop: {loop_rate:8.1f} img/s  ratio {figures['ratio_loop']:.3f}")
    print(f"evaluate, whole command:  {rows / total_seconds:8.1f} img/s  ratio {figures['ratio_total']:.3f} "
          f"(model load, dataset open, metrics and files included)")
    print(f"decoding parquet rows:    {decoding['decode_rows_per_s']:8.1f} rows/s, "
          f"{decoding['decode_mb_per_s']:.1f} MB/s of {args.format.upper()}")
    print("BENCH " + json.dumps(figures))


if __name__ == "__main__":
    main()
