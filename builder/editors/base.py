"""The editor interface, its registry, and what every editor shares: loading, severities, output checks.

An editor turns (images, source prompts, target prompts, severity, seeds) into edited images plus, per item,
the metadata needed to regenerate the edit. Each editor family maps the severity levels of the prompt hierarchy
(`prompts.yaml`, `severity.editors`) to its own knobs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from imagenet_textcorrupt.checksums import update_with_file
from imagenet_textcorrupt.errors import ImageNetTCError, UnknownNameError, closest
from imagenet_textcorrupt.prompts import PromptHierarchy, load_prompts

from builder.editors.preprocess import PreparedImage, prepare_image, tensor_to_images

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


def editor_family(name: str) -> str:
    """The severity family (in prompts.yaml) of a registered editor."""
    _load_builtin_editors()
    if name not in EDITORS:
        raise UnknownNameError("editor", name, closest(name, EDITORS) or sorted(EDITORS))
    return EDITORS[name].family


def create_editor(name: str, model: str | None = None, device: str | None = None, dtype: str | None = None,
                  **params: Any) -> Editor:
    """An editor by registry name, with its model (Hub id or local folder), device, dtype and parameters."""
    _load_builtin_editors()
    if name not in EDITORS:
        raise UnknownNameError("editor", name, closest(name, EDITORS) or sorted(EDITORS))
    return EDITORS[name](model=model, device=device, dtype=dtype, **params)


def _load_builtin_editors() -> None:
    import builder.editors.p2p  # noqa: F401  (registers p2p-nulltext and p2p-direct)
    import builder.editors.pipelines  # noqa: F401  (registers instruct-pix2pix and sdedit)


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


def model_identity(model: str, revision: str | None) -> str:
    """A reproducible name for the weights: "id@commit" for a Hub model, "local:<sha256>" for a folder."""
    path = Path(model)
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in {".json", ".txt",
                                                                                       ".safetensors"}):
            digest.update(str(file.relative_to(path)).encode())
            update_with_file(digest, file)
        return f"local:{digest.hexdigest()[:16]}"
    try:
        from huggingface_hub import snapshot_download

        snapshot = Path(snapshot_download(model, revision=revision, local_files_only=True))
        return f"{model}@{snapshot.name}"
    except Exception:  # not in the local cache under that revision: record what was asked for
        return f"{model}@{revision or 'main'}"


def load_pipeline(pipeline_class: Any, model: str, revision: str | None, device: str, dtype: Any) -> Any:
    """A diffusers pipeline from a Hub id or a local folder: safetensors only, no remote code, no safety checker."""
    kwargs: dict[str, Any] = dict(dtype=dtype, use_safetensors=True, safety_checker=None,
                                  requires_safety_checker=False)
    if revision:
        kwargs["revision"] = revision
    pipeline = pipeline_class.from_pretrained(model, **kwargs)
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
                 guidance: float | None = None, prompts: PromptHierarchy | None = None, **params: Any):
        self.model = model or self.default_model
        self.revision = revision
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.resolution = int(resolution)
        self.steps = int(steps if steps is not None else self.default_steps)
        self.guidance = float(guidance if guidance is not None else self.default_guidance)
        if self.steps < 1:
            raise EditorError(f"steps must be at least 1, got {self.steps}")
        self.prompts = prompts or load_prompts()
        self.params = self._check_params(params)
        self.model_id = model_identity(self.model, revision)
        self._load()

    # -- what each editor provides ---------------------------------------------------------------------------
    known_params: ClassVar[dict[str, Any]] = {}  # extra parameters and their defaults

    def _load(self) -> None:
        raise NotImplementedError

    def _modules(self) -> list[Any]:
        """The torch modules to cast when a batch is retried in float32."""
        raise NotImplementedError

    def _run(self, images: list[Image.Image], sources: list[str], targets: list[str],
             knobs: dict[str, float], seeds: list[int]) -> tuple[Any, list[dict[str, Any]]]:
        """Edit prepared images: a tensor [N, 3, H, W] in [-1, 1] and per-item extra metadata."""
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
        return self.prompts.severity_parameters(self.family, severity)

    def edit(self, images: Sequence[Image.Image | str | Path | PreparedImage], source_prompts: Sequence[str],
             target_prompts: Sequence[str], severity: int, seeds: Sequence[int]) -> list[EditResult]:
        """Edit a batch. All sequences have one entry per item; several items may share a source image."""
        n = len(images)
        for label, values in (("source_prompts", source_prompts), ("target_prompts", target_prompts),
                              ("seeds", seeds)):
            if len(values) != n:
                raise EditorError(f"{self.name}: {label} has {len(values)} entries for {n} images")
        for label, values in (("source_prompts", source_prompts), ("target_prompts", target_prompts)):
            for i, prompt in enumerate(values):
                if not isinstance(prompt, str) or not prompt.strip():
                    raise EditorError(f"{self.name}: {label}[{i}] is empty")
        for i, seed in enumerate(seeds):
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
                raise EditorError(f"{self.name}: seeds[{i}] = {seed!r} is not an integer in [0, 2**63)")
        knobs = self.severity_knobs(severity)
        knobs.update({k: v for k, v in self.params.items() if k in knobs and v is not None})
        if n == 0:
            return []
        prepared = [p if isinstance(p, PreparedImage) else prepare_image(p, self.resolution, f"images[{i}]")
                    for i, p in enumerate(images)]
        pictures = [p.image for p in prepared]
        sources, targets, seed_list = list(source_prompts), list(target_prompts), list(seeds)
        output, extras = self._run(pictures, sources, targets, knobs, seed_list)
        problems = [frame_problem(output[i]) for i in range(n)]
        if any(problems) and self.dtype != _float32():
            output, extras, problems = self._retry_in_float32(pictures, sources, targets, knobs, seed_list,
                                                              output, extras, problems)
        results = []
        for i in range(n):
            metadata = self._metadata(sources[i], targets[i], severity, knobs, seed_list[i], prepared[i])
            metadata.update(extras[i])
            metadata["retried_in_float32"] = bool(metadata.pop("_retried", False))
            if problems[i]:
                results.append(EditResult(None, metadata, problems[i]))
            else:
                results.append(EditResult(tensor_to_images(output[i:i + 1])[0], metadata))
        return results

    def _retry_in_float32(self, pictures: list[Image.Image], sources: list[str], targets: list[str],
                          knobs: dict[str, float], seeds: list[int], output: Any, extras: list[dict[str, Any]],
                          problems: list[str | None]) -> tuple[Any, list[dict[str, Any]], list[str | None]]:
        """Run the items with a bad frame again with every module in float32, then restore the dtype."""
        bad = [i for i, p in enumerate(problems) if p]
        original = self.dtype
        modules = self._modules()
        try:
            for module in modules:
                module.to(_float32())
            self.dtype = _float32()
            again, again_extras = self._run([pictures[i] for i in bad], [sources[i] for i in bad],
                                            [targets[i] for i in bad], knobs, [seeds[i] for i in bad])
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
