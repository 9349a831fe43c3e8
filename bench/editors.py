"""Editors on a tiny pipeline: UNet evaluations per edited image, and wall time against the bare model work.

For each editor, every call of the UNet (batch shape, whether it needed gradients), the text encoder and the VAE
during an edit is recorded with forward hooks; the baseline replays exactly those calls on the same models, with
diffusers' default attention and no editor around them (forward, plus backward where the method needed one). The ratio editor time / replay time is
what our wrapper costs beyond the UNet work the method needs. SDEdit and InstructPix2Pix are also timed against
a bare call of their diffusers pipeline with the same arguments. For the prompt-to-prompt editors the
reconstruction error (target prompt = source prompt) is measured in latent space and in pixels.

    python bench/editors.py [--steps 10] [--targets 1] [--repeats 3]

Goals: over_bare_models <= 1.05; p2p-direct UNet evaluations <= 1/5 of p2p-nulltext's; p2p-direct's pixel reconstruction
error within 10% of p2p-nulltext's. Ends with one line: BENCH {json}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data

from builder.editors import create_editor
from builder.editors.preprocess import prepare_image
from builder.tiny_models import save_tiny_pipeline

TARGETS = ["a watercolor painting of a tabby cat", "a tabby cat in the snow", "an orange tabby cat",
           "a knitted tabby cat", "a tabby cat on the moon"]


class ModelCalls:
    """Records every call of the UNet (shape, and whether gradients were on), the text encoder and the VAE."""

    def __init__(self, unet, text_encoder, vae):
        self.unet: list[tuple[tuple[int, ...], tuple[int, ...], bool]] = []
        self.other: list[tuple[object, tuple[int, ...]]] = []
        self.handles = [unet.register_forward_pre_hook(self._record_unet, with_kwargs=True)]
        for module in (text_encoder, vae.encoder, vae.decoder):
            self.handles.append(module.register_forward_pre_hook(self._recorder(module), with_kwargs=True))

    def _record_unet(self, module, args, kwargs):
        context = kwargs.get("encoder_hidden_states", args[2] if len(args) > 2 else None)
        needs_grad = torch.is_grad_enabled() and context is not None and context.requires_grad
        self.unet.append((tuple(args[0].shape), tuple(context.shape), needs_grad))

    def _recorder(self, module):
        def record(_, args, kwargs):
            first = args[0] if args else next(iter(kwargs.values()))
            self.other.append((module, tuple(first.shape)))
        return record

    def close(self):
        for handle in self.handles:
            handle.remove()


@torch.no_grad()
def _replay_other(calls, dtype) -> None:
    for module, shape in calls:
        if module.__class__.__name__.startswith("CLIPText"):
            module(torch.randint(0, module.config.vocab_size, shape))
        else:
            module(torch.randn(shape, dtype=dtype))


def replay(unet, calls: ModelCalls, dtype) -> float:
    """Seconds for the same model calls with the default attention and nothing around them."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    saved = dict(unet.attn_processors)
    unet.set_attn_processor(AttnProcessor2_0())  # what a stock pipeline runs
    try:
        start = time.perf_counter()
        _replay_other(calls.other, dtype)
        for sample_shape, context_shape, needs_grad in calls.unet:
            sample = torch.randn(sample_shape, dtype=dtype)
            context = torch.randn(context_shape, dtype=dtype, requires_grad=needs_grad)
            with torch.set_grad_enabled(needs_grad):
                out = unet(sample, 500, encoder_hidden_states=context).sample
                if needs_grad:
                    out.float().pow(2).mean().backward()
        return time.perf_counter() - start
    finally:
        unet.set_attn_processor(saved)


def measure(editor, image, source, targets, repeats):
    parts = editor if hasattr(editor, "unet") else editor.pipeline
    times, replays = [], []
    for _ in range(repeats):
        if hasattr(editor, "cache"):
            editor.cache._memory.clear()  # pay the inversion every time
        calls = ModelCalls(parts.unet, parts.text_encoder, parts.vae)
        start = time.perf_counter()
        editor.edit([image] * len(targets), [source] * len(targets), targets, 2, list(range(len(targets))))
        times.append(time.perf_counter() - start)
        calls.close()
        replays.append(replay(parts.unet, calls, editor.dtype))
    return {"unet_calls_per_image": len(calls.unet) / len(targets),
            "unet_samples_per_image": sum(c[0][0] for c in calls.unet) / len(targets),
            "seconds_per_image": statistics.median(times) / len(targets),
            "over_bare_models": statistics.median(times) / statistics.median(replays)}


def bare_pipeline_ratio(editor, image, source, target, repeats) -> float:
    """Editor time / the same diffusers pipeline call without the editor around it."""
    prepared = prepare_image(image, editor.resolution).image
    knobs = editor.severity_knobs(2)
    kwargs = dict(num_inference_steps=editor.steps, output_type="pt")
    if editor.name == "sdedit":
        kwargs.update(strength=knobs["strength"], guidance_scale=editor.guidance)
        prompt = target
    else:
        kwargs.update(guidance_scale=knobs["guidance_scale"], image_guidance_scale=knobs["image_guidance_scale"])
        prompt = editor._prompts([source], [target])[0]
    ours, bare = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        editor.edit([image], [source], [target], 2, [0])
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        editor.pipeline(prompt=[prompt], image=[prepared], generator=[torch.Generator().manual_seed(0)], **kwargs)
        bare.append(time.perf_counter() - start)
    return statistics.median(ours) / statistics.median(bare)


def reconstruction_errors(editor, image, source):
    rec = editor.reconstruct([image], [source])
    target = np.asarray(prepare_image(image, editor.resolution).image, dtype=np.float64)
    return {"latent_mse": float((rec.latents - rec.input_latents).pow(2).mean()),
            "pixel_mse": float(((np.asarray(rec.images[0], dtype=np.float64) - target) ** 2).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--targets", type=int, default=1, help="edits per source image (1..5)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    image = Image.fromarray(data.chelsea())
    source, targets = "a tabby cat", TARGETS[: args.targets]
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sd = str(save_tiny_pipeline(Path(tmp) / "sd", "sd"))
        ip2p = str(save_tiny_pipeline(Path(tmp) / "ip2p", "ip2p"))
        for name, model in (("p2p-nulltext", sd), ("p2p-direct", sd), ("sdedit", sd), ("instruct-pix2pix", ip2p)):
            editor = create_editor(name, model=model, resolution=64, steps=args.steps)
            figures[name] = measure(editor, image, source, targets, args.repeats)
            if name.startswith("p2p"):
                figures[name].update(reconstruction_errors(editor, image, source))
            else:
                figures[name]["over_bare_pipeline"] = bare_pipeline_ratio(editor, image, source, targets[0],
                                                                          args.repeats)
    for name, values in figures.items():
        shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
        print(f"{name:17s} {shown}")
    null, direct = figures["p2p-nulltext"], figures["p2p-direct"]
    summary = {
        "direct_over_nulltext_unet_calls": direct["unet_calls_per_image"] / null["unet_calls_per_image"],
        "direct_over_nulltext_pixel_error": direct["pixel_mse"] / null["pixel_mse"],
        "worst_over_bare_models": max(v["over_bare_models"] for v in figures.values()),
    }
    print(", ".join(f"{k}={v:.3f}" for k, v in summary.items()))
    print("BENCH " + json.dumps({"steps": args.steps, "targets": args.targets, "editors": figures, **summary}))


if __name__ == "__main__":
    main()
