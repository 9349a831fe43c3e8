"""What the throughput benchmarks of `imagenet-tc evaluate` share (bench/evaluate.py, bench/zero_shot.py): timing a
bare model loop, and the figures and lines of the command against it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def images_per_second(step: Callable[[Any], Any], tensors: Any, batch_size: int, device: str) -> float:
    """Images/s of `step` over `tensors` in batches, after one warm-up batch, synchronised on CUDA."""
    import torch

    with torch.inference_mode():
        step(tensors[:batch_size])  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, len(tensors), batch_size):
            step(tensors[i:i + batch_size])
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return len(tensors) / (time.perf_counter() - start)


def throughput(bare: float, results: Any, rows: int, total_seconds: float, batch_size: int, device: str,
               bare_name: str, included: str) -> dict[str, float]:
    """The figures and lines of `imagenet-tc evaluate` against its bare loop: the inference loop (DataLoader
    included) and the whole command (what `included` says besides)."""
    loop_rate = results["run"]["images_per_second"]
    figures = {"bare_images_per_s": round(bare, 2), "evaluate_loop_images_per_s": round(loop_rate, 2),
               "evaluate_total_images_per_s": round(rows / total_seconds, 2),
               "ratio_loop": round(loop_rate / bare, 3), "ratio_total": round(rows / total_seconds / bare, 3)}
    print(f"{bare_name + ':':<26}{bare:8.1f} img/s ({rows} rows, batch {batch_size}, {device})")
    print(f"evaluate, inference loop: {loop_rate:8.1f} img/s  ratio {figures['ratio_loop']:.3f}")
    print(f"evaluate, whole command:  {rows / total_seconds:8.1f} img/s  ratio {figures['ratio_total']:.3f} "
          f"({included} included)")
    return figures
