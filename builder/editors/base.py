"""The editor interface, its registry, and what every editor shares: loading, severities, output checks.

An editor turns (images, source prompts, target prompts, severity, seeds) into edited images plus, per item,
the metadata needed to regenerate the edit. Each editor family maps the severity levels of the prompt hierarchy
(`prompts.yaml`, `severity.editors`) to its own knobs. One call may mix severities (one level per item), so all
the edits of a source image go in one call and the editor shares what they have in common.

Weights are pinned before they load (`builder.planning.pins`): a Hub id loads at the commit its revision resolves
to, and every item records that commit, never a branch name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from imagenet_textcorrupt.errors import ImageNetTCError, UnknownNameError, closest
from imagenet_textcorrupt.prompts import PromptHierarchy, load_prompts

from builder.editors.preprocess import PreparedImage, prepare_image, tensor_to_images
from builder.planning.pins import ModelPin, pin_model

EDITORS: dict[str, type[Editor]] = {}

DTYPES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16", "half": "float16",
          "bfloat16": "bfloat16", "bf16": "bfloat16"}


class EditorError(ImageNetTCError, ValueError):
    """Invalid arguments to an editor; the message names the argument or item."""


@dataclass
class EditResult:
    """One edited image. `image` is None when the edit failed; `reason` then says why."""

    image: Image.Image | None
    metadata: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.image is not None


def register_editor(name: str) -> Callable[[type[Editor]], type[Editor]]:
    """Class decorator: make an editor available to `create_editor` under `name`."""

    def register(cls: type[Editor]) -> type[Editor]:
        cls.name = name
        EDITORS[name] = cls
        return cls
    return register


def list_editors() -> list[str]:
    _load_builtin_editors()
    return sorted(EDITORS)


def editor_class(name: str) -> type[Editor]:
    """A registered editor's class (its family, default model, known parameters)."""
    _load_builtin_editors()
    if name not in EDITORS:
        raise UnknownNameError("editor", name, closest(name, EDITORS) or sorted(EDITORS))
    return EDITORS[name]


def editor_family(name: str) -> str:
    """The severity family (in prompts.yaml) of a registered editor."""
    return editor_class(name).family


def create_editor(name: str, model: str | None = None, device: str | None = None, dtype: str | None = None,
                  **params: Any) -> Editor:
    """An editor by registry name, with its model (Hub id or local folder), device, dtype and parameters."""
    return editor_class(name)(model=model, device=device, dtype=dtype, **params)


def _load_builtin_editors() -> None:
    import builder.editors.imagenet_c  # noqa: F401  (registers imagenet-c)
    import builder.editors.p2p  # noqa: F401  (registers p2p-nulltext and p2p-direct)
    import builder.editors.pipelines  # noqa: F401  (registers instruct-pix2pix and sdedit)


def severity_knobs(prompts: PromptHierarchy, family: str, level: int, params: dict[str, Any]) -> dict[str, float]:
    """What a severity level means for an editor family: the hierarchy's knobs, overridden by explicit parameters
    (a recipe's `cross_replace_steps: 0.5` applies to every level)."""
    knobs = prompts.severity_parameters(family, level)
    knobs.update({k: float(v) for k, v in params.items() if k in knobs and v is not None})
    return knobs


def resolve_device(device: str | None) -> str:
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str | None, device: str) -> Any:
    import torch

    if dtype is None:
        return torch.float16 if device.startswith("cuda") else torch.float32
    if not isinstance(dtype, str):
        return dtype
    if dtype not in DTYPES:
        raise UnknownNameError("dtype", dtype, closest(dtype, DTYPES) or sorted(set(DTYPES.values())))
    return getattr(torch, DTYPES[dtype])


