"""Prompt-to-prompt editors: the source study's null-text inversion (`p2p-nulltext`) and Direct Inversion, which
needs no optimisation (`p2p-directinv`, also registered under its earlier name `p2p-direct`), on the components of
a stock StableDiffusionPipeline.

Both invert each source image once (DDIM, source prompt; `inversion`), then sample every edit of the batch from
the inverted noise with the target's attention maps taken from the source (`attention`). The source branch of
an image is known before sampling starts: it is the path the inversion computed, so a pass runs only its
conditional part (whose maps the edits take) and only while some edit takes them. Edits that agree (same image,
same target, same injection schedule so far) share one path until their schedules part (`sharing`).

- `p2p-nulltext` optimises the null-text embedding of every step (Mokady et al., 2023), with the authors'
  settings (10 inner Adam steps, early stop at 1e-5 + i·2e-5); the optimised embeddings are the unconditional
  input of every branch, and the source branch is the path sampled with them.
- `p2p-directinv` is Direct Inversion (Ju et al., ICLR 2024, "PnP Inversion"; github cure-lab/PnPInversion):
  every branch samples with the plain empty-prompt embedding, and after each step the source branch is moved back
  onto the DDIM-inverted trajectory by the difference between the inverted latent and its own guided prediction.
  That difference, added to that prediction, *is* the inverted latent, so the source branch here is read off the
  trajectory instead of being predicted and then corrected: the target branches see the same source maps and the
  same blend source, the source's unconditional rows and guided step (which only the correction consumed) are not
  run, and no backward pass is either. tests/test_directinv_reference.py compares it with a reference written
  from the authors' steps (their `offset_calculate` and `direct_inversion_p2p_guidance_forward`).
  `p2p-direct`, this editor's name before it was checked against the authors' code, runs the same code.

Local blend (off unless `local_blend_words` is set) follows the authors' code: the blend words' cross-attention
maps at 1/4 of the latent side (16x16 at 512 px; `local_blend_downsample`), summed from the first step, blend
each edit with its source from 20% of the steps on (`local_blend_start`), with a 3x3 max-pool and a 0.3
threshold. With `blend_space: pixels` the decoded edit is also composited over the source image outside the
final mask (`compositing`), since the decoder moves background pixels whose latents the blend kept.

Both are deterministic functions of the image and prompts: the seed is recorded but draws no noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from builder.generation.determinism import optimisation_attention
from builder.editors.attention import P2P_MODES, AttentionControl, install, token_mapping
from builder.editors.base import Editor, EditorError, load_pipeline, register_editor
from builder.editors.compositing import BLEND_SPACES, composite, default_feather
from builder.editors.inversion import (Inversion, InversionCache, NullTextSettings, Schedule, ddim_invert,
                                       inversion_key, null_text_optimise)
from builder.editors.preprocess import image_to_tensor, prepare_image, tensor_to_images
from builder.editors.p2p_sampling import SamplingRun, Source
from builder.editors.sharing import EditSchedule, Lane, initial_lanes, passes, split


@dataclass
class Reconstruction:
    """The source branch alone: what editing reproduces when the target prompt equals the source prompt."""

    images: list[Image.Image]
    latents: torch.Tensor  # reconstructed clean latents
    input_latents: torch.Tensor  # the encoded inputs


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
        "local_blend_start": 0.2,  # the fraction of the steps before blending starts
        # the blend maps' grid is the latent side divided by this: 4 as in the authors' code (16x16 at 512 px);
        # 2 for a model at 64 px, whose 4x4 maps, max-pooled 3x3, cover nearly the whole image
        "local_blend_downsample": 4,
        "p2p_mode": "refine",  # how target tokens take source maps: refine (the study's) or replace (equal lengths)
        "blend_space": "latent",  # latent: the authors' (and the study's); pixels: composite over the source image
        "blend_feather": None,  # pixels: the mask's edge ramps over this many pixels each side (None: half a cell)
    }

    def _load(self) -> None:
        from diffusers import DDIMScheduler, StableDiffusionPipeline

        if self.params["p2p_mode"] not in P2P_MODES:
            raise EditorError(f"{self.name}: p2p_mode {self.params['p2p_mode']!r} is not one of "
                              f"{', '.join(P2P_MODES)}")

        pipeline = load_pipeline(StableDiffusionPipeline, self.pin, self.device, self.dtype)
        self.unet, self.vae = pipeline.unet, pipeline.vae
        self.text_encoder, self.tokenizer = pipeline.text_encoder, pipeline.tokenizer
        self.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config, clip_sample=False,
                                                   set_alpha_to_one=False)
        self.control = AttentionControl()
        install(self.unet, self.control)
        self.cache = InversionCache(self.params["cache_dir"], int(self.params["cache_items"]))
        downsample = self.params["local_blend_downsample"]
        self.blend_downsample = downsample if isinstance(downsample, int) and not isinstance(downsample, bool) else 0
        if self.blend_downsample < 1:
            raise EditorError(f"{self.name}: local_blend_downsample must be a positive integer, got "
                              f"{self.params['local_blend_downsample']!r}")
        self.scaling = float(self.vae.config.scaling_factor)
        self._check_blend_space()

    def _check_blend_space(self) -> None:
        space, feather = self.params["blend_space"], self.params["blend_feather"]
        if space not in BLEND_SPACES:
            raise EditorError(f"{self.name}: blend_space {space!r} is not one of {', '.join(BLEND_SPACES)}")
        if space == "pixels" and not self.params["local_blend_words"]:
            raise EditorError(f"{self.name}: blend_space pixels composites outside the local blend mask; set "
                              "local_blend_words too")
        if feather is not None and (isinstance(feather, bool) or not isinstance(feather, int) or feather < 0):
            raise EditorError(f"{self.name}: blend_feather must be a whole number of pixels >= 0, got {feather!r}")

    def _modules(self) -> list[Any]:
        return [self.unet, self.vae, self.text_encoder]

    # -- building blocks -------------------------------------------------------------------------------------
    @torch.no_grad()
    def _embed(self, prompts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        return self.text_encoder(ids.to(self.device))[0].float()

    @torch.no_grad()
    def _encode(self, images: list[Image.Image]) -> torch.Tensor:
        pixels = image_to_tensor(images).to(self.device, self.dtype)
        return self.vae.encode(pixels).latent_dist.mean.float() * self.scaling

    @torch.no_grad()
    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        chunks = [self.vae.decode((chunk / self.scaling).to(self.dtype)).sample.float()
                  for chunk in latents.split(self.batch_size)]
        return torch.cat(chunks)

    def _cache_extra(self) -> str:
        return ""

    def _trajectories(self, sources: list[Source], schedule: Schedule) -> torch.Tensor:
        """DDIM-invert the sources' images in one batch, each under its own source prompt: [T+1, B, C, h, w]."""
        latents = self._encode([s.image for s in sources])
        return ddim_invert(self.unet, schedule, latents, self._embed([s.prompt for s in sources]))

    def _invert(self, sources: list[Source], schedule: Schedule, uncond: torch.Tensor) -> list[Inversion]:
        trajectory = self._trajectories(sources, schedule)
        return [Inversion(trajectory[:, i]) for i in range(len(sources))]

    def _sources(self, images: list[Image.Image], prompts: list[str]) -> list[Source]:
        found: dict[str, Source] = {}
        for i, (image, prompt) in enumerate(zip(images, prompts)):
            key = inversion_key(np.asarray(image).tobytes(), prompt, self.model_id, self.inversion_method,
                                self.steps, self.guidance, self._cache_extra() + str(self.dtype))
            if key not in found:
                found[key] = Source(key, image, prompt, [])
            found[key].items.append(i)
        return list(found.values())

    def _prepare_sources(self, images: list[Image.Image], prompts: list[str], schedule: Schedule,
                         uncond: torch.Tensor) -> list[Source]:
        sources = self._sources(images, prompts)
        for source in sources:
            source.inversion = self.cache.get(source.key, self.device)
            source.cache_hit = source.inversion is not None
        missing = [s for s in sources if s.inversion is None]
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start:start + self.batch_size]
            for source, inversion in zip(chunk, self._invert(chunk, schedule, uncond)):
                source.inversion = inversion
                self.cache.put(source.key, inversion)
        return sources

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

    # -- sampling ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _sample(self, sources: list[Source], edits: list[EditSchedule], schedule: Schedule, uncond: torch.Tensor,
                mappings: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor, str]]
                ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """The final latents of every edit [N, C, h, w], sampled lane by lane (`sharing`), and with local blend the
        last mask [1, h, w] each edit was blended with, by edit; `mappings` holds the token mapping of every
        (source prompt, target prompt)."""
        steps = len(schedule)
        latent_size = tuple(sources[0].inversion.trajectory.shape[-2:])  # type: ignore[union-attr]
        prompts = list(dict.fromkeys([s.prompt for s in sources] + [e.prompt for e in edits]))
        blend_tokens = self._blend_tokens(prompts)
        run = SamplingRun(self, sources, uncond, mappings, dict(zip(prompts, self._embed(prompts).split(1))),
                           None if blend_tokens is None else dict(zip(prompts, blend_tokens)), latent_size)
        blend_from = int(float(self.params["local_blend_start"]) * steps)
        self.control.self_max_pixels = int(self.params["self_max_pixels"]
                                           or (latent_size[0] // 2) * (latent_size[1] // 2))
        self.control.log.clear()
        lanes: list[Lane] = initial_lanes(edits)
        states = [run.paths[lane.source][0][None] for lane in lanes]
        maps: list[torch.Tensor | None] = [None] * len(lanes)  # local blend: each lane's maps so far
        for step in range(steps):
            lanes, parents = split(edits, lanes, step)
            states, maps = [states[p] for p in parents], [maps[p] for p in parents]
            run.begin_step()
            for members, holds in passes(lanes, self.batch_size, run.tokens is not None):
                moved, call_maps = run.sample_pass(schedule, step, [lanes[j] for j in members],
                                                   [states[j] for j in members], holds)
                if call_maps is not None:
                    for k, j in enumerate(members):
                        maps[j] = call_maps[k] if maps[j] is None else maps[j] + call_maps[k]
                    if step >= blend_from:
                        moved = run.blend(step, [lanes[j] for j in members], [maps[j] for j in members], moved)
                for k, j in enumerate(members):
                    states[j] = moved[k:k + 1]
            if run.tokens is not None and step >= blend_from:
                self.control.log.append((step, "blend"))
        final = torch.empty(len(edits), *states[0].shape[1:], device=states[0].device)
        for lane, state in zip(lanes, states):
            final[list(lane.items)] = state
        return final, run.masks

    # -- the edit --------------------------------------------------------------------------------------------
    def _run(self, images: list[Image.Image], sources: list[str], targets: list[str],
             knobs: list[dict[str, float]], seeds: list[int]) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        schedule = Schedule.from_scheduler(self.scheduler, self.steps)
        uncond = self._embed([""])
        prepared = self._prepare_sources(images, sources, schedule, uncond)
        source_of = {i: k for k, s in enumerate(prepared) for i in s.items}
        mappings: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor, str]] = {}
        for i, target in enumerate(targets):
            if (sources[i], target) not in mappings:
                try:
                    mappings[(sources[i], target)] = token_mapping(self.tokenizer, sources[i], target,
                                                                   self.params["p2p_mode"])
                except ValueError as error:
                    raise EditorError(f"{self.name}: item {i}: {error}") from None
        edits = [EditSchedule.from_knobs(source_of[i], targets[i], self.steps, k) for i, k in enumerate(knobs)]
        latents, masks = self._sample(prepared, edits, schedule, uncond, mappings)
        decoded = self._decode(latents)
        pixels = self.params["blend_space"] == "pixels"
        feather = self.params["blend_feather"]
        if feather is None:
            feather = default_feather(decoded.shape[-1], latents.shape[-1])
        if pixels and masks:
            blended = sorted(masks)
            decoded[blended] = composite(decoded[blended], image_to_tensor([images[i] for i in blended]),
                                         torch.stack([masks[i] for i in blended]), feather)
        extras = []
        for i in range(len(images)):
            source = prepared[source_of[i]]
            extra = {"scheduler": type(self.scheduler).__name__, "inversion": self.inversion_method,
                     "local_blend_words": list(self.params["local_blend_words"] or []),
                     "p2p_mode": mappings[(sources[i], targets[i])][2],
                     "cross_replace_steps": float(knobs[i]["cross_replace_steps"]),
                     "self_replace_steps": float(knobs[i]["self_replace_steps"]), "self_max_pixels": self.control.self_max_pixels,
                     "inversion_cached": source.cache_hit}
            if self.params["local_blend_words"]:
                extra.update(local_blend_threshold=float(self.params["local_blend_threshold"]),
                             local_blend_start=float(self.params["local_blend_start"]),
                             local_blend_downsample=self.blend_downsample, blend_space=self.params["blend_space"])
                if pixels:
                    extra["blend_feather"] = feather
            extra.update(self._inversion_metadata(source.inversion))  # type: ignore[arg-type]
            extras.append(extra)
        return decoded, extras

    def _inversion_metadata(self, inversion: Inversion) -> dict[str, Any]:
        return {}

    @torch.no_grad()
    def reconstruct(self, images: list[Image.Image], source_prompts: list[str]) -> Reconstruction:
        """The source branches alone: the edit's result when the target prompt equals the source prompt (for
        null-text, guided sampling with the optimised embeddings: the path the optimisation sampled)."""
        prepared = [prepare_image(im, self.resolution).image for im in images]
        schedule = Schedule.from_scheduler(self.scheduler, self.steps)
        sources = self._prepare_sources(prepared, list(source_prompts), schedule, self._embed([""]))
        latents = torch.stack([s.inversion.source_path[-1] for s in sources])  # type: ignore[union-attr]
        by_item = {i: j for j, source in enumerate(sources) for i in source.items}
        order = [by_item[i] for i in range(len(prepared))]
        inputs = torch.stack([s.inversion.trajectory[0] for s in sources])  # type: ignore[union-attr]
        return Reconstruction(tensor_to_images(self._decode(latents[order])), latents[order], inputs[order])


