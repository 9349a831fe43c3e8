"""DDIM inversion, null-text optimisation, and a cache so each source image is inverted once.

Deterministic DDIM (eta = 0) maps a clean latent z_0 to z_T by running the sampler backwards with the source
prompt (guidance 1). Sampling back from z_T with classifier-free guidance drifts away from that trajectory;
null-text inversion (Mokady et al., 2023) fixes it by optimising, per timestep, the unconditional ("null-text")
embedding so that each guided step lands on the inverted latent of the next level. We follow the authors' code
(google/prompt-to-prompt, `null_text_w_ptp.ipynb`) where the paper is silent: the embedding of step i starts from
step i-1's result, a fresh Adam at lr 1e-2·(1 - i/100) per step, the inner loop of step i stops once the loss is
below `early_stop + i·early_stop_slope` (1e-5 and 2e-5), and the sampled path with the optimised embeddings is
what the source branch of an edit follows.

Precision: latents, the DDIM arithmetic and the loss are float32 whatever the model's dtype; only the UNet runs
in it. In float16 the loss's per-element gradient (a mean over 16,384 latent elements at 512 px, about 1e-7) is
below float16's smallest normal number, so the loss is scaled by a power of two near the element count before
the backward pass and the gradient unscaled after (halving the scale on an overflow), as mixed-precision training
does. The embedding being optimised is float32.

Several images are optimised in one batched UNet call per inner step, each with its own Adam and its own early
stop: an image that has stopped leaves the batch, so a batch gives what its images give one by one.

The result depends only on the image, the source prompt, the model and the settings, so it is computed once per
source image and reused for every edit of it (`InversionCache`).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from imagenet_textcorrupt.atomic import atomic_write_bytes

CACHE_FORMAT = "2"  # bump when what an inversion stores changes: older cache files are then recomputed


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

    def __len__(self) -> int:
        return len(self.timesteps)

    def alpha(self, t: int) -> float:
        return float(self.alphas[t]) if t >= 0 else self.final_alpha

    def previous(self, t: int) -> int:
        return int(t) - self.step_ratio

    def move(self, step: int) -> tuple[int, float, float]:
        """(timestep, alpha from, alpha to) of sampling step `step` (0 = the noisiest)."""
        t = int(self.timesteps[step])
        return t, self.alpha(t), self.alpha(self.previous(t))


def ddim_move(latents: torch.Tensor, eps: torch.Tensor, alpha_from: float, alpha_to: float) -> torch.Tensor:
    """One deterministic DDIM move between two noise levels, given the predicted noise."""
    x0 = (latents - (1 - alpha_from) ** 0.5 * eps) / alpha_from ** 0.5
    return alpha_to ** 0.5 * x0 + (1 - alpha_to) ** 0.5 * eps


def predict_noise(unet: Any, latents: torch.Tensor, t: int, context: torch.Tensor) -> torch.Tensor:
    """The UNet's noise prediction in float32; its inputs are cast to the UNet's dtype."""
    dtype = unet.dtype
    return unet(latents.to(dtype), t, encoder_hidden_states=context.to(dtype)).sample.float()


@torch.no_grad()
def ddim_invert(unet: Any, schedule: Schedule, latents: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """The DDIM trajectories [T+1, B, C, h, w] (z_0 .. z_T) of clean latents under their (unguided) prompts."""
    trajectory = [latents.float()]
    current = trajectory[0]
    for t in schedule.timesteps.flip(0):
        t = int(t)
        eps = predict_noise(unet, current, t, cond)
        current = ddim_move(current, eps, schedule.alpha(schedule.previous(t)), schedule.alpha(t))
        trajectory.append(current)
    return torch.stack(trajectory)


@dataclass(frozen=True)
class NullTextSettings:
    """The null-text optimisation's parameters; the defaults are the authors'."""

    guidance: float = 7.5
    inner_steps: int = 10
    early_stop: float = 1e-5
    early_stop_slope: float = 2e-5  # step i stops below early_stop + i * slope
    learning_rate: float = 1e-2  # step i uses learning_rate * (1 - i / 100)

    def threshold(self, step: int) -> float:
        return self.early_stop + step * self.early_stop_slope

    def key(self) -> str:
        return "/".join(repr(float(v)) for v in (self.guidance, self.inner_steps, self.early_stop,
                                                 self.early_stop_slope, self.learning_rate))


@dataclass
class NullTextResult:
    """Per image: the null embedding of every sampling step, the inner steps each took, and the sampled path."""

    embeddings: torch.Tensor  # [T, L, D] float32
    steps_taken: list[int]
    path: torch.Tensor  # [T+1, C, h, w]: the latents before each sampling step, then the reconstruction


# observe(step, inner step, image, loss, unscaled gradient of the image's null embedding)
GradientObserver = Callable[[int, int, int, float, torch.Tensor], None]


def loss_scale(unet: Any, elements: int) -> float:
    """1 in float32; in half precision a power of two near the latent element count (the mean's divisor)."""
    if unet.dtype == torch.float32:
        return 1.0
    return float(2 ** round(math.log2(max(1, elements))))


def null_text_optimise(unet: Any, schedule: Schedule, trajectory: torch.Tensor, cond: torch.Tensor,
                       uncond: torch.Tensor, settings: NullTextSettings, observe: GradientObserver | None = None,
                       attention: Callable[[], AbstractContextManager[Any]] = nullcontext) -> list[NullTextResult]:
    """Null-text optimisation of a batch of images.

    trajectory [T+1, B, C, h, w] from `ddim_invert`; cond [B, L, D] the source prompts' embeddings; uncond [1, L, D]
    the empty prompt's. `attention` wraps each forward and backward pass of the optimisation (a deterministic
    attention backend on GPUs)."""
    steps, batch = len(schedule), trajectory.shape[1]
    current = trajectory[-1].clone()
    nulls = [uncond.detach().float().clone() for _ in range(batch)]
    embeddings: list[list[torch.Tensor]] = [[] for _ in range(batch)]
    taken: list[list[int]] = [[] for _ in range(batch)]
    path = [current.clone()]
    scale = loss_scale(unet, int(current[0].numel()))
    for i in range(steps):
        t, alpha_from, alpha_to = schedule.move(i)
        target = trajectory[steps - 1 - i]
        with torch.no_grad():
            eps_cond = predict_noise(unet, current, t, cond)
        # a fresh copy per step: the embedding stored for step i must not move when step i+1 optimises its own
        nulls = [n.detach().clone().requires_grad_(True) for n in nulls]
        optimisers = [torch.optim.Adam([n], lr=settings.learning_rate * (1.0 - i / 100.0)) for n in nulls]
        counts = [0] * batch
        active = list(range(batch)) if settings.inner_steps > 0 else []
        inner = 0
        while active and inner < settings.inner_steps:
            with attention():
                context = torch.cat([nulls[k] for k in active])
                eps_uncond = predict_noise(unet, current[active], t, context)
                eps = eps_uncond + settings.guidance * (eps_cond[active] - eps_uncond)
                predicted = ddim_move(current[active], eps, alpha_from, alpha_to)
                losses = (predicted - target[active]).pow(2).flatten(1).mean(dim=1)
                for k in active:
                    nulls[k].grad = None
                (losses.sum() * scale).backward()
            grads = [nulls[k].grad / scale for k in active]  # type: ignore[operator]
            if not all(bool(torch.isfinite(g).all()) for g in grads):
                if scale > 1.0:  # an overflow of the scaled gradient in half precision: retry smaller
                    scale /= 2.0
                    continue
                active = [k for k, g in zip(active, grads) if bool(torch.isfinite(g).all())]
                continue
            still = []
            for k, grad, loss in zip(active, grads, losses.detach().tolist()):
                if observe is not None:
                    observe(i, inner, k, loss, grad)
                nulls[k].grad = grad
                optimisers[k].step()
                counts[k] += 1
                if not loss < settings.threshold(i):
                    still.append(k)
            active = still
            inner += 1
        final = torch.cat([n.detach() for n in nulls])
        for k in range(batch):
            embeddings[k].append(final[k:k + 1])
            taken[k].append(counts[k])
        with torch.no_grad():
            eps_uncond = predict_noise(unet, current, t, final)
            current = ddim_move(current, eps_uncond + settings.guidance * (eps_cond - eps_uncond), alpha_from,
                                alpha_to)
        path.append(current.clone())
        nulls = [n.detach() for n in final.split(1)]
    stacked = torch.stack(path)
    return [NullTextResult(torch.cat(embeddings[k]), taken[k], stacked[:, k]) for k in range(batch)]


@dataclass
class Inversion:
    """What editing needs from one source image: its DDIM trajectory and, for null-text, the null embeddings and
    the path the source branch takes when sampled with them."""

    trajectory: torch.Tensor  # [T+1, C, h, w]: z_0 .. z_T
    null_embeddings: torch.Tensor | None = None  # [T, L, D], one per sampling step
    inner_steps: list[int] | None = None
    sampled_path: torch.Tensor | None = None  # [T+1, C, h, w]; None: the source follows the trajectory back

    @property
    def source_path(self) -> torch.Tensor:
        """The source branch's latents before each sampling step (index 0: z_T), and after the last."""
        return self.sampled_path if self.sampled_path is not None else self.trajectory.flip(0)

    def null_at(self, step: int, uncond: torch.Tensor) -> torch.Tensor:
        return uncond if self.null_embeddings is None else self.null_embeddings[step:step + 1]

    def to_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {"trajectory": self.trajectory.contiguous().cpu()}
        if self.null_embeddings is not None:
            tensors["null_embeddings"] = self.null_embeddings.contiguous().cpu()
            tensors["inner_steps"] = torch.tensor(self.inner_steps or [], dtype=torch.int64)
        if self.sampled_path is not None:
            tensors["sampled_path"] = self.sampled_path.contiguous().cpu()
        return tensors

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], device: Any) -> Inversion:
        nulls = tensors.get("null_embeddings")
        path = tensors.get("sampled_path")
        return cls(tensors["trajectory"].to(device), None if nulls is None else nulls.to(device),
                   None if nulls is None else [int(x) for x in tensors["inner_steps"]],
                   None if path is None else path.to(device))


def inversion_key(image_bytes: bytes, source_prompt: str, model_id: str, method: str, steps: int,
                  guidance: float, extra: str = "") -> str:
    """The cache key: everything an inversion depends on."""
    digest = hashlib.sha256()
    for part in (CACHE_FORMAT, hashlib.sha256(image_bytes).hexdigest(), source_prompt, model_id, method,
                 str(steps), repr(float(guidance)), extra):
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

    def clear(self) -> None:
        """Forget what is in memory (the files on disk stay)."""
        self._memory.clear()

    def _remember(self, key: str, inversion: Inversion) -> None:
        self._memory[key] = inversion
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_items:
            self._memory.popitem(last=False)
