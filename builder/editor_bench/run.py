"""The editor bench's run: held-out micro-world scenes, every edit of them by each editor, the figures of each edit
against the scene's ground truth (`measure`), and the editor's cost.

Scenes: `world.sample(SCENE_START + seed * SEED_STRIDE + i)` for i < --scenes. The shipped micro model trained on
seeds below 310,000 (`train.py`: seed 0, stage offsets of 100,000, 6,000 images), the behaviour tests and the demo
read seeds from 5,000,000; these start at 6,000,000, so no --seed reaches either.

Edits per scene, each at every severity asked for: its colour swapped (`micro.benchmark.COLOUR_SWAP`), its
background swapped (`BACKGROUND_SWAP`), and the no-op edit (the source caption as target). All the edits of a scene
go to the editor in one call, as a build sends an image's edits, so prompt-to-prompt editors invert it once and
share what their schedules share; edit seeds come from the bench seed, the scene and the edit.

An editor is named as the registry names it, optionally with a variant: `NAME+blend` adds local blend on the words
the edit should not touch the surroundings of (the shape word for colour and no-op edits, the background words for
background edits; grid at half the latent side as the micro model needs, `--blend-threshold`), `NAME+pixel-blend`
the same composited in pixels (`blend_space: pixels`). A variant takes two editor objects (one per word set) that
share one inversion per image through a cache folder of the run.

Cost: wall seconds of the editor calls per edit (loading excluded), and the UNet batch rows they ran forward and,
separately, the rows that also ran backward (null-text optimisation), counted with a forward hook.
"""

from __future__ import annotations

import platform
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from PIL import Image

from imagenet_textcorrupt.errors import ImageNetTCError, UnknownNameError, closest

from builder.editor_bench.measure import EDIT_KINDS, NOOP, Truth, measure
from builder.micro import benchmark, world

SCENE_START = 6_000_000
SEED_STRIDE = 100_000  # --seed S: scenes from SCENE_START + S * SEED_STRIDE, at most SEED_STRIDE of them
MODEL = "tiny:micro"
KINDS = (*EDIT_KINDS, NOOP)
VARIANTS = {"": None, "blend": "latent", "pixel-blend": "pixels"}  # variant -> blend_space
BLEND_DOWNSAMPLE = 2  # the micro model's 16x16 latents: blend maps on an 8x8 grid (4x4 would cover everything)
BENCHED_FAMILIES = ("prompt_to_prompt", "sdedit")
DEFAULT_EDITORS = ("p2p-nulltext", "p2p-direct", "p2p-directinv", "sdedit")
SHAPE_WORDS = tuple(world.SHAPES)
BACKGROUND_WORDS = tuple(dict.fromkeys(word for background in world.BACKGROUNDS
                                       for word in world.caption("red", "star", background).partition(" on ")[2].split()
                                       if word != "a"))


class BenchError(ImageNetTCError, ValueError):
    """Bad settings or editors for the editor bench; the message names the option."""


@dataclass(frozen=True)
class BenchSettings:
    """What makes two benches comparable: the scenes, the steps, the severities and the blend settings."""

    scenes: int = 48
    steps: int = 20
    seed: int = 0
    severities: tuple[int, ...] = (1, 2, 3)
    blend_threshold: float = 0.8
    device: str = "cpu"
    first_scene: int | None = None  # None: SCENE_START + seed * SEED_STRIDE (the demo reads its own scenes)

    def check(self) -> None:
        if not 1 <= self.scenes <= SEED_STRIDE:
            raise BenchError(f"--scenes must be between 1 and {SEED_STRIDE}, got {self.scenes}")
        if self.steps < 1:
            raise BenchError(f"--steps must be at least 1, got {self.steps}")
        if self.seed < 0:
            raise BenchError(f"--seed must be 0 or more, got {self.seed}")
        if not self.severities or any(level not in (1, 2, 3) for level in self.severities) or \
                len(set(self.severities)) != len(self.severities):
            raise BenchError(f"--severities must be distinct levels among 1, 2, 3, got {list(self.severities)}")
        if not 0.0 <= self.blend_threshold <= 1.0:
            raise BenchError(f"--blend-threshold must lie in [0, 1], got {self.blend_threshold}")

    @property
    def scene_seeds(self) -> list[int]:
        start = SCENE_START + self.seed * SEED_STRIDE if self.first_scene is None else self.first_scene
        return [start + i for i in range(self.scenes)]

    def comparable(self) -> dict[str, Any]:
        """The settings a folder's results must share with a run that reuses them (the device is not one)."""
        values = asdict(self)
        values.pop("device")
        if self.first_scene is None:
            values.pop("first_scene")
        values["severities"] = list(self.severities)
        return values