def load_pipeline(pipeline_class: Any, pin: ModelPin, device: str, dtype: Any) -> Any:
    """A diffusers pipeline at its pinned commit (or folder): safetensors only, no remote code, no safety checker."""
    kwargs: dict[str, Any] = dict(dtype=dtype, use_safetensors=True, safety_checker=None,
                                  requires_safety_checker=False)
    if pin.commit:
        kwargs["revision"] = pin.commit
    pipeline = pipeline_class.from_pretrained(pin.source, **kwargs)
    for module in pipeline.components.values():
        if hasattr(module, "requires_grad_"):  # null-text optimises an embedding, never the weights
            module.requires_grad_(False)
    pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def frame_problem(image: Any) -> str | None:
    """Why a decoded image tensor [3, H, W] in [-1, 1] is unusable (NaN/inf, or an all-black frame), or None."""
    import torch

    if not torch.isfinite(image).all():
        return "the output has NaN or infinite values"
    if float(image.max()) <= -0.99:
        return "the output is an all-black frame"
    return None


class Editor:
    """Base class: validation, preprocessing, severity lookup, metadata, and the float32 retry of bad frames."""

    name: ClassVar[str]
    family: ClassVar[str]  # the severity family in prompts.yaml
    default_model: ClassVar[str]
    default_steps: ClassVar[int] = 50
    default_guidance: ClassVar[float] = 7.5

    def __init__(self, model: str | None = None, device: str | None = None, dtype: str | None = None,
                 revision: str | None = None, resolution: int = 512, steps: int | None = None,
                 guidance: float | None = None, prompts: PromptHierarchy | None = None, batch_size: int = 8,
                 pin: ModelPin | None = None, **params: Any):
        self.model = str(model or self.default_model)
        self.revision = revision
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.resolution = int(resolution)
        self.steps = int(steps if steps is not None else self.default_steps)
        self.guidance = float(guidance if guidance is not None else self.default_guidance)
        self.batch_size = int(batch_size)
        if self.steps < 1:
            raise EditorError(f"steps must be at least 1, got {self.steps}")
        if self.batch_size < 1:
            raise EditorError(f"batch_size must be at least 1, got {self.batch_size}")
        self.prompts = prompts or load_prompts()
        self.params = self._check_params(params)
        self.pin = pin or pin_model(self.model, revision)  # the commit, before anything loads
        self.model_id = self.pin.identity
        self._load()

    # -- what each editor provides ---------------------------------------------------------------------------
    known_params: ClassVar[dict[str, Any]] = {}  # extra parameters and their defaults

    def _load(self) -> None:
        raise NotImplementedError

    def _modules(self) -> list[Any]:
        """The torch modules to cast when a batch is retried in float32."""
        raise NotImplementedError

    def _run(self, images: list[Image.Image], sources: list[str], targets: list[str],
             knobs: list[dict[str, float]], seeds: list[int]) -> tuple[Any, list[dict[str, Any]]]:
        """Edit prepared images, each item with its own severity knobs: a tensor [N, 3, H, W] in [-1, 1] and
        per-item extra metadata."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------------------
    def _check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        unknown = [k for k in params if k not in self.known_params]
        if unknown:
            hint = closest(unknown[0], self.known_params)
            raise EditorError(f"{self.name}: unknown parameter {unknown[0]!r}"
                              + (f"; did you mean {hint[0]}?" if hint else
                                 f"; known: {', '.join(sorted(self.known_params)) or 'none'}"))
        return {**self.known_params, **params}

    def severity_knobs(self, severity: int) -> dict[str, float]:
        return severity_knobs(self.prompts, self.family, severity, self.params)

    def edit(self, images: Sequence[Image.Image | str | Path | PreparedImage], source_prompts: Sequence[str],
             target_prompts: Sequence[str], severity: int | Sequence[int], seeds: Sequence[int]) -> list[EditResult]:
        """Edit a batch. All sequences have one entry per item; several items may share a source image.
        `severity` is one level for every item or one per item."""
        n = len(images)
        severities = self._checked_batch(images, source_prompts, target_prompts, severity, seeds)
        by_level = {level: self.severity_knobs(level) for level in sorted(set(severities))}
        knobs = [by_level[level] for level in severities]
        if n == 0:
            return []
        prepared = [self._prepared(p, i) for i, p in enumerate(images)]
        pictures = [p.image for p in prepared]
        sources, targets, seed_list = list(source_prompts), list(target_prompts), list(seeds)
        output, extras = self._run(pictures, sources, targets, knobs, seed_list)
        problems = [frame_problem(output[i]) for i in range(n)]
        if any(problems) and self.dtype != _float32():
            output, extras, problems = self._retry_in_float32(pictures, sources, targets, knobs, seed_list,
                                                              output, extras, problems)
        results = []
        for i in range(n):
            metadata = self._metadata(sources[i], targets[i], severities[i], knobs[i], seed_list[i], prepared[i])
            metadata.update(extras[i])
            metadata["retried_in_float32"] = bool(metadata.pop("_retried", False))
            if problems[i]:
                results.append(EditResult(None, metadata, problems[i]))
            else:
                results.append(EditResult(tensor_to_images(output[i:i + 1])[0], metadata))
        return results

    def _checked_batch(self, images: Sequence[Any], source_prompts: Sequence[str], target_prompts: Sequence[str],
                       severity: int | Sequence[int], seeds: Sequence[int]) -> list[int]:
        """The per-item severities, after checking that every argument has one valid entry per image."""
        n = len(images)
        severities = [severity] * n if isinstance(severity, int) else list(severity)
        for label, values in (("source_prompts", source_prompts), ("target_prompts", target_prompts),
                              ("seeds", seeds), ("severity", severities)):
            if len(values) != n:
                raise EditorError(f"{self.name}: {label} has {len(values)} entries for {n} images")
        for label, values in (("source_prompts", source_prompts), ("target_prompts", target_prompts)):
            for i, prompt in enumerate(values):
                if not isinstance(prompt, str) or not prompt.strip():
                    raise EditorError(f"{self.name}: {label}[{i}] is empty")
        for i, seed in enumerate(seeds):
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
                raise EditorError(f"{self.name}: seeds[{i}] = {seed!r} is not an integer in [0, 2**63)")
        return severities

    def _prepared(self, image: Image.Image | str | Path | PreparedImage, index: int) -> PreparedImage:
        """An input at this editor's resolution; a prepared one is used as it is (it knows if it was upsampled)."""
        if isinstance(image, PreparedImage):
            if image.image.size != (self.resolution, self.resolution):
                raise EditorError(f"{self.name}: images[{index}] was prepared at {image.image.size[0]} px; this "
                                  f"editor works at {self.resolution}")
            return image
        return prepare_image(image, self.resolution, f"images[{index}]")

    def _retry_in_float32(self, pictures: list[Image.Image], sources: list[str], targets: list[str],
                          knobs: list[dict[str, float]], seeds: list[int], output: Any,
                          extras: list[dict[str, Any]], problems: list[str | None]
                          ) -> tuple[Any, list[dict[str, Any]], list[str | None]]:
        """Run the items with a bad frame again with every module in float32, then restore the dtype."""
        bad = [i for i, p in enumerate(problems) if p]
        original = self.dtype
        modules = self._modules()
        try:
            for module in modules:
                module.to(_float32())
            self.dtype = _float32()
            again, again_extras = self._run([pictures[i] for i in bad], [sources[i] for i in bad],
                                            [targets[i] for i in bad], [knobs[i] for i in bad],
                                            [seeds[i] for i in bad])
        finally:
            for module in modules:
                module.to(original)
            self.dtype = original
        output = output.clone().float()
        for j, i in enumerate(bad):
            output[i] = again[j].float()
            extras[i] = {**again_extras[j], "_retried": True}
            problems[i] = frame_problem(again[j])
            if problems[i]:
                problems[i] += " (also in float32)"
        return output, extras, problems

    def _metadata(self, source: str, target: str, severity: int, knobs: dict[str, float], seed: int,
                  prepared: PreparedImage) -> dict[str, Any]:
        return {
            "editor": self.name, "model": self.model_id, "dtype": str(self.dtype).replace("torch.", ""),
            "steps": self.steps, "guidance": self.guidance, "severity": severity,
            "severity_parameters": dict(knobs), "seed": seed, "source_prompt": source, "target_prompt": target,
            "resolution": self.resolution, "upsampled": prepared.upsampled,
            "prompts_version": self.prompts.version,
        }


def _float32() -> Any:
    import torch

    return torch.float32