MAX_NULL_TEXT_STEPS = 101  # step i optimises at learning_rate * (1 - i/100): zero at step 100, negative after


@register_editor("p2p-nulltext")
class NullTextEditor(PromptToPromptEditor):
    inversion_method: ClassVar[str] = "null-text"
    known_params: ClassVar[dict[str, Any]] = {**PromptToPromptEditor.known_params, "inner_steps": 10,
                                              "early_stop": 1e-5, "early_stop_slope": 2e-5, "learning_rate": 1e-2}
    gradient_observer: Any = None  # called with every unscaled gradient of the optimisation (diagnostics)

    def _load(self) -> None:
        last = MAX_NULL_TEXT_STEPS - 1
        if self.steps > MAX_NULL_TEXT_STEPS:
            raise EditorError(f"{self.name}: steps must be at most {MAX_NULL_TEXT_STEPS}, got {self.steps}: the "
                              f"authors' learning rate, learning_rate * (1 - i/100) at step i, is negative after step "
                              f"{last}")
        super()._load()

    @property
    def settings(self) -> NullTextSettings:
        return NullTextSettings(self.guidance, int(self.params["inner_steps"]), float(self.params["early_stop"]),
                                float(self.params["early_stop_slope"]), float(self.params["learning_rate"]))

    def _cache_extra(self) -> str:
        return self.settings.key()

    def _invert(self, sources: list[Source], schedule: Schedule, uncond: torch.Tensor) -> list[Inversion]:
        """DDIM inversion, then the null-text optimisation of the batch's images together (each stops early on
        its own, so a batch gives what its images give one by one)."""
        trajectory = self._trajectories(sources, schedule)
        with torch.enable_grad():
            results = null_text_optimise(self.unet, schedule, trajectory, self._embed([s.prompt for s in sources]),
                                         uncond, self.settings, self.gradient_observer,
                                         lambda: optimisation_attention(self.device))
        return [Inversion(trajectory[:, i], r.embeddings, r.steps_taken, r.path) for i, r in enumerate(results)]

    def _inversion_metadata(self, inversion: Inversion) -> dict[str, Any]:
        settings = self.settings
        return {"null_text_inner_steps": settings.inner_steps, "null_text_early_stop": settings.early_stop,
                "null_text_early_stop_slope": settings.early_stop_slope,
                "null_text_learning_rate": settings.learning_rate,
                "null_text_steps_taken": int(sum(inversion.inner_steps or []))}


@register_editor("p2p-directinv")
class DirectInversionEditor(PromptToPromptEditor):
    """Direct Inversion (Ju et al., ICLR 2024): the source branch on the DDIM-inverted trajectory at every step."""

    inversion_method: ClassVar[str] = "direct"


@register_editor("p2p-direct")
class DirectEditor(DirectInversionEditor):
    """`p2p-direct`: Direct Inversion under the name it had before it was checked against the authors' code, kept so
    recipes and rows that name it regenerate (the same inversions, the same pixels)."""