@dataclass(frozen=True)
class EditorSpec:
    """A registered editor and a bench variant of it (`p2p-directinv+pixel-blend`)."""

    name: str
    variant: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}+{self.variant}" if self.variant else self.name

    @classmethod
    def parse(cls, text: str) -> EditorSpec:
        from builder.editors.base import editor_class, list_editors

        name, _, variant = text.strip().partition("+")
        known = list_editors()
        if name not in known:
            raise UnknownNameError("editor", name, closest(name, known) or
                                   [e for e in known if _family(e) in BENCHED_FAMILIES])
        family = editor_class(name).family
        if family not in BENCHED_FAMILIES:
            why = "it needs a micro model trained on (image, instruction, edit) triples, which does not exist yet" \
                if family == "instruct_pix2pix" else "it is not a text-guided editor"
            raise BenchError(f"editor {name!r} cannot be benched on the micro world: {why}")
        if variant not in VARIANTS:
            raise UnknownNameError("editor variant", variant, closest(variant, [v for v in VARIANTS if v]) or
                                   [v for v in VARIANTS if v])
        if variant and family != "prompt_to_prompt":
            raise BenchError(f"{text}: local blend variants need a prompt-to-prompt editor")
        return cls(name, variant)


def _family(name: str) -> str:
    from builder.editors.base import editor_class

    return editor_class(name).family


