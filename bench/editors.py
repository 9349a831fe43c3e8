"""Editors on a tiny pipeline: UNet rows per edited image, seconds per edit, and wall time against the bare model
work.

Each source image gets `--targets` edits the way a build makes them: distinct target prompts, each at severities
1, 2 and 3 (30 targets = 10 prompts x 3 severities), in one editor call. Every call of the UNet (batch rows,
whether it ran backward), the text encoder and the VAE is recorded with forward hooks; `unet_rows_per_edit` is
the UNet batch rows per edited image, inversion included, and the baseline replays exactly those calls on the same
models with diffusers' default attention and no editor around them (forward, plus backward where the method needed
one): `over_bare_models` is what our wrapper costs beyond the UNet work the method needs. SDEdit and
InstructPix2Pix are also timed against a bare call of their diffusers pipeline. For the prompt-to-prompt editors
the reconstruction error (target prompt = source prompt) is measured in latent space and in pixels, and the rows
are compared with what `python -m builder plan` predicts for the same edits.

    python bench/editors.py [--targets 30] [--steps 50] [--resolution 128] [--repeats 1]

Goals at 30 targets: p2p-direct <= 85 UNet rows per edit, p2p-nulltext <= 105; over_bare_models <= 1.05;
p2p-directinv (Direct Inversion) <= p2p-direct's rows + 5% with no backward rows, and <= 0.65 x p2p-nulltext's
forward-equivalents (a backward row counted as two forward rows), measured in the same run.
Ends with one line: BENCH {json}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data

from builder.editors import create_editor
from builder.editors.preprocess import prepare_image
from builder.editors.sharing import EditSchedule, count_sampling
from builder.micro.tiny_models import save_tiny_pipeline

sys.path.insert(0, str(Path(__file__).parent))
from unet_calls import ModelCalls, replay  # noqa: E402

PROMPTS = ["a watercolor painting of a tabby cat", "a tabby cat in the snow", "an orange tabby cat",
           "a knitted tabby cat", "a tabby cat on the moon", "a pencil drawing of a tabby cat",
           "a tabby cat in the fog", "a blue tabby cat", "a tabby cat carved from wood", "a tabby cat on mars",
           "a crayon sketch of a tabby cat", "a tabby cat in the rain"]


def edits(count: int) -> tuple[list[str], list[int]]:
    """`count` edits: prompts in order, each at severities 1, 2, 3."""
    targets, severities = [], []
    for k in range(count):
        targets.append(PROMPTS[(k // 3) % len(PROMPTS)])
        severities.append(k % 3 + 1)
    return targets, severities


def measure(editor, image, source, count, repeats):
    parts = editor if hasattr(editor, "unet") else editor.pipeline
    targets, severities = edits(count)
    times, replays = [], []
    for _ in range(repeats):
        if hasattr(editor, "cache"):
            editor.cache.clear()  # pay the inversion every time
        calls = ModelCalls(parts.unet, parts.text_encoder, parts.vae)
        start = time.perf_counter()
        editor.edit([image] * count, [source] * count, targets, severities, list(range(count)))
        times.append(time.perf_counter() - start)
        calls.close()
        replays.append(replay(parts.unet, calls, editor.dtype))
    backward = sum(s[0] for s, _, grad in calls.unet if grad) / count
    return {"unet_rows_per_edit": calls.rows / count, "unet_calls_per_edit": len(calls.unet) / count,
            "backward_rows_per_edit": backward, "forward_equivalents_per_edit": calls.rows / count + 2 * backward,
            "seconds_per_edit": statistics.median(times) / count,
            "over_bare_models": statistics.median(times) / statistics.median(replays)}


def planned_rows_per_edit(editor, count: int) -> float:
    """What the plan counts for these edits (inversion at full inner steps for null-text)."""
    targets, severities = edits(count)
    schedules = []
    for target, level in zip(targets, severities):
        knobs = editor.severity_knobs(level)
        schedules.append(EditSchedule.from_knobs(0, target, editor.steps, knobs))
    rows = count_sampling(schedules, editor.steps, editor.batch_size, False).rows + editor.steps
    if editor.inversion_method == "null-text":
        rows += editor.steps * (int(editor.params["inner_steps"]) + 2)
    return rows / count


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
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--targets", type=int, default=30, help="edits per source image")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32, help="most edit branches per UNet pass")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--editors", default="p2p-direct,p2p-directinv,p2p-nulltext,sdedit,instruct-pix2pix")
    args = parser.parse_args()
    torch.manual_seed(0)
    image = Image.fromarray(data.chelsea())
    source = "a tabby cat"
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = {"sd": str(save_tiny_pipeline(Path(tmp) / "sd", "sd")),
                  "ip2p": str(save_tiny_pipeline(Path(tmp) / "ip2p", "ip2p"))}
        for name in args.editors.split(","):
            model = models["ip2p" if name == "instruct-pix2pix" else "sd"]
            editor = create_editor(name, model=model, resolution=args.resolution, steps=args.steps,
                                   batch_size=args.batch_size)
            figures[name] = measure(editor, image, source, args.targets, args.repeats)
            if name.startswith("p2p"):
                figures[name]["planned_rows_per_edit"] = planned_rows_per_edit(editor, args.targets)
                figures[name].update(reconstruction_errors(editor, image, source))
            else:
                figures[name]["over_bare_pipeline"] = bare_pipeline_ratio(editor, image, source,
                                                                          PROMPTS[0], args.repeats)
    for name, values in figures.items():
        shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
        print(f"{name:17s} {shown}")
    summary = {"worst_over_bare_models": max(v["over_bare_models"] for v in figures.values())}
    if {"p2p-direct", "p2p-nulltext"} <= set(figures):
        null, direct = figures["p2p-nulltext"], figures["p2p-direct"]
        summary["direct_over_nulltext_rows"] = direct["unet_rows_per_edit"] / null["unet_rows_per_edit"]
        summary["direct_over_nulltext_pixel_error"] = direct["pixel_mse"] / null["pixel_mse"]
    if {"p2p-directinv", "p2p-direct", "p2p-nulltext"} <= set(figures):
        directinv = figures["p2p-directinv"]
        summary["directinv_over_direct_rows"] = directinv["unet_rows_per_edit"] / figures["p2p-direct"][
            "unet_rows_per_edit"]
        summary["directinv_backward_rows_per_edit"] = directinv["backward_rows_per_edit"]
        summary["directinv_over_nulltext_forward_equivalents"] = (
            directinv["forward_equivalents_per_edit"] / figures["p2p-nulltext"]["forward_equivalents_per_edit"])
    print(", ".join(f"{k}={v:.3f}" for k, v in summary.items()))
    print("BENCH " + json.dumps({"steps": args.steps, "targets": args.targets, "resolution": args.resolution,
                                 "batch_size": args.batch_size, "editors": figures, **summary}))


if __name__ == "__main__":
    main()
