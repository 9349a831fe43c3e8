"""Prompt-to-prompt attention control as diffusers attention processors.

One UNet call holds an unconditional part and a conditional part (`CallPlan.cond_rows`, the last rows of the
batch). In the conditional part some rows are sources (a source image under its source prompt) and others are
branches (the same image under a target prompt); each branch may, at this step, take from its source:

- its cross-attention maps (image queries x prompt tokens), through a token mapping (`token_mapping`): by
  default a word the alignment finds in both prompts takes the source's map and a new word keeps its own
  ("refine", as the source study always does); with `p2p_mode: replace` every position takes the source's map at
  the same position (prompts of equally many tokens);
- its self-attention maps, in layers whose maps have at most `self_max_pixels` queries (the coarse layers carry
  the layout).

Which branches take what is decided per call (`CallPlan`), so branches of one batch may follow different
injection schedules (severities). Only the conditional part is controlled, as in prompt-to-prompt: its maps are
computed in the open, the unconditional part runs PyTorch's fused attention, and so does every layer and row the
plan leaves alone, where the control costs nothing.

For local blend the plan names the blend words' tokens per row; the cross-attention maps of the layers at
`blend_queries` queries (16x16 at 512 px, as in the authors' code) are summed over those tokens, averaged over
heads, and summed over the layers of the call, after the maps were replaced (the authors' store sees the
replaced maps: it keeps a view of the tensor the replacement writes into). The editor accumulates them over the
steps and turns them into masks (`blend_mask`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F


P2P_MODES = ("refine", "replace")


def align_tokens(source: list[int], target: list[int]) -> list[int | None]:
    """For each target token, the index of the source token aligned with it, or None for a new token.

    The global alignment prompt-to-prompt's refinement runs (Hertz et al., 2022; `seq_aligner.py` of its code,
    which the source study uses unchanged): Needleman-Wunsch with gap 0, match 1, mismatch -1, traced back from
    the end, where a tie prefers skipping a target token, then skipping a source token, then pairing the two.
    With free gaps a mismatched pair never wins, so only equal tokens are paired; which of two equal words in one
    prompt takes the other's map follows from the tie order ("a typewriter keyboard" -> "a watercolor painting
    of a typewriter keyboard": the source's "a" goes to the target's first "a"), so the order is the authors'.
    """
    rows, cols = len(source) + 1, len(target) + 1
    score = [[0] * cols for _ in range(rows)]  # a gap costs 0, so the borders are 0 too
    move = [[0] * cols for _ in range(rows)]  # 1: skip a target token, 2: skip a source token, 3: pair them
    for j in range(1, cols):
        move[0][j] = 1
    for i in range(1, rows):
        move[i][0] = 2
    for i in range(1, rows):
        for j in range(1, cols):
            skip_target, skip_source = score[i][j - 1], score[i - 1][j]
            pair = score[i - 1][j - 1] + (1 if source[i - 1] == target[j - 1] else -1)
            best = max(skip_target, skip_source, pair)
            score[i][j] = best
            move[i][j] = 1 if best == skip_target else 2 if best == skip_source else 3
    aligned: list[int | None] = [None] * len(target)
    i, j = len(source), len(target)
    while i > 0 or j > 0:
        step = move[i][j]
        if step == 3:
            i, j = i - 1, j - 1
            aligned[j] = i
        elif step == 1:
            j -= 1
        else:
            i -= 1
    return aligned


def token_mapping(tokenizer: Any, source: str, target: str, mode: str = "refine"
                  ) -> tuple[torch.Tensor, torch.Tensor, str]:
    """For every target token position, the source position whose map it takes and the weight of that map.

    Returns (mapper [L] long, alphas [L] float, mode) with L the tokenizer's max length.

    - "refine" (the default, and the source study's: it always refines): the prompts, encoded with their start
      and end tokens, are aligned (`align_tokens`); a target token paired with a source token takes that token's
      map (alpha 1), an unpaired one keeps its own (alpha 0; its mapper entry is the last position, where the
      authors' -1 points, and weighs nothing). Positions after the target's end token are padding and take the
      source's map at the same position, as the authors' aligner maps them.
    - "replace": every position takes the source's map at the same position (prompt-to-prompt's word swap); the
      prompts must have equally many tokens.
    """
    if mode not in P2P_MODES:
        raise ValueError(f"unknown p2p_mode {mode!r}; expected one of {', '.join(P2P_MODES)}")
    length = tokenizer.model_max_length
    src = tokenizer(source, add_special_tokens=False).input_ids
    tgt = tokenizer(target, add_special_tokens=False).input_ids
    limit = length - 2
    if len(src) > limit or len(tgt) > limit:
        longest = source if len(src) > len(tgt) else target
        raise ValueError(f"prompt {longest!r} has {max(len(src), len(tgt))} tokens; the text encoder takes {limit}")
    mapper = torch.arange(length)
    alphas = torch.ones(length)
    if mode == "replace":
        if len(src) != len(tgt):
            raise ValueError(f"p2p_mode replace needs prompts of equally many tokens; {source!r} has {len(src)} and "
                             f"{target!r} {len(tgt)} (p2p_mode refine takes any pair)")
        return mapper, alphas, mode
    start, end = tokenizer.bos_token_id, tokenizer.eos_token_id
    for j, i in enumerate(align_tokens([start, *src, end], [start, *tgt, end])):
        if i is None:
            mapper[j], alphas[j] = length - 1, 0.0
        else:
            mapper[j] = i
    return mapper, alphas, mode


@dataclass
class CallPlan:
    """What the control does in one UNet call, for the rows of its conditional part."""

    cond_rows: int
    source: torch.Tensor  # [n] long: the row each row takes its maps from (itself for a source)
    cross: torch.Tensor  # [n] bool: the row's cross-attention maps come from its source at this step
    self_: torch.Tensor  # [n] bool: the row's self-attention maps come from its source at this step
    mappers: torch.Tensor  # [n, L] long
    alphas: torch.Tensor  # [n, L]
    blend_tokens: torch.Tensor | None = None  # [n, L]: 1 at the blend words' tokens
    blend_queries: int = 0  # the query count of the layers whose maps make the blend mask


@dataclass
class AttentionControl:
    """Shared state of the processors: the current call's plan, the step, and what was done (for tests)."""

    self_max_pixels: int = 0
    plan: CallPlan | None = None
    step: int = -1
    log: list[tuple[int, str]] = field(default_factory=list)  # (step, "cross"/"self") whenever maps were replaced
    blend_maps: torch.Tensor | None = None  # [n, blend_queries]: this call's blend maps, summed over its layers
    _on_device: dict[Any, tuple[torch.Tensor, ...]] = field(default_factory=dict, repr=False)

    def begin(self, plan: CallPlan, step: int) -> None:
        self.plan, self.step, self.blend_maps = plan, step, None
        self._on_device.clear()

    def end(self) -> None:
        self.plan, self.step = None, -1

    def _tensors(self, device: Any, dtype: Any) -> tuple[torch.Tensor, ...]:
        """(cross rows, their sources, mappers, alphas, self rows, their sources) on a device, moved once a call."""
        key = (device, dtype)
        if key not in self._on_device:
            plan = self.plan
            assert plan is not None
            cross = torch.nonzero(plan.cross).flatten()
            selfs = torch.nonzero(plan.self_).flatten()
            self._on_device[key] = (cross.to(device), plan.source[cross].to(device), plan.mappers[cross].to(device),
                                    plan.alphas[cross].to(device, dtype), selfs.to(device),
                                    plan.source[selfs].to(device))
        return self._on_device[key]

    def wants(self, is_cross: bool, queries: int) -> bool:
        plan = self.plan
        if plan is None:
            return False
        if is_cross:
            return bool(plan.cross.any()) or (plan.blend_tokens is not None and queries == plan.blend_queries)
        return bool(plan.self_.any()) and queries <= self.self_max_pixels

    def cross_attention(self, probs: torch.Tensor) -> torch.Tensor:
        """probs [n, heads, Q, K] of the conditional part -> the same, each branch's maps taken as planned."""
        plan = self.plan
        assert plan is not None
        rows, sources, mappers, alphas = self._tensors(probs.device, probs.dtype)[:4]
        if len(rows):
            src = probs[sources]
            index = mappers[:, None, None, :].expand(-1, src.shape[1], src.shape[2], -1)
            weights = alphas[:, None, None, :]
            probs[rows] = torch.gather(src, 3, index) * weights + probs[rows] * (1 - weights)
            self.log.append((self.step, "cross"))
        if plan.blend_tokens is not None and probs.shape[2] == plan.blend_queries:
            weights = plan.blend_tokens.to(device=probs.device, dtype=torch.float32)
            maps = torch.einsum("bhqk,bk->bq", probs.float(), weights) / probs.shape[1]
            self.blend_maps = maps if self.blend_maps is None else self.blend_maps + maps
        return probs

    def self_attention(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                       scale: float) -> torch.Tensor:
        """Self-attention [n, heads, Q, d] of the conditional part, the planned rows with their sources' maps."""
        rows, sources = self._tensors(query.device, query.dtype)[4:]
        if not len(rows):
            return F.scaled_dot_product_attention(query, key, value, scale=scale)
        owners, position = torch.unique(sources, return_inverse=True)
        scores = torch.matmul(query[owners].float(), key[owners].float().transpose(-1, -2)) * scale
        probs = scores.softmax(dim=-1).to(value.dtype)
        out = query.new_empty(*query.shape[:3], value.shape[-1])
        out[owners] = torch.matmul(probs, value[owners])
        out[rows] = torch.matmul(probs[position], value[rows])
        plain = torch.ones(query.shape[0], dtype=torch.bool, device=query.device)
        plain[owners] = False
        plain[rows] = False
        if bool(plain.any()):  # rows that neither give nor take maps stay fused
            out[plain] = F.scaled_dot_product_attention(query[plain], key[plain], value[plain], scale=scale)
        self.log.append((self.step, "self"))
        return out


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

        if attention_mask is None and self.control.wants(is_cross, queries):
            # the unconditional part runs fused; the conditional part needs its maps in the open
            split = batch - self.control.plan.cond_rows  # type: ignore[union-attr]
            parts = []
            if split:
                parts.append(F.scaled_dot_product_attention(query[:split], key[:split], value[:split],
                                                            scale=attn.scale))
            if is_cross:
                scores = torch.matmul(query[split:].float(), key[split:].float().transpose(-1, -2)) * attn.scale
                probs = self.control.cross_attention(scores.softmax(dim=-1).to(value.dtype))
                parts.append(torch.matmul(probs, value[split:]))
            else:
                parts.append(self.control.self_attention(query[split:], key[split:], value[split:], attn.scale))
            out = torch.cat(parts) if len(parts) > 1 else parts[0]
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


def blend_mask(maps: torch.Tensor, source_maps: torch.Tensor, size: tuple[int, int],
               threshold: float) -> torch.Tensor:
    """Local blend's mask [n, 1, h, w] from accumulated blend maps [n, q] of branches and of their sources.

    As in the authors' code: a 3x3 max-pool on the maps' own grid, nearest upsampling to the latents, each map
    divided by its maximum, thresholded, and united with the source's region."""
    side = int(round(maps.shape[1] ** 0.5))
    both = torch.stack([maps, source_maps]).view(2 * maps.shape[0], 1, side, side)
    pooled = F.max_pool2d(both, 3, stride=1, padding=1)
    grid = F.interpolate(pooled, size=size, mode="nearest")
    grid = grid / grid.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None, None]
    mask = (grid > threshold).view(2, maps.shape[0], 1, *size)
    return mask[0] | mask[1]
