"""Throughput of `imagenet-tc evaluate --model clip:...` (images/s) against a bare loop of the same CLIP model
(image tower, normalise, product with the class embeddings) over the same decoded, preprocessed tensors, measured
in the same run; and what the class-embedding cache saves (the 80,000 texts of CLIP's 80 templates x 1000 names
through the text tower, against reading them back).

The model is a CLIP of ViT-B/32's layout (224 px, 32 px patches, a causal text transformer of 77 tokens, CLIP's
real tokenizer) with random weights: by default ViT-B/32's image tower (768 wide, 12 layers: what evaluation runs
per image) and a narrower, shallower text tower (run once per model, then cached) so that a CPU run takes a few
minutes; --text-width 512 --text-layers 12 gives ViT-B/32's text tower too. The dataset is the miniature release of real photos
(tests/photo_release.py), each photo repeated as further source images.

    python bench/zero_shot.py [--copies 8] [--batch-size 32] [--workers 2] [--device cpu] [--dtype float32]
                              [--width 768] [--layers 12] [--text-width 256] [--text-layers 4]

Goal: evaluate / bare >= 0.9 when the model dominates. Ends with one line: BENCH {json}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from throughput import images_per_second, throughput  # noqa: E402  (bench/throughput.py, beside this script)


def save_clip(folder: Path, width: int, layers: int, text_width: int, text_layers: int) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from clip_models import BOS, EOS, VOCAB_SIZE, clip_tokenizer

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=VOCAB_SIZE, hidden_size=text_width, intermediate_size=4 * text_width,
                         num_hidden_layers=text_layers, num_attention_heads=max(1, text_width // 64),
                         max_position_embeddings=77, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=EOS),
        vision_config=dict(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers,
                           num_attention_heads=max(1, width // 64), image_size=224, patch_size=32),
        projection_dim=min(512, text_width))
    CLIPModel(config).eval().save_pretrained(folder)
    clip_tokenizer().save_pretrained(folder)
    CLIPImageProcessor().save_pretrained(folder)  # CLIP's own: resize to 224, centre crop 224, CLIP's mean and std
    return folder


def bare_loop(folder: Path, release: Path, embeddings, batch_size: int, device: str, dtype: str) -> tuple[float, int]:
    """Images/s of the CLIP image tower and the class product alone, over tensors preprocessed beforehand."""
    import torch
    from transformers import CLIPImageProcessor, CLIPModel

    from imagenet_textcorrupt.evaluation import open_rows

    torch_dtype = getattr(torch, dtype)
    model = CLIPModel.from_pretrained(folder).eval().to(device, torch_dtype)
    processor = CLIPImageProcessor.from_pretrained(folder)
    rows = open_rows(str(release), "all", None, streaming=False)
    tensors = processor(images=[image.convert("RGB") for image in rows["image"]], return_tensors="pt")["pixel_values"]
    weights = embeddings.to(device, torch.float32)

    def step(pixels):
        features = model.get_image_features(pixel_values=pixels.to(device, torch_dtype))
        features = getattr(features, "pooler_output", features).float()
        logits = 100.0 * torch.nn.functional.normalize(features, dim=-1) @ weights.T
        return logits.softmax(-1).topk(5, dim=-1)[1].cpu()

    return images_per_second(step, tensors, batch_size, device), len(tensors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--width", type=int, default=768, help="image tower width (ViT-B/32: 768)")
    parser.add_argument("--layers", type=int, default=12, help="image tower depth (ViT-B/32: 12)")
    parser.add_argument("--text-width", type=int, default=256, help="text tower width (ViT-B/32: 512)")
    parser.add_argument("--text-layers", type=int, default=4, help="text tower depth (ViT-B/32: 12)")
    args = parser.parse_args()

    from safetensors.torch import load_file

    from imagenet_textcorrupt.evaluation import EvaluationSettings, evaluate
    from photo_release import write_photo_release

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["IMAGENET_TC_CACHE"] = str(Path(tmp) / "cache")
        folder = save_clip(Path(tmp) / "clip", args.width, args.layers, args.text_width, args.text_layers)
        release = write_photo_release(Path(tmp) / "release", copies=args.copies)
        settings = EvaluationSettings(model=f"clip:{folder}", dataset=str(release), batch_size=args.batch_size,
                                      device=args.device, dtype=args.dtype, workers=args.workers, resamples=0)
        cold = evaluate(settings, Path(tmp) / "cold.json", progress=False)  # computes the class embeddings
        start = time.perf_counter()
        warm = evaluate(settings, Path(tmp) / "warm.json", progress=False)  # reads them from the cache
        total_seconds = time.perf_counter() - start
        texts = cold.data["model"]["zero_shot"]["text_embeddings"]
        cached = warm.data["model"]["zero_shot"]["text_embeddings"]
        assert not texts["cached"] and cached["cached"], (texts, cached)
        embeddings = load_file(str(Path(tmp) / "cache" / "zero-shot" / f"{cached['key']}.safetensors"))
        embeddings = embeddings["class_embeddings"]
        bare, rows = max(bare_loop(folder, release, embeddings, args.batch_size, args.device, args.dtype)
                         for _ in range(2))
    figures = {
        "model": f"CLIP ViT/32 width {args.width}x{args.layers}, text {args.text_width}x{args.text_layers}",
        "parameters": warm.data["model"]["parameters"], "device": args.device, "dtype": args.dtype,
        "batch_size": args.batch_size, "workers": args.workers, "rows": rows,
        **throughput(bare, warm.data, rows, total_seconds, args.batch_size, args.device, "bare CLIP loop",
                     "model load, cached class embeddings, dataset open, metrics and files"),
        "class_embeddings_computed_s": texts["seconds"], "class_embeddings_cached_s": cached["seconds"],
        "cache_speedup": round(texts["seconds"] / max(cached["seconds"], 1e-6), 1),
    }
    print(f"class embeddings: {texts['seconds']:.2f} s computed (80,000 texts), {cached['seconds']:.3f} s from the "
          f"cache (x{figures['cache_speedup']})")
    print("BENCH " + json.dumps(figures))


if __name__ == "__main__":
    main()
