"""Train the micro text-to-image model on the micro world: `python -m builder train-micro --out DIR`.

Two stages, both on the CPU by default and deterministic given the seed and the thread count:

1. the VAE (`model.build_vae`) learns to reconstruct world images: pixel MSE plus a small KL term (Stable
   Diffusion's adds perceptual and adversarial losses, which flat shapes do not need); its latents are then
   scaled to unit variance (`scaling_factor`, measured, as Stable Diffusion's 0.18215 was);
2. the UNet and the text encoder learn to predict the noise added to those latents (diffusers' `DDPMScheduler`
   adds it, timesteps uniform over 1000), with a tenth of the captions dropped to "" so classifier-free guidance
   works; `EMAModel` keeps an exponential moving average of the UNet, which is what is saved.

The result is a `StableDiffusionPipeline` saved with `save_pretrained` (safetensors, float16), loadable by
`from_pretrained` like any Hub model, with `training.json` (the command, seed, settings, library versions, time
and losses) and `loss.png` (the loss curves) beside it. Images come from the world's seeds: training image i of
stage s is `world.sample(seed * 1_000_003 + s * 100_000 + i)`, so a validation seed range never meets them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from builder.micro import model, world

TRAINING_FILE = "training.json"
LOSSES_FILE = "losses.json"
LOSS_PLOT = "loss.png"
CAPTION_DROPOUT = 0.1
STAGE_OFFSET = 100_000


@dataclass(frozen=True)
class TrainSettings:
    seed: int = 0
    images: int = 6_000  # distinct training images (each stage draws batches from them)
    vae_steps: int = 1_000
    unet_steps: int = 5_000
    batch_size: int = 16  # the UNet's: a step takes 0.38 s on 2 cores (0.52 s at 32)
    vae_batch_size: int = 16  # a VAE step takes 0.59 s at 16 (1.06 s at 32)
    vae_lr: float = 1e-3
    unet_lr: float = 4e-4
    ema_decay: float = 0.999
    threads: int = 2


def _images(seed: int, stage: int, count: int) -> tuple[Any, list[str]]:
    """`count` world images as a [-1, 1] tensor [N, 3, 64, 64], and their captions."""
    import torch

    pixels, captions = [], []
    for i in range(count):
        image, scene = world.sample(seed * 1_000_003 + stage * STAGE_OFFSET + i)
        pixels.append(np.asarray(image, dtype=np.float32))
        captions.append(scene.caption)
    array = np.stack(pixels).transpose(0, 3, 1, 2) / 127.5 - 1.0
    return torch.from_numpy(array), captions


def train_vae(settings: TrainSettings, images: Any, progress: bool) -> tuple[Any, list[float]]:
    import torch
    from tqdm import tqdm

    vae = model.build_vae(settings.seed).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=settings.vae_lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(settings.seed)
    losses = []
    for step in tqdm(range(settings.vae_steps), desc="VAE", disable=not progress, dynamic_ncols=True):
        batch = images[torch.randint(len(images), (settings.vae_batch_size,), generator=generator)]
        posterior = vae.encode(batch).latent_dist
        reconstruction = vae.decode(posterior.sample(generator=generator)).sample
        loss = torch.nn.functional.mse_loss(reconstruction, batch) + 1e-6 * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return vae.eval().requires_grad_(False), losses


def latents_of(vae: Any, images: Any, batch: int = 256) -> Any:
    """The VAE's mean latents, unscaled."""
    import torch

    with torch.no_grad():
        return torch.cat([vae.encode(images[i:i + batch]).latent_dist.mean for i in range(0, len(images), batch)])


