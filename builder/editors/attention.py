"""Prompt-to-prompt attention control as diffusers attention processors.

A batch holds, for each source image, its source branch and one or more target branches. While the controller is
active, each target branch's attention maps are taken from its source branch:

- cross-attention (image queries x prompt tokens) for the first `cross_replace_steps` of the denoising steps:
  through a token mapping, so a word shared by both prompts keeps the source's map and a new word keeps its own
  ("refine"); when both prompts have the same number of tokens, every map is the source's ("replace");
- self-attention for the first `self_replace_steps`, in layers whose maps are at most `self_max_pixels` queries
  (the coarse layers carry the layout).

With local blend, the cross-attention maps of chosen words (summed over layers and steps) mark where those words
are; after each step, each target keeps its own latents only there (united with its source's region) and takes
the source's everywhere else.

Only the conditional half of the classifier-free-guidance batch is controlled, as in prompt-to-prompt: its maps are
computed in the open, the unconditional half runs PyTorch's fused attention, and so does everything outside the
active steps and layers, where the control costs nothing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F


def token_mapping(tokenizer: Any, source: str, target: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    """For every target token position, the source position whose map it takes and the weight of that map.

    Returns (mapper [L] long, alphas [L] float, mode) with L the tokenizer's max length; mode is "replace" when
    the prompts have equally many tokens, else "refine" (words found in both by sequence alignment take the
    source's maps, new words keep theirs).
    """
    length = tokenizer.model_max_length
    src = tokenizer(source, add_special_tokens=False).input_ids
    tgt = tokenizer(target, add_special_tokens=False).input_ids
    limit = length - 2
    if len(src) > limit or len(tgt) > limit:
        longest = source if len(src) > len(tgt) else target
        raise ValueError(f"prompt {longest!r} has {max(len(src), len(tgt))} tokens; the text encoder takes {limit}")
    mapper = torch.arange(length)
    alphas = torch.ones(length)
    if len(src) == len(tgt):
        return mapper, alphas, "replace"
    # positions: 0 is the start token; words are 1..n; then the end token and padding
    matcher = difflib.SequenceMatcher(None, src, tgt, autojunk=False)
    alphas[1:len(tgt) + 1] = 0.0
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            mapper[1 + block.b + k] = 1 + block.a + k
            alphas[1 + block.b + k] = 1.0
    tail = torch.arange(len(tgt) + 1, length)
    mapper[len(tgt) + 1:] = torch.clamp(tail - len(tgt) + len(src), max=length - 1)
    return mapper, alphas, "refine"


@dataclass
class AttentionControl:
    """Shared state of the processors: which batch rows are targets of which source, and the current step."""

    steps: int
    cross_replace_steps: float
    self_replace_steps: float
    self_max_pixels: int
    source_rows: torch.Tensor | None = None  # [B] for the conditional half: the source row of each row
    mappers: torch.Tensor | None = None  # [B, L]
    alphas: torch.Tensor | None = None  # [B, L]
    step: int = -1
    log: list[tuple[int, str]] = field(default_factory=list)  # (step, "cross"/"self") whenever a map was replaced
    # local blend: per row, the weight of each token in the blend words' map; maps summed over layers and steps
    blend_tokens: torch.Tensor | None = None  # [B, L]
    blend_size: tuple[int, int] = (0, 0)  # latent height and width
    blend_maps: torch.Tensor | None = None  # [B, h, w]
    _on_device: dict[Any, tuple[torch.Tensor, ...]] = field(default_factory=dict, repr=False)

    def configure(self, source_rows: list[int], mappers: torch.Tensor, alphas: torch.Tensor,
                  blend_tokens: torch.Tensor | None = None, blend_size: tuple[int, int] = (0, 0)) -> None:
        self.source_rows = torch.tensor(source_rows)
        self.mappers, self.alphas = mappers, alphas
        self.blend_tokens, self.blend_size, self.blend_maps = blend_tokens, blend_size, None
        self._on_device.clear()
        self.log.clear()

    def _tensors(self, device: Any, dtype: Any) -> tuple[torch.Tensor, ...]:
        """(source rows, target rows, target mappers, target alphas) on a device, moved once per configuration."""
        key = (device, dtype)
        if key not in self._on_device:
            assert self.source_rows is not None and self.mappers is not None and self.alphas is not None
            targets = torch.nonzero(self.source_rows != torch.arange(len(self.source_rows))).flatten()
            self._on_device[key] = (self.source_rows.to(device), targets.to(device),
                                    self.mappers[targets].to(device), self.alphas[targets].to(device, dtype))
        return self._on_device[key]

    def disable(self) -> None:
        self.source_rows = None
        self.blend_tokens = self.blend_maps = None

    def _record_blend(self, probs: torch.Tensor) -> None:
        """Add this layer's maps of the blend words, resized to the latent grid, to the running sum."""
        assert self.blend_tokens is not None
        weights = self.blend_tokens.to(device=probs.device, dtype=torch.float32)
        maps = torch.einsum("bqk,bk->bq", probs.float().mean(dim=1), weights)
        side = int(round(maps.shape[1] ** 0.5))
        if side * side != maps.shape[1]:
            return  # a non-square layer cannot be placed on the grid
        grid = F.interpolate(maps.view(-1, 1, side, side), size=self.blend_size, mode="bilinear",
                             align_corners=False)[:, 0]
        self.blend_maps = grid if self.blend_maps is None else self.blend_maps + grid

    def blend_mask(self, threshold: float) -> torch.Tensor | None:
        """Per row, where the blend words are (their maps so far, normalised, above `threshold`), united with the
        row's source; None before any map was recorded."""
        if self.blend_maps is None or self.source_rows is None:
            return None
        maps = F.max_pool2d(self.blend_maps[:, None], 3, stride=1, padding=1)[:, 0]
        maps = maps / maps.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
        mask = maps > threshold
        rows = self.source_rows.to(mask.device)
        return (mask | mask[rows])[:, None]

    @property
    def cross_until(self) -> int:
        return int(self.steps * self.cross_replace_steps)

    @property
    def self_until(self) -> int:
        return int(self.steps * self.self_replace_steps)

    def wants(self, is_cross: bool, queries: int) -> bool:
        if self.source_rows is None or self.step < 0:
            return False
        if is_cross:
            return self.step < self.cross_until or self.blend_tokens is not None
        return self.step < self.self_until and queries <= self.self_max_pixels

    def shared_self_attention(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                              scale: float) -> torch.Tensor:
        """Self-attention of the conditional half where every row uses its source's maps [B, heads, Q, d]."""
        rows = self._tensors(query.device, query.dtype)[0]
        sources, position = torch.unique(rows, return_inverse=True)
        scores = torch.matmul(query[sources].float(), key[sources].float().transpose(-1, -2)) * scale
        probs = scores.softmax(dim=-1).to(value.dtype)
        self.log.append((self.step, "self"))
        return torch.matmul(probs[position], value)

    def apply(self, probs: torch.Tensor, is_cross: bool) -> torch.Tensor:
        """probs [B, heads, Q, K] of the conditional half -> the same, with each target's maps controlled."""
        rows, targets, mappers, alphas = self._tensors(probs.device, probs.dtype)
        if is_cross and self.blend_tokens is not None:
            self._record_blend(probs)
            if self.step >= self.cross_until:
                return probs
        src = probs[rows[targets]]
        if is_cross:
            index = mappers[:, None, None, :].expand(-1, src.shape[1], src.shape[2], -1)
            weights = alphas[:, None, None, :]
            probs[targets] = torch.gather(src, 3, index) * weights + probs[targets] * (1 - weights)
            self.log.append((self.step, "cross"))
        else:
            probs[targets] = src
            self.log.append((self.step, "self"))
        return probs


class ControlledAttnProcessor:
    """An attention processor that hands its maps to an AttentionControl when the control wants them."""

    def __init__(self, control: AttentionControl):
        self.control = control

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args: Any,
                 **kwargs: Any) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channels, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channels, height * width).transpose(1, 2)
        batch, queries, _ = hidden_states.shape
        is_cross = encoder_hidden_states is not None
        context = encoder_hidden_states if is_cross else hidden_states
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        if is_cross and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, context.shape[1], batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])

        heads = attn.heads
        query = attn.to_q(hidden_states).view(batch, -1, heads, attn.to_q.out_features // heads).transpose(1, 2)
        key = attn.to_k(context).view(batch, -1, heads, attn.to_k.out_features // heads).transpose(1, 2)
        value = attn.to_v(context).view(batch, -1, heads, attn.to_v.out_features // heads).transpose(1, 2)

        if self.control.wants(is_cross, queries):
            # the unconditional half runs fused; the conditional half needs its maps in the open
            half = batch // 2
            mask_u = mask_c = attention_mask
            if attention_mask is not None and attention_mask.shape[0] == batch:
                mask_u, mask_c = attention_mask[:half], attention_mask[half:]
            out_u = F.scaled_dot_product_attention(query[:half], key[:half], value[:half], attn_mask=mask_u,
                                                   scale=attn.scale)
            if is_cross or mask_c is not None:
                scores = torch.matmul(query[half:].float(), key[half:].float().transpose(-1, -2)) * attn.scale
                if mask_c is not None:
                    scores = scores + mask_c
                probs = self.control.apply(scores.softmax(dim=-1).to(value.dtype), is_cross)
                out_c = torch.matmul(probs, value[half:])
            else:  # targets take their source's self-attention maps whole: compute the sources' maps only
                out_c = self.control.shared_self_attention(query[half:], key[half:], value[half:], attn.scale)
            out = torch.cat([out_u, out_c])
        else:
            out = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, scale=attn.scale)
        out = out.transpose(1, 2).reshape(batch, -1, heads * value.shape[-1]).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(batch, channels, height, width)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def install(unet: Any, control: AttentionControl) -> dict[str, Any]:
    """Give every attention layer of the UNet a controlled processor; returns the previous processors."""
    previous = dict(unet.attn_processors)
    unet.set_attn_processor(ControlledAttnProcessor(control))
    return previous
