"""Results files as `imagenet-tc evaluate` writes them, for models whose predictions are drawn at a chosen accuracy
(no model runs): predictions file, metrics computed from it, provenance in the results JSON."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from imagenet_textcorrupt.results import (FORMAT_VERSION, RESULTS_FORMAT, metrics_from_predictions, predictions_path,
                                          write_predictions, write_results)

SHA_A = "a" * 40
SHA_B = "b" * 40


def make_records(clean: float, edited: float, sources: int = 20, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    records = []
    for s in range(sources):
        label = int(rng.integers(0, 1000))
        rows = [("original", 0, "")] + [(d, sev, f"{d} template") for d in ("drawing", "weather") for sev in (1, 2)]
        for domain, severity, template in rows:
            right = rng.random() < (clean if domain == "original" else edited)
            top1 = label if right else (label + 1 + int(rng.integers(0, 5))) % 1000
            top5 = [top1] + [(top1 + k) % 1000 for k in range(1, 5)]
            row_id = f"src{s:03d}" + ("" if domain == "original" else f"-{domain}-p000-s{severity}")
            records.append({"id": row_id, "source_id": f"src{s:03d}", "label": label, "domain": domain,
                            "severity": severity, "group": "animals", "template": template, "top5": top5,
                            "top5_probs": [0.5, 0.2, 0.1, 0.1, 0.05], "top5_config": top5})
    return records


def write_results_file(folder: Path, model: str = "timm:resnet50", family: str = "cnn", clean: float = 0.8,
                       edited: float = 0.6, dataset: str = "org/imagenet-tc", sha: str | None = SHA_A,
                       config: str = "all", created: str = "2026-11-01T00:00:00Z", seed: int = 0,
                       pretrained: bool = True, revision: str = "v1.0.0", name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    records = make_records(clean, edited, seed=seed)
    path = folder / (name or re.sub(r"[^\w.-]+", "_", f"{model}-{config}-{created}") + ".json")
    write_predictions(predictions_path(path), records)
    import hashlib

    results = {
        "format": RESULTS_FORMAT, "format_version": FORMAT_VERSION, "created": created,
        "dataset": {"id": dataset, "config": config, "split": "test", "revision": revision, "sha": sha,
                    "version": "1.0.0", "fingerprint": None, "rows": len(records)},
        "model": {"id": model, "source": "timm", "name": model.split(":")[-1], "revision": None,
                  "pretrained": pretrained, "checkpoint": None, "family": family, "parameters": 25_557_032},
        "preprocessing": {"library": "timm", "input_size": [3, 224, 224]},
        "run": {"batch_size": 64, "device": "cuda", "dtype": "float32", "limit": None, "streaming": False},
        "versions": {"imagenet-textcorrupt": "0.1.0", "numpy": np.__version__},
        "predictions": {"file": predictions_path(path).name,
                        "sha256": hashlib.sha256(predictions_path(path).read_bytes()).hexdigest(),
                        "rows": len(records)},
        "metrics": metrics_from_predictions(records, resamples=100, seed=0),
    }
    write_results(path, results)
    return path
