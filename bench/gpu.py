"""The prompt-to-prompt editors at release size: a Stable Diffusion v1.4-shaped UNet, VAE and text encoder built
from configs with random weights (nothing downloads), 512 px, float16, 30 edits per image (10 prompts x 3
severities) in one editor call, as a v1 build makes them.

Per editor: seconds per edit, UNet batch rows per edit and per second, and the same UNet calls replayed on the
bare model with diffusers' stock attention (forward, and backward where the method ran one): rows per second of
ours (the whole edit: text encoder, VAE, inversion and sampling) over the bare replay's (the UNet calls alone) is
what the editor costs beyond the UNet work it needs. Peak GPU memory per editor.
The first call of each editor (kernel selection, allocator warm-up) is not timed.

    python bench/gpu.py                          # on a CUDA device, SD-1.4 shapes, 512 px, fp16, 50 steps
    python bench/gpu.py --device cpu --small     # tiny pipeline, 64 px, float32, 4 steps: under a minute

Ends with one line: BENCH {json}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from editors import edits  # noqa: E402
from unet_calls import ModelCalls, replay, synchronize  # noqa: E402


def save_sd14_shaped(path: Path, dtype: torch.dtype) -> Path:
    """Stable Diffusion v1.4's architecture (its published configs) with random weights, saved as safetensors."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from builder.micro.tiny_models import build_scheduler, build_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32,
        sample_size=512)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768))
    pipeline = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=build_tokenizer(),
                                       scheduler=build_scheduler(), safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipeline.to(dtype).save_pretrained(path, safe_serialization=True)
    return path


def measure(editor, image, count: int, device: str) -> dict[str, float]:
    targets, severities = edits(count)
    sources = ["a tabby cat"] * count
    editor.edit([image] * count, sources, targets, severities, list(range(count)))  # warm-up, not timed
    editor.cache.clear()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    calls = ModelCalls(editor.unet, editor.text_encoder, editor.vae)
    synchronize(device)
    start = time.perf_counter()
    results = editor.edit([image] * count, sources, targets, severities, list(range(count)))
    synchronize(device)
    seconds = time.perf_counter() - start
    calls.close()
    peak = torch.cuda.max_memory_allocated() / 2 ** 30 if device.startswith("cuda") else float("nan")
    bare = replay(editor.unet, calls, editor.dtype, device, only_unet=True)  # the UNet calls alone
    return {"seconds_per_edit": seconds / count, "unet_rows_per_edit": calls.rows / count,
            "unet_rows_per_second": calls.rows / seconds, "bare_unet_rows_per_second": calls.rows / bare,
            "over_bare": seconds / bare, "peak_gpu_memory_gb": peak,
            "retried_in_float32": sum(r.metadata.get("retried_in_float32", False) for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="the tiny pipeline at 64 px: a check on the CPU")
    parser.add_argument("--targets", type=int, default=30)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--editors", default="p2p-direct,p2p-nulltext")
    args = parser.parse_args()
    from PIL import Image
    from skimage import data

    from builder.editors import create_editor
    from builder.micro.tiny_models import save_tiny_pipeline

    small = args.small
    dtype = "float32" if small or args.device == "cpu" else "float16"
    resolution, steps = (64, args.steps or 4) if small else (512, args.steps or 50)
    image = Image.fromarray(data.chelsea())
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        model = (save_tiny_pipeline(Path(tmp) / "tiny", "sd") if small
                 else save_sd14_shaped(Path(tmp) / "sd14", getattr(torch, dtype)))
        print(f"built {'the tiny pipeline' if small else 'an SD-1.4-shaped pipeline'} in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        for name in args.editors.split(","):
            editor = create_editor(name, model=str(model), device=args.device, dtype=dtype, resolution=resolution,
                                   steps=steps, batch_size=args.batch_size)
            figures[name] = measure(editor, image, args.targets, args.device)
            del editor
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
    for name, values in figures.items():
        print(f"{name:14s} " + ", ".join(f"{k}={v:.4g}" for k, v in values.items()))
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print("BENCH " + json.dumps({"device": device_name, "small": small, "dtype": dtype, "resolution": resolution,
                                 "steps": steps, "targets": args.targets, "batch_size": args.batch_size,
                                 "editors": figures}))


if __name__ == "__main__":
    main()
