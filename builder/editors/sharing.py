"""Which edits share their sampling path, step by step, and how they are packed into UNet passes.

Two edits of the same source image under the same target prompt compute the same latents for as long as their
injection schedules agree: the same source maps are injected into the same branch. In the shipped severity
levels the three severities of a prompt agree for the first 20% of the steps, severities 1 and 2 for the first
40%; so each prompt is sampled once until its schedules part, then branches ("lanes" split). Each step packs
the lanes into UNet passes of at most `per_pass` lanes; a pass also holds, conditional part only, the source
branch of every image whose lanes in it take maps at this step (or of every image, with local blend, whose masks
need the source's maps at every step).

This module is pure Python: the prompt-to-prompt editors run what it plans and `python -m builder plan` counts
what it plans, so the count is what runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EditSchedule:
    """One edit: its source (an index into the batch's source images), its target prompt, its injection windows."""

    source: int
    prompt: str
    cross_until: int  # sampling steps < cross_until take the source's cross-attention maps
    self_until: int  # sampling steps < self_until take the source's self-attention maps

    @classmethod
    def from_knobs(cls, source: int, prompt: str, steps: int, knobs: dict[str, float]) -> EditSchedule:
        """The windows of a severity's knobs (fractions of the steps), rounded as prompt-to-prompt's code rounds
        them: its cross-attention weights are a table of steps + 1 rows (`get_time_words_attention_alpha`), so the
        cross window ends at int((steps + 1) * f); the self window at int(steps * f). At 50 steps the shipped
        fractions give 40/30 and 30/20/10 either way; other fractions (0.99: 50, not 49) do not."""
        return cls(source, prompt, min(steps, int((steps + 1) * float(knobs["cross_replace_steps"]))),
                   int(steps * float(knobs["self_replace_steps"])))

    def injects(self, step: int) -> tuple[bool, bool]:
        return step < self.cross_until, step < self.self_until


@dataclass(frozen=True)
class Lane:
    """Edits that share one sampling path at the current step."""

    source: int
    prompt: str
    items: tuple[int, ...]  # indices into the edits
    cross: bool
    self_: bool

    @property
    def injects(self) -> bool:
        return self.cross or self.self_


def initial_lanes(edits: Sequence[EditSchedule]) -> list[Lane]:
    """One lane per (source, target prompt), in order of first appearance; windows as at step 0."""
    order: dict[tuple[int, str], list[int]] = {}
    for i, edit in enumerate(edits):
        order.setdefault((edit.source, edit.prompt), []).append(i)
    return split(edits, [Lane(source, prompt, tuple(items), True, True) for (source, prompt), items in order.items()],
                 0)[0]


def split(edits: Sequence[EditSchedule], lanes: Sequence[Lane], step: int) -> tuple[list[Lane], list[int]]:
    """The lanes at `step`: each lane splits where its edits' windows part. Returns the lanes and, for each, the
    index of the lane it came from (whose latents it starts from)."""
    result: list[Lane] = []
    parents: list[int] = []
    for parent, lane in enumerate(lanes):
        parts: dict[tuple[bool, bool], list[int]] = {}
        for item in lane.items:
            parts.setdefault(edits[item].injects(step), []).append(item)
        for (cross, self_), items in parts.items():
            result.append(Lane(lane.source, lane.prompt, tuple(items), cross, self_))
            parents.append(parent)
    return result, parents


def passes(lanes: Sequence[Lane], per_pass: int, blend: bool) -> list[tuple[list[int], list[int]]]:
    """Pack a step's lanes into UNet passes: per pass, (its lanes' indices, the sources it holds)."""
    packed = []
    for start in range(0, len(lanes), per_pass):
        members = list(range(start, min(start + per_pass, len(lanes))))
        sources: list[int] = []
        for i in members:
            if (blend or lanes[i].injects) and lanes[i].source not in sources:
                sources.append(lanes[i].source)
        packed.append((members, sources))
    return packed


@dataclass
class RowCount:
    """UNet work of a sampling pass: batch rows (classifier-free guidance counts two per branch) and calls."""

    rows: int = 0
    calls: int = 0


def count_sampling(edits: Sequence[EditSchedule], steps: int, per_pass: int, blend: bool) -> RowCount:
    """The UNet rows and calls sampling these edits takes, as the prompt-to-prompt editors run it."""
    count = RowCount()
    lanes = initial_lanes(edits)
    for step in range(steps):
        lanes = split(edits, lanes, step)[0]
        for members, sources in passes(lanes, per_pass, blend):
            count.rows += 2 * len(members) + len(sources)
            count.calls += 1
    return count