def parse_editors(text: str) -> list[EditorSpec]:
    """A comma-separated list of editors (each once)."""
    specs = [EditorSpec.parse(part) for part in text.split(",") if part.strip()]
    if not specs:
        raise BenchError("--editors names no editor")
    labels = [s.label for s in specs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise BenchError(f"--editors names {', '.join(repeated)} more than once")
    return specs


@dataclass(frozen=True)
class Edit:
    kind: str
    severity: int
    target: world.Scene


def scene_edits(scene: world.Scene, severities: Sequence[int]) -> list[Edit]:
    """A scene's edits: every kind at every severity."""
    targets = {kind: benchmark.edited_scene(scene, kind) for kind in EDIT_KINDS} | {NOOP: scene}
    return [Edit(kind, level, targets[kind]) for kind in KINDS for level in severities]


class UNetRows:
    """Counts a UNet's batch rows: all of them, and those run while the conditioning needs a gradient."""

    def __init__(self, unet: Any):
        self.rows = 0
        self.backward_rows = 0
        self._handle = unet.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        import torch

        rows = int(args[0].shape[0])
        context = kwargs.get("encoder_hidden_states", args[2] if len(args) > 2 else None)
        self.rows += rows
        if torch.is_grad_enabled() and context is not None and context.requires_grad:
            self.backward_rows += rows

    def close(self) -> None:
        self._handle.remove()


@dataclass
class EditorRun:
    """One editor's results on the bench's scenes: a record per edit, its cost, and the sheet's pictures."""

    spec: EditorSpec
    records: list[dict[str, Any]]
    cost: dict[str, float]
    metadata: dict[str, dict[str, Any]]  # kind -> what regenerates one of its edits (its first)
    environment: dict[str, str]  # library versions, machine and date of the run
    sheet: dict[str, list[Image.Image]] = field(default_factory=dict)  # kind -> edits of the sheet's scenes


def _editor_params(spec: EditorSpec, kind: str, settings: BenchSettings, cache: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if _family(spec.name) == "prompt_to_prompt":
        params["cache_dir"] = cache
    space = VARIANTS[spec.variant]
    if space is not None:
        params.update(local_blend_words=list(BACKGROUND_WORDS if kind == "background" else SHAPE_WORDS),
                      local_blend_threshold=settings.blend_threshold, local_blend_downsample=BLEND_DOWNSAMPLE,
                      blend_space=space)
    return params


def _unet(editor: Any) -> Any:
    return editor.unet if hasattr(editor, "unet") else editor.pipeline.unet


@contextmanager
def _inversion_folder(spec: EditorSpec, given: str | None) -> Iterator[str | None]:
    """Where the editor keeps its inversions: `given`, else for a variant a temporary folder its two editor objects
    share (plain editors keep theirs in memory)."""
    if given is not None or not spec.variant:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="editor-bench-") as folder:
        yield folder


def run_editor(spec: EditorSpec, settings: BenchSettings, truths: Sequence[Truth], sheet_scenes: int,
               sheet_severity: int, progress: bool = True, cache_dir: str | None = None) -> EditorRun:
    """Every edit of every scene by one editor, measured. With `cache_dir`, prompt-to-prompt editors keep their
    inversions there (and find earlier ones: their cost then leaves the inversion out)."""
    from tqdm import tqdm

    from builder.editors import create_editor

    # a variant's background edits blend on other words, so they go to an editor object of their own
    groups = {kind: "background" if spec.variant and kind == "background" else "shared" for kind in KINDS}
    run = EditorRun(spec, [], {}, {}, environment(), {kind: [] for kind in EDIT_KINDS})
    seconds = 0.0
    with _inversion_folder(spec, cache_dir) as cache:
        editors: dict[str, Any] = {}
        for kind, group in groups.items():
            if group not in editors:
                editors[group] = create_editor(spec.name, model=MODEL, device=settings.device, dtype="float32",
                                               resolution=world.SIZE, steps=settings.steps,
                                               **_editor_params(spec, kind, settings, cache))
        counters = [UNetRows(_unet(editor)) for editor in editors.values()]
        try:
            for index, truth in enumerate(tqdm(truths, desc=spec.label, unit="scene", disable=not progress,
                                               dynamic_ncols=True)):
                edits = scene_edits(truth.scene, settings.severities)
                for group, editor in editors.items():
                    mine = [e for e in edits if groups[e.kind] == group]
                    seeds = [_seed(settings, index, e) for e in mine]
                    started = time.perf_counter()
                    results = editor.edit([truth.image] * len(mine), [truth.scene.caption] * len(mine),
                                          [e.target.caption for e in mine], [e.severity for e in mine], seeds)
                    seconds += time.perf_counter() - started
                    _record(run, settings.scene_seeds[index], truth, mine, seeds, results, index < sheet_scenes,
                            sheet_severity)
        finally:
            for counter in counters:
                counter.close()
    n = len(run.records)
    rows, backward = sum(c.rows for c in counters), sum(c.backward_rows for c in counters)
    run.cost = {"edits": n, "seconds_per_edit": seconds / n, "unet_rows_per_edit": rows / n,
                "backward_rows_per_edit": backward / n, "forward_equivalents_per_edit": (rows + 2 * backward) / n}
    return run


def _seed(settings: BenchSettings, index: int, edit: Edit) -> int:
    from builder.planning.sources import derive_seed

    return derive_seed(settings.seed, "editor-bench", str(settings.scene_seeds[index]), edit.kind, str(edit.severity))


def _record(run: EditorRun, scene: int, truth: Truth, edits: Sequence[Edit], seeds: Sequence[int],
            results: Sequence[Any], on_sheet: bool, sheet_severity: int) -> None:
    """Measure a scene's edits (the scene's seed, the edits' seeds, the editor's results) into `run`, and keep the
    sheet's pictures."""
    for edit, seed, result in zip(edits, seeds, results):
        if not result.ok:
            raise BenchError(f"{run.spec.label}: the {edit.kind} edit of scene {scene} at severity {edit.severity} "
                             f"failed: {result.reason}")
        run.records.append({"scene": scene, "kind": edit.kind, "severity": edit.severity, "seed": seed,
                            **measure(truth, result.image, edit.kind, edit.target)})
        run.metadata.setdefault(edit.kind, _regenerates(result.metadata))
        if edit.kind in run.sheet and on_sheet and edit.severity == sheet_severity:
            run.sheet[edit.kind].append(result.image)


def _regenerates(metadata: dict[str, Any]) -> dict[str, Any]:
    """An edit's metadata without what differs per item."""
    return {k: v for k, v in metadata.items() if k not in ("seed", "source_prompt", "target_prompt", "severity",
                                                            "severity_parameters", "inversion_cached")}


def environment() -> dict[str, str]:
    """The library versions and machine a run's figures come from."""
    import diffusers
    import torch
    import transformers

    return {"torch": torch.__version__, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(), "machine": platform.machine(), "threads": str(torch.get_num_threads()),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}


def scenes(settings: BenchSettings) -> list[Truth]:
    return [Truth.of(*world.sample(seed)) for seed in settings.scene_seeds]

