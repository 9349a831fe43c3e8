"""DDIM inversion, null-text optimisation, and a cache so each source image is inverted once.

Deterministic DDIM (eta = 0) maps a clean latent z_0 to z_T by running the sampler backwards with the source
prompt (guidance 1). Sampling back from z_T with classifier-free guidance drifts away from that trajectory;
null-text inversion (Mokady et al., 2023) fixes it by optimising, per timestep, the unconditional ("null-text")
embedding so that each guided step lands on the inverted latent of the next level. The result depends only on
the image, the source prompt, the model and the schedule, so it is computed once per source image and reused for
every edit of it (`InversionCache`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from imagenet_textcorrupt.atomic import atomic_write_bytes


@dataclass
class Schedule:
    """The DDIM timesteps (descending) and the cumulative alphas the steps move between."""

    timesteps: torch.Tensor  # [T], descending
    alphas: torch.Tensor  # alphas_cumprod, float64 on the CPU
    final_alpha: float
    step_ratio: int

    @classmethod
    def from_scheduler(cls, scheduler: Any, steps: int) -> Schedule:
        scheduler.set_timesteps(steps)
        alphas = scheduler.alphas_cumprod.double().cpu()
        return cls(scheduler.timesteps.cpu(), alphas, float(scheduler.final_alpha_cumprod),
                   scheduler.config.num_train_timesteps // steps)

    def alpha(self, t: int) -> float:
        return float(self.alphas[t]) if t >= 0 else self.final_alpha

    def previous(self, t: int) -> int:
        return int(t) - self.step_ratio


def ddim_move(latents: torch.Tensor, eps: torch.Tensor, alpha_from: float, alpha_to: float) -> torch.Tensor:
    """One deterministic DDIM move between two noise levels, given the predicted noise."""
    x0 = (latents - (1 - alpha_from) ** 0.5 * eps) / alpha_from ** 0.5
    return alpha_to ** 0.5 * x0 + (1 - alpha_to) ** 0.5 * eps


def guided_eps(unet: Any, latents: torch.Tensor, t: Any, uncond: torch.Tensor, cond: torch.Tensor,
               guidance: float) -> torch.Tensor:
    """Classifier-free guided noise prediction in one batched UNet call."""
    out = unet(torch.cat([latents, latents]), t, encoder_hidden_states=torch.cat([uncond, cond])).sample
    eps_uncond, eps_cond = out.chunk(2)
    return eps_uncond + guidance * (eps_cond - eps_uncond)


@torch.no_grad()
def ddim_invert(unet: Any, schedule: Schedule, latents: torch.Tensor, cond: torch.Tensor) -> list[torch.Tensor]:
    """The DDIM trajectory [z_0, z_1, ..., z_T] of clean latents under the (unguided) source prompt."""
    trajectory = [latents]
    current = latents
    for t in schedule.timesteps.flip(0):
        t = int(t)
        eps = unet(current, t, encoder_hidden_states=cond).sample
        current = ddim_move(current, eps, schedule.alpha(schedule.previous(t)), schedule.alpha(t))
        trajectory.append(current)
    return trajectory


def null_text_optimise(unet: Any, schedule: Schedule, trajectory: list[torch.Tensor], cond: torch.Tensor,
                       uncond: torch.Tensor, guidance: float, inner_steps: int, early_stop: float,
                       learning_rate: float = 1e-2) -> tuple[list[torch.Tensor], list[int]]:
    """Per-timestep null-text embeddings that make guided sampling retrace `trajectory` (one image).

    Returns the embeddings (one per sampling step) and the inner steps each took.
    """
    steps = len(schedule.timesteps)
    embeddings, used = [], []
    current = trajectory[-1]
    null = uncond.detach().float().clone()
    for i, t in enumerate(schedule.timesteps):
        t = int(t)
        target = trajectory[steps - 1 - i]
        alpha_from, alpha_to = schedule.alpha(t), schedule.alpha(schedule.previous(t))
        with torch.no_grad():
            eps_cond = unet(current, t, encoder_hidden_states=cond).sample
        null = null.detach().requires_grad_(True)
        optimiser = torch.optim.Adam([null], lr=learning_rate * (1.0 - i / 100.0))
        taken = 0
        for _ in range(inner_steps):
            eps_uncond = unet(current, t, encoder_hidden_states=null.to(cond.dtype)).sample
            eps = eps_uncond + guidance * (eps_cond - eps_uncond)
            loss = F.mse_loss(ddim_move(current, eps, alpha_from, alpha_to).float(), target.float())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            taken += 1
            if loss.item() < early_stop:
                break
        null = null.detach()
        embeddings.append(null.to(cond.dtype))
        used.append(taken)
        with torch.no_grad():
            eps = guided_eps(unet, current, t, null.to(cond.dtype), cond, guidance)
            current = ddim_move(current, eps, alpha_from, alpha_to)
    return embeddings, used


@dataclass
class Inversion:
    """What editing needs from one source image: its DDIM trajectory and, for null-text, the null embeddings."""

    trajectory: list[torch.Tensor]  # [z_0 .. z_T], each [1, C, h, w]
    null_embeddings: list[torch.Tensor] | None  # one [1, L, D] per sampling step
    inner_steps: list[int] | None = None

    def to_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {"trajectory": torch.cat(self.trajectory).contiguous().cpu()}
        if self.null_embeddings is not None:
            tensors["null_embeddings"] = torch.cat(self.null_embeddings).contiguous().cpu()
            tensors["inner_steps"] = torch.tensor(self.inner_steps or [])
        return tensors

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], device: Any) -> Inversion:
        trajectory = [z[None].to(device) for z in tensors["trajectory"]]
        nulls = tensors.get("null_embeddings")
        return cls(trajectory, None if nulls is None else [n[None].to(device) for n in nulls],
                   None if nulls is None else [int(x) for x in tensors["inner_steps"]])


def inversion_key(image_bytes: bytes, source_prompt: str, model_id: str, method: str, steps: int,
                  guidance: float, extra: str = "") -> str:
    """The cache key: everything an inversion depends on."""
    digest = hashlib.sha256()
    for part in (hashlib.sha256(image_bytes).hexdigest(), source_prompt, model_id, method, str(steps),
                 repr(float(guidance)), extra):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


class InversionCache:
    """Inversions kept in memory (least recently used first out) and, with `directory`, on disk as safetensors."""

    def __init__(self, directory: str | Path | None = None, max_items: int = 64):
        self.directory = Path(directory) if directory else None
        self.max_items = max_items
        self._memory: OrderedDict[str, Inversion] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str, device: Any) -> Inversion | None:
        if key in self._memory:
            self._memory.move_to_end(key)
            self.hits += 1
            return self._memory[key]
        if self.directory is not None and (self.directory / f"{key}.safetensors").is_file():
            from safetensors.torch import load_file

            inversion = Inversion.from_tensors(load_file(self.directory / f"{key}.safetensors"), device)
            self._remember(key, inversion)
            self.hits += 1
            return inversion
        self.misses += 1
        return None

    def put(self, key: str, inversion: Inversion) -> None:
        self._remember(key, inversion)
        if self.directory is not None:
            from safetensors.torch import save

            atomic_write_bytes(self.directory / f"{key}.safetensors", save(inversion.to_tensors()))

    def _remember(self, key: str, inversion: Inversion) -> None:
        self._memory[key] = inversion
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_items:
            self._memory.popitem(last=False)
