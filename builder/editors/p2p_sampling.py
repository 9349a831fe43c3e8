"""One sampling run of a prompt-to-prompt editor (`p2p`): what its steps and UNet passes share, one pass at a time,
and local blend.

A pass's batch is [branches' unconditional rows; held sources' conditional rows; branches' conditional rows]: the
source branches are read off their inversion's path (`Inversion.source_path`), so only their conditional rows run,
for the maps the branches take (`attention.CallPlan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from PIL import Image

from builder.editors.attention import AttentionControl, CallPlan, blend_mask
from builder.editors.base import EditorError
from builder.editors.inversion import Inversion, Schedule, ddim_move, predict_noise
from builder.editors.sharing import Lane


@dataclass
class Source:
    """One source image under its source prompt, with the items that edit it."""

    key: str
    image: Image.Image
    prompt: str
    items: list[int]
    inversion: Inversion | None = None
    cache_hit: bool = False


class Sampler(Protocol):
    """What a run reads of its editor (`p2p.PromptToPromptEditor`)."""

    name: str
    unet: Any
    tokenizer: Any
    control: AttentionControl
    guidance: float
    blend_downsample: int
    params: dict[str, Any]


class SamplingRun:
    """What one sampling run of an editor shares across its steps and passes: the sources' paths, the prompts'
    embeddings and token mappings, and, with local blend, the sources' accumulated maps."""

    def __init__(self, editor: Sampler, sources: list[Source], uncond: torch.Tensor,
                 mappings: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor, str]],
                 embedded: dict[str, torch.Tensor], tokens: dict[str, torch.Tensor] | None,
                 latent_size: tuple[int, ...]):
        self.editor, self.sources, self.uncond = editor, sources, uncond
        self.mappings, self.embedded, self.tokens = mappings, embedded, tokens
        self.paths = [s.inversion.source_path for s in sources]  # type: ignore[union-attr]
        self.latent_size = latent_size
        length = editor.tokenizer.model_max_length
        self.identity = (torch.arange(length), torch.ones(length))
        self.source_maps: dict[int, torch.Tensor] = {}
        self.masks: dict[int, torch.Tensor] = {}  # edit -> the mask of its latest blend
        self._mapped: set[int] = set()

    def begin_step(self) -> None:
        self._mapped = set()  # a source held by several passes of a step adds its maps once

    def _plan(self, own: list[Lane], holds: list[int]) -> CallPlan:
        m = len(holds)
        row_of = {source: r for r, source in enumerate(holds)}
        mappers = [self.identity] * m + [self.mappings[(self.sources[lane.source].prompt, lane.prompt)][:2]
                                         for lane in own]
        return CallPlan(
            cond_rows=m + len(own),
            source=torch.tensor(list(range(m)) + [row_of.get(lane.source, m + k) for k, lane in enumerate(own)]),
            cross=torch.tensor([False] * m + [lane.cross for lane in own]),
            self_=torch.tensor([False] * m + [lane.self_ for lane in own]),
            mappers=torch.stack([a for a, _ in mappers]), alphas=torch.stack([b for _, b in mappers]),
            blend_tokens=None if self.tokens is None else torch.stack(
                [self.tokens[self.sources[s].prompt] for s in holds] + [self.tokens[lane.prompt] for lane in own]),
            blend_queries=(self.latent_size[0] // self.editor.blend_downsample)
            * (self.latent_size[1] // self.editor.blend_downsample))

    def sample_pass(self, schedule: Schedule, step: int, own: list[Lane], states: list[torch.Tensor],
                    holds: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One UNet pass: [branches' unconditional rows; held sources' conditional rows; branches' conditional
        rows]. Returns the branches' next latents and, with local blend, their maps of this pass."""
        editor, n, m = self.editor, len(own), len(holds)
        t, alpha_from, alpha_to = schedule.move(step)
        latents = torch.cat(states + [self.paths[s][step][None] for s in holds] + states)
        context = torch.cat([self.sources[lane.source].inversion.null_at(step, self.uncond)  # type: ignore[union-attr]
                             for lane in own] + [self.embedded[self.sources[s].prompt] for s in holds]
                            + [self.embedded[lane.prompt] for lane in own])
        editor.control.begin(self._plan(own, holds), step)
        try:
            eps = predict_noise(editor.unet, latents, t, context)
            maps = editor.control.blend_maps
        finally:
            editor.control.end()
        moved = ddim_move(latents[:n], eps[:n] + editor.guidance * (eps[n + m:] - eps[:n]), alpha_from, alpha_to)
        if self.tokens is None:
            return moved, None
        if maps is None:
            side = [n // editor.blend_downsample for n in self.latent_size]
            raise EditorError(f"{editor.name}: local blend needs cross-attention at {side[0]}x{side[1]} (the latent "
                              f"side / local_blend_downsample {editor.blend_downsample}); this UNet has none")
        for r, source in enumerate(holds):
            if source not in self._mapped:
                self.source_maps[source] = self.source_maps[source] + maps[r] if source in self.source_maps \
                    else maps[r]
                self._mapped.add(source)
        return moved, maps[m:]

    def blend(self, step: int, own: list[Lane], maps: list[torch.Tensor | None], moved: torch.Tensor
              ) -> torch.Tensor:
        """Local blend: each branch keeps its own latents where its or its source's words are, the source's
        (its next latents on its path) elsewhere."""
        sources = torch.stack([self.source_maps[lane.source] for lane in own])
        mask = blend_mask(torch.stack(maps), sources, self.latent_size,  # type: ignore[arg-type]
                          float(self.editor.params["local_blend_threshold"]))
        following = torch.stack([self.paths[lane.source][step + 1] for lane in own])
        for lane, lane_mask in zip(own, mask):
            for item in lane.items:
                self.masks[item] = lane_mask
        return following + mask.to(moved.dtype) * (moved - following)