def train_denoiser(settings: TrainSettings, latents: Any, captions: list[str], tokenizer: Any,
                   progress: bool) -> tuple[Any, Any, list[float]]:
    import torch
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from diffusers.training_utils import EMAModel
    from tqdm import tqdm

    unet = model.build_unet(settings.seed).train()
    text_encoder = model.build_text_encoder(len(tokenizer), settings.seed).train()
    noise_scheduler = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                    num_train_timesteps=1000)
    parameters = list(unet.parameters()) + list(text_encoder.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=settings.unet_lr, weight_decay=1e-2)
    lr_schedule = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=200,
                                                  num_training_steps=settings.unet_steps)
    ema = EMAModel(unet.parameters(), decay=settings.ema_decay)
    tokens = tokenizer(captions + [""], padding="max_length", max_length=model.MAX_TOKENS, truncation=True,
                       return_tensors="pt").input_ids
    empty = tokens[-1]
    tokens = tokens[:-1]
    generator = torch.Generator().manual_seed(settings.seed + 1)
    losses = []
    for step in tqdm(range(settings.unet_steps), desc="UNet", disable=not progress, dynamic_ncols=True):
        index = torch.randint(len(latents), (settings.batch_size,), generator=generator)
        clean = latents[index]
        ids = tokens[index].clone()
        dropped = torch.rand(settings.batch_size, generator=generator) < CAPTION_DROPOUT
        ids[dropped] = empty
        noise = torch.randn(clean.shape, generator=generator)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (settings.batch_size,),
                                  generator=generator)
        noisy = noise_scheduler.add_noise(clean, noise, timesteps)
        context = text_encoder(ids)[0]
        loss = torch.nn.functional.mse_loss(unet(noisy, timesteps, context).sample, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        lr_schedule.step()
        ema.step(unet.parameters())
        losses.append(loss.item())
    ema.copy_to(unet.parameters())
    return unet.eval().requires_grad_(False), text_encoder.eval().requires_grad_(False), losses


def _smoothed(values: list[float], window: int = 50) -> list[float]:
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def plot_losses(path: Path, stages: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(stages), figsize=(5 * len(stages), 3.2))
    for axis, (name, values) in zip(np.atleast_1d(axes), stages.items()):
        axis.plot(values, alpha=0.25, color="tab:blue", linewidth=0.6)
        axis.plot(_smoothed(values), color="tab:blue", linewidth=1.5)
        axis.set_yscale("log")
        axis.set_title(f"{name} loss (mean of 50 steps in bold)")
        axis.set_xlabel("step")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def train(out: str | Path, settings: TrainSettings = TrainSettings(), progress: bool = True,
          command: str = "", log: Callable[[str], None] = print) -> Path:
    """Train both stages and save the pipeline to `out` (written beside it, then renamed into place). Training runs
    on `settings.threads` torch threads (the result depends on it); the caller's thread count is restored after."""
    import torch

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty: choose a new folder")
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        return _train(out, settings, progress, command, log)
    finally:
        torch.set_num_threads(threads)


def _train(out: Path, settings: TrainSettings, progress: bool, command: str, log: Callable[[str], None]) -> Path:
    import torch
    from diffusers import StableDiffusionPipeline

    from imagenet_textcorrupt.provenance import library_versions

    torch.manual_seed(settings.seed)
    started = time.monotonic()
    log(f"drawing {settings.images} world images (seed {settings.seed})")
    images, captions = _images(settings.seed, 0, settings.images)
    vae, vae_losses = train_vae(settings, images, progress)
    latents = latents_of(vae, images)
    scaling = 1.0 / float(latents.std())
    vae.register_to_config(scaling_factor=scaling)
    vae_seconds = time.monotonic() - started
    log(f"VAE: {settings.vae_steps} steps in {vae_seconds:.0f} s, final loss {np.mean(vae_losses[-50:]):.5f}; "
        f"latent scaling factor {scaling:.4f}")
    tokenizer = model.build_tokenizer()
    unet, text_encoder, unet_losses = train_denoiser(settings, latents * scaling, captions, tokenizer, progress)
    seconds = time.monotonic() - started
    log(f"UNet: {settings.unet_steps} steps, final loss {np.mean(unet_losses[-200:]):.4f}; {seconds / 60:.1f} min "
        "in all")
    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=model.build_scheduler(), safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
    record = {"command": command, "settings": asdict(settings), "seconds": round(seconds, 1),
              "vae_seconds": round(vae_seconds, 1), "scaling_factor": scaling,
              "final_loss": {"vae": float(np.mean(vae_losses[-50:])), "unet": float(np.mean(unet_losses[-200:]))},
              "libraries": library_versions(("torch", "diffusers", "transformers", "numpy", "pillow")),
              "torch_threads": torch.get_num_threads()}
    return write_model(out, pipeline, record, {"VAE": vae_losses, "UNet": unet_losses})


def write_model(out: Path, pipeline: Any, record: dict[str, Any], losses: dict[str, list[float]]) -> Path:
    """Save the pipeline in float16 (half the size; editors load it in their own dtype) with its training record,
    losses and loss curves, into a staging folder renamed to `out`: the folder appears whole or not at all."""
    import shutil
    import tempfile

    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        pipeline.to(torch.float16).save_pretrained(staging, safe_serialization=True)
        (staging / TRAINING_FILE).write_text(json.dumps({**record, "saved_dtype": "float16"}, indent=2) + "\n")
        (staging / LOSSES_FILE).write_text(json.dumps({name.lower(): [round(v, 6) for v in values]
                                                       for name, values in losses.items()}) + "\n")
        plot_losses(staging / LOSS_PLOT, losses)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def decay_check(values: list[float]) -> float:
    """The ratio of the last tenth's mean loss to the first tenth's (what a test of training checks)."""
    tenth = max(1, len(values) // 10)
    return float(np.mean(values[-tenth:]) / np.mean(values[:tenth])) if values else math.nan
