"""Editors that are one call of a stock diffusers pipeline: InstructPix2Pix and SDEdit (image-to-image).

Each item gets its own torch.Generator seeded with its seed, so a batch gives what the items give one by one and
another seed gives another edit. Items are grouped by severity (a pipeline call takes one setting) and called in
chunks of `batch_size`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from PIL import Image

from builder.editors.base import Editor, EditorError, load_pipeline, register_editor


class _PipelineEditor(Editor):
    pipeline_class: ClassVar[str]

    def _load(self) -> None:
        import diffusers

        self.pipeline = load_pipeline(getattr(diffusers, self.pipeline_class), self.pin, self.device, self.dtype)

    def _modules(self) -> list[Any]:
        return [self.pipeline.unet, self.pipeline.vae, self.pipeline.text_encoder]

    def _generators(self, seeds: list[int]) -> list[torch.Generator]:
        return [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]

    def _call(self, images: list[Image.Image], prompts: list[str], knobs: dict[str, float],
              seeds: list[int]) -> torch.Tensor:
        raise NotImplementedError

    def _run(self, images: list[Image.Image], sources: list[str], targets: list[str],
             knobs: list[dict[str, float]], seeds: list[int]) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        prompts = self._prompts(sources, targets)
        groups: dict[tuple[tuple[str, float], ...], list[int]] = {}
        for i, item_knobs in enumerate(knobs):
            groups.setdefault(tuple(sorted(item_knobs.items())), []).append(i)
        outputs: dict[int, torch.Tensor] = {}
        for members in groups.values():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start:start + self.batch_size]
                result = self._call([images[i] for i in chunk], [prompts[i] for i in chunk], knobs[chunk[0]],
                                    [seeds[i] for i in chunk])
                outputs.update(zip(chunk, result))
        extras = [{"scheduler": type(self.pipeline.scheduler).__name__, "editor_prompt": p} for p in prompts]
        return torch.stack([outputs[i] for i in range(len(images))]), extras

    def _prompts(self, sources: list[str], targets: list[str]) -> list[str]:
        return list(targets)


@register_editor("instruct-pix2pix")
class InstructPix2PixEditor(_PipelineEditor):
    """InstructPix2Pix (Brooks et al., 2023): the target prompt phrased as an instruction."""

    family: ClassVar[str] = "instruct_pix2pix"
    default_model: ClassVar[str] = "timbrooks/instruct-pix2pix"
    default_steps: ClassVar[int] = 50
    pipeline_class: ClassVar[str] = "StableDiffusionInstructPix2PixPipeline"
    known_params: ClassVar[dict[str, Any]] = {
        "instruction": "turn it into {target}",  # {target} and {source}: the prompts of the item
        "image_guidance_scale": None,  # None: from the severity level
        "guidance_scale": None,
    }

    def _prompts(self, sources: list[str], targets: list[str]) -> list[str]:
        template = str(self.params["instruction"])
        try:
            return [template.format(source=s, target=t) for s, t in zip(sources, targets)]
        except (KeyError, IndexError) as error:
            raise EditorError(f"{self.name}: instruction {template!r} uses an unknown slot {error}; "
                              "use {source} and {target}") from None

    def _call(self, images: list[Image.Image], prompts: list[str], knobs: dict[str, float],
              seeds: list[int]) -> torch.Tensor:
        result = self.pipeline(prompt=prompts, image=images, num_inference_steps=self.steps,
                               guidance_scale=knobs["guidance_scale"],
                               image_guidance_scale=knobs["image_guidance_scale"],
                               generator=self._generators(seeds), output_type="pt")
        return result.images * 2 - 1


@register_editor("sdedit")
class SDEditEditor(_PipelineEditor):
    """SDEdit (Meng et al., 2022): re-noise the image part of the way and denoise it under the target prompt."""

    family: ClassVar[str] = "sdedit"
    default_model: ClassVar[str] = "CompVis/stable-diffusion-v1-4"
    pipeline_class: ClassVar[str] = "StableDiffusionImg2ImgPipeline"
    known_params: ClassVar[dict[str, Any]] = {"strength": None}  # None: from the severity level

    def _call(self, images: list[Image.Image], prompts: list[str], knobs: dict[str, float],
              seeds: list[int]) -> torch.Tensor:
        if int(self.steps * knobs["strength"]) < 1:
            raise EditorError(f"{self.name}: strength {knobs['strength']} with {self.steps} steps runs no "
                              "denoising step; raise the steps or the strength")
        result = self.pipeline(prompt=prompts, image=images, strength=knobs["strength"],
                               num_inference_steps=self.steps, guidance_scale=self.guidance,
                               generator=self._generators(seeds), output_type="pt")
        return result.images * 2 - 1
