"""Prompt-to-prompt editors: the source study's null-text inversion (`p2p-nulltext`) and a direct inversion that
needs no optimisation (`p2p-direct`), on the components of a stock StableDiffusionPipeline.

Both invert each source image once (DDIM, source prompt), then sample a batch that holds, per source image, its
source branch and all its target branches from the inverted noise, with the targets' attention maps taken from
the source (`attention`). They differ in how the source branch stays on the image's trajectory under guidance:

- `p2p-nulltext` optimises the null-text embedding of every step (Mokady et al., 2023), 10 inner Adam steps with
  early stop at 1e-5, as in the study; the optimised embeddings are the unconditional input of every branch;
- `p2p-direct` samples with the plain empty-prompt embedding and, after every step, puts the source branch back
  on the inverted latent of that level (the correction of "direct inversion", Ju et al., 2023). It needs no
  backward passes: about one UNet evaluation per step for the inversion and one per step for the edit.

Both are deterministic functions of the image and prompts: the seed is recorded but draws no noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from builder.editors.attention import AttentionControl, install, token_mapping
from builder.editors.base import Editor, EditorError, load_pipeline, register_editor
from builder.editors.inversion import (Inversion, InversionCache, Schedule, ddim_invert, ddim_move, guided_eps,
                                       inversion_key, null_text_optimise)
from builder.editors.preprocess import image_to_tensor, prepare_image, tensor_to_images


@dataclass
class Reconstruction:
    """The source branch alone: what editing reproduces when the target prompt equals the source prompt."""

    images: list[Image.Image]
    latents: torch.Tensor  # reconstructed clean latents
    input_latents: torch.Tensor  # the encoded inputs


@dataclass
class _Group:
    key: str
    image: Image.Image
    source: str
    items: list[int]
    inversion: Inversion | None = None
    cache_hit: bool = False


class PromptToPromptEditor(Editor):
    family: ClassVar[str] = "prompt_to_prompt"
    default_model: ClassVar[str] = "CompVis/stable-diffusion-v1-4"
    inversion_method: ClassVar[str]
    known_params: ClassVar[dict[str, Any]] = {
        "cross_replace_steps": None,  # None: from the severity level
        "self_replace_steps": None,
        "self_max_pixels": None,  # None: layers at half the latent side or coarser, as in prompt-to-prompt
        "cache_dir": None,  # keep inversions on disk too
        "cache_items": 64,
        "local_blend_words": None,  # e.g. ["cat"]: edit only where these words attend (source and target)
        "local_blend_threshold": 0.3,
    }

    def _load(self) -> None:
        from diffusers import DDIMScheduler, StableDiffusionPipeline

        pipeline = load_pipeline(StableDiffusionPipeline, self.model, self.revision, self.device, self.dtype)
        self.unet, self.vae = pipeline.unet, pipeline.vae
        self.text_encoder, self.tokenizer = pipeline.text_encoder, pipeline.tokenizer
        self.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config, clip_sample=False,
                                                   set_alpha_to_one=False)
        self.control = AttentionControl(self.steps, 0.0, 0.0, 0)
        install(self.unet, self.control)
        self.cache = InversionCache(self.params["cache_dir"], int(self.params["cache_items"]))
        self.scaling = float(self.vae.config.scaling_factor)

    def _modules(self) -> list[Any]:
        return [self.unet, self.vae, self.text_encoder]

    # -- building blocks -------------------------------------------------------------------------------------
    @torch.no_grad()
    def _embed(self, prompts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        return self.text_encoder(ids.to(self.device))[0].to(self.dtype)

    @torch.no_grad()
    def _encode(self, images: list[Image.Image]) -> torch.Tensor:
        pixels = image_to_tensor(images).to(self.device, self.dtype)
        return self.vae.encode(pixels).latent_dist.mean * self.scaling

    @torch.no_grad()
    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents / self.scaling).sample.float()

    def _cache_extra(self) -> str:
        return ""

    def _invert(self, groups: list[_Group], schedule: Schedule, uncond: torch.Tensor) -> list[Inversion]:
        """DDIM-invert the groups' images in one batch (each under its own source prompt)."""
        latents = self._encode([g.image for g in groups])
        trajectory = ddim_invert(self.unet, schedule, latents, self._embed([g.source for g in groups]))
        return [Inversion([z[i:i + 1] for z in trajectory], None) for i in range(len(groups))]

    def _groups(self, images: list[Image.Image], sources: list[str]) -> list[_Group]:
        groups: dict[str, _Group] = {}
        for i, (image, source) in enumerate(zip(images, sources)):
            key = inversion_key(np.asarray(image).tobytes(), source, self.model_id, self.inversion_method,
                                self.steps, self.guidance, self._cache_extra() + str(self.dtype))
            if key not in groups:
                groups[key] = _Group(key, image, source, [])
            groups[key].items.append(i)
        return list(groups.values())

    def _prepare_groups(self, images: list[Image.Image], sources: list[str], schedule: Schedule,
                        uncond: torch.Tensor) -> list[_Group]:
        groups = self._groups(images, sources)
        for group in groups:
            group.inversion = self.cache.get(group.key, self.device)
            group.cache_hit = group.inversion is not None
        missing = [g for g in groups if g.inversion is None]
        if missing:
            for group, inversion in zip(missing, self._invert(missing, schedule, uncond)):
                group.inversion = inversion
                self.cache.put(group.key, inversion)
        return groups

    def _uncond_at(self, inversion: Inversion, step: int, uncond: torch.Tensor) -> torch.Tensor:
        return uncond if inversion.null_embeddings is None else inversion.null_embeddings[step]

    def _after_step(self, latents: torch.Tensor, rows: list[tuple[_Group, bool]], step: int) -> torch.Tensor:
        mask = self.control.blend_mask(float(self.params["local_blend_threshold"]))
        if mask is None:
            return latents
        assert self.control.source_rows is not None
        sources = latents[self.control.source_rows.to(latents.device)]
        return sources + mask.to(latents.dtype) * (latents - sources)

    def _blend_tokens(self, prompts: list[str]) -> torch.Tensor | None:
        """Per prompt, 1 at the token positions of the local-blend words it contains."""
        words = self.params["local_blend_words"]
        if not words:
            return None
        length = self.tokenizer.model_max_length
        weights = torch.zeros(len(prompts), length)
        for r, prompt in enumerate(prompts):
            ids = self.tokenizer(prompt, add_special_tokens=False).input_ids
            for word in words:
                word_ids = self.tokenizer(word, add_special_tokens=False).input_ids
                for start in range(len(ids) - len(word_ids) + 1):
                    if ids[start:start + len(word_ids)] == word_ids:
                        weights[r, 1 + start:1 + start + len(word_ids)] = 1.0
        if not bool(weights.any()):
            raise EditorError(f"{self.name}: no prompt contains the local blend words {list(words)}")
        return weights

    @torch.no_grad()
    def _sample(self, rows: list[tuple[_Group, bool]], cond: torch.Tensor, schedule: Schedule,
                uncond: torch.Tensor) -> torch.Tensor:
        """Sample every row (a source or a target branch of some group) from its group's inverted noise."""
        latents = torch.cat([group.inversion.trajectory[-1] for group, _ in rows])  # type: ignore[union-attr]
        for i, t in enumerate(schedule.timesteps):
            t = int(t)
            self.control.step = i
            nulls = torch.cat([self._uncond_at(group.inversion, i, uncond) for group, _ in rows])  # type: ignore[arg-type]
            eps = guided_eps(self.unet, latents, t, nulls, cond, self.guidance)
            latents = ddim_move(latents, eps, schedule.alpha(t), schedule.alpha(schedule.previous(t)))
            latents = self._after_step(latents, rows, i)
        self.control.step = -1
        return latents

    # -- the edit --------------------------------------------------------------------------------------------
    def _run(self, images: list[Image.Image], sources: list[str], targets: list[str], knobs: dict[str, float],
             seeds: list[int]) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        schedule = Schedule.from_scheduler(self.scheduler, self.steps)
        uncond = self._embed([""])
        groups = self._prepare_groups(images, sources, schedule, uncond)
        rows: list[tuple[_Group, bool]] = []
        source_rows: list[int] = []
        prompts: list[str] = []
        mappers, alphas, modes = [], [], {}
        length = self.tokenizer.model_max_length
        target_row = {}
        for group in groups:
            own = len(rows)
            rows.append((group, True))
            source_rows.append(own)
            prompts.append(group.source)
            mappers.append(torch.arange(length))
            alphas.append(torch.ones(length))
            for i in group.items:
                try:
                    mapper, alpha, mode = token_mapping(self.tokenizer, group.source, targets[i])
                except ValueError as error:
                    raise EditorError(f"{self.name}: item {i}: {error}") from None
                target_row[i] = len(rows)
                rows.append((group, False))
                source_rows.append(own)
                prompts.append(targets[i])
                mappers.append(mapper)
                alphas.append(alpha)
                modes[i] = mode
        cross = float(knobs["cross_replace_steps"])
        self_steps = float(knobs["self_replace_steps"])
        latent_h, latent_w = groups[0].inversion.trajectory[0].shape[-2:]  # type: ignore[union-attr]
        max_pixels = self.params["self_max_pixels"] or (latent_h // 2) * (latent_w // 2)
        self.control.steps, self.control.self_max_pixels = self.steps, int(max_pixels)
        self.control.cross_replace_steps, self.control.self_replace_steps = cross, self_steps
        self.control.configure(source_rows, torch.stack(mappers), torch.stack(alphas), self._blend_tokens(prompts),
                               (int(latent_h), int(latent_w)))
        try:
            latents = self._sample(rows, self._embed(prompts), schedule, uncond)
        finally:
            self.control.disable()
        order = [target_row[i] for i in range(len(images))]
        decoded = self._decode(latents[order])
        extras = []
        for i in range(len(images)):
            group = rows[target_row[i]][0]
            extra = {"scheduler": type(self.scheduler).__name__, "inversion": self.inversion_method,
                     "local_blend_words": list(self.params["local_blend_words"] or []),
                     "attention_mapping": modes[i], "cross_replace_steps": cross,
                     "self_replace_steps": self_steps, "self_max_pixels": int(max_pixels),
                     "inversion_cached": group.cache_hit}
            extra.update(self._inversion_metadata(group.inversion))  # type: ignore[arg-type]
            extras.append(extra)
        return decoded, extras

    def _inversion_metadata(self, inversion: Inversion) -> dict[str, Any]:
        return {}

    @torch.no_grad()
    def reconstruct(self, images: list[Image.Image], source_prompts: list[str]) -> Reconstruction:
        """Sample only the source branches: the edit's result when the target prompt equals the source prompt."""
        prepared = [prepare_image(im, self.resolution).image for im in images]
        schedule = Schedule.from_scheduler(self.scheduler, self.steps)
        uncond = self._embed([""])
        groups = self._prepare_groups(prepared, list(source_prompts), schedule, uncond)
        self.control.disable()
        rows = [(group, True) for group in groups]
        latents = self._sample(rows, self._embed([g.source for g in groups]), schedule, uncond)
        by_item = {i: j for j, group in enumerate(groups) for i in group.items}
        order = [by_item[i] for i in range(len(prepared))]
        inputs = torch.cat([g.inversion.trajectory[0] for g in groups])  # type: ignore[union-attr]
        return Reconstruction(tensor_to_images(self._decode(latents[order])), latents[order], inputs[order])


@register_editor("p2p-nulltext")
class NullTextEditor(PromptToPromptEditor):
    inversion_method: ClassVar[str] = "null-text"
    known_params: ClassVar[dict[str, Any]] = {**PromptToPromptEditor.known_params, "inner_steps": 10,
                                              "early_stop": 1e-5, "learning_rate": 1e-2}

    def _cache_extra(self) -> str:
        return f"{self.params['inner_steps']}/{self.params['early_stop']}/{self.params['learning_rate']}"

    def _invert(self, groups: list[_Group], schedule: Schedule, uncond: torch.Tensor) -> list[Inversion]:
        """DDIM inversion in one batch, then the null-text optimisation image by image (each stops early on its
        own, so a batch gives what its images give one by one)."""
        inversions = super()._invert(groups, schedule, uncond)
        for group, inversion in zip(groups, inversions):
            with torch.enable_grad():
                inversion.null_embeddings, inversion.inner_steps = null_text_optimise(
                    self.unet, schedule, inversion.trajectory, self._embed([group.source]), uncond, self.guidance,
                    int(self.params["inner_steps"]), float(self.params["early_stop"]),
                    float(self.params["learning_rate"]))
        return inversions

    def _inversion_metadata(self, inversion: Inversion) -> dict[str, Any]:
        used = inversion.inner_steps or []
        return {"null_text_inner_steps": int(self.params["inner_steps"]),
                "null_text_early_stop": float(self.params["early_stop"]),
                "null_text_steps_taken": int(sum(used))}


@register_editor("p2p-direct")
class DirectInversionEditor(PromptToPromptEditor):
    inversion_method: ClassVar[str] = "direct"

    def _after_step(self, latents: torch.Tensor, rows: list[tuple[_Group, bool]], step: int) -> torch.Tensor:
        levels = len(rows[0][0].inversion.trajectory) - 1  # type: ignore[union-attr]
        for r, (group, is_source) in enumerate(rows):
            if is_source:
                latents[r] = group.inversion.trajectory[levels - 1 - step][0]  # type: ignore[union-attr]
        return super()._after_step(latents, rows, step)  # local blend against the corrected sources
