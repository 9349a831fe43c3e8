"""The build loop: recipe -> parquet shards of rows, resumable, on one process or many.

    python -m builder build --recipe smoke --out build/
    accelerate launch -m builder build --recipe v1 --out build/      # shards split across processes
    python -m builder build --recipe v1 --out build/ --num-shards 8 --shard-index 3   # one job of an array

Layout of the build folder:
    recipe.json               the recipe as parsed (a rerun with another recipe is refused)
    models.json               every model the build uses, pinned to a commit (or a folder's hash) by the first
                              process; every process loads exactly these, and a resume whose pins fail is refused
    implementations.json      with ImageNet-C rows: the corruptions' implementation version (and frost's pictures'
                              sha256), checked the same way
    shards/shard-00000.parquet  rows of whole source images, in the schema of `imagenet_textcorrupt.schema`
    done/shard-00000.json       written after its shard: rows, sha256, rejects, QC counts (the manifest entry)
    rejects/shard-00000.jsonl   inputs that could not be read or edited, with the reason
    manifest.json, rejects.jsonl  gathered from the above when a process finishes

Every file is written to a temporary name and renamed, so a kill at any moment loses at most the shard in
progress; a rerun skips the shards whose entry exists and whose parquet still has the recorded sha256. A shard is
a deterministic function of the recipe, its pinned models and its index, so the rerun's bytes equal an
uninterrupted run's (on GPUs within the limits `builder.generation.determinism` and docs/maintainers/building.md state).

All the edits of a source image go to the editor in one call (every severity), handed the prepared image, so the
editor shares what they have in common and the rows say whether the source was upsampled.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from imagenet_textcorrupt.atomic import atomic_write_bytes, atomic_write_text
from imagenet_textcorrupt.checksums import sha256_file
from imagenet_textcorrupt.classes import get_class
from imagenet_textcorrupt.errors import ImageNetTCError

from builder.generation import parquet_files
from builder.generation.determinism import make_deterministic
from builder.editors import create_editor
from builder.editors.base import resolve_device
from builder.editors.imagenet_c import IMAGENET_C_SIDE, IMPLEMENTATION, at_imagenet_c_side
from builder.editors.preprocess import PreparedImage, prepare_image
from builder.planning.pins import ModelPin, pin_build_implementations, pin_build_models
from builder.planning.plan import Shard, WorkItem, is_imagenet_c, make_shards
from builder.planning.recipes import JPEG_SUBSAMPLING, Recipe
from builder.planning.sources import create_source


class BuildError(ImageNetTCError):
    """The build folder belongs to another recipe, or the arguments do not make sense."""


@dataclass
class BuildSummary:
    shards_total: int
    shards_mine: list[int]
    shards_built: list[int] = field(default_factory=list)
    shards_skipped: list[int] = field(default_factory=list)
    rows: int = 0
    rejects: int = 0
    qc: Counter = field(default_factory=Counter)  # (domain, passed) -> rows
    seconds: float = 0.0

    def pass_rates(self) -> dict[str, float]:
        domains = sorted({d for d, _ in self.qc})
        return {d: self.qc[(d, True)] / max(1, self.qc[(d, True)] + self.qc[(d, False)]) for d in domains}


def my_shards(total: int, num_shards: int = 1, shard_index: int = 0, world: int = 1, rank: int = 0) -> list[int]:
    """The shards one process builds: a job array's share (index mod num_shards), split again across the
    processes of an accelerate launch. Every split covers each shard exactly once."""
    if not 0 <= shard_index < num_shards:
        raise BuildError(f"--shard-index {shard_index} must be in 0..{num_shards - 1}")
    job = [i for i in range(total) if i % num_shards == shard_index]
    return [i for j, i in enumerate(job) if j % world == rank]


def _encode(image: Image.Image, recipe: Recipe) -> bytes:
    buffer = io.BytesIO()
    if recipe.output.format == "png":
        image.save(buffer, format="PNG", optimize=False)
    else:
        image.save(buffer, format="JPEG", quality=recipe.output.jpeg_quality,
                   subsampling=JPEG_SUBSAMPLING[recipe.output.jpeg_subsampling])
    return buffer.getvalue()


class Builder:
    def __init__(self, recipe: Recipe, out: str | Path, device: str | None = None, progress: bool = True):
        self.recipe, self.out, self.progress = recipe, Path(out), progress
        self.device = device
        self._pins: dict[str, ModelPin] | None = None
        self._editor: Any = None
        self._corruptors: dict[str, Any] = {}  # ImageNet-C editors by corruption
        self._scorer: Any = None
        self.source = create_source(recipe.source)
        from imagenet_textcorrupt.schema import features

        self.features = features()
        self.arrow_schema = self.features.arrow_schema  # carries the Features (ClassLabel names) into every shard

    # -- the folder --------------------------------------------------------------------------------------------
    def claim_folder(self) -> None:
        """Record the recipe in the folder, or refuse a folder that another recipe started."""
        recorded = self.out / "recipe.json"
        mine = json.dumps(self.recipe.to_dict(), indent=2, sort_keys=True) + "\n"
        if recorded.exists():
            if recorded.read_text() != mine:
                raise BuildError(f"{self.out} holds a build of another recipe (see {recorded}); use another --out")
            return
        atomic_write_text(recorded, mine)

    def shard_path(self, index: int) -> Path:
        return self.out / "shards" / f"shard-{index:05d}.parquet"

    def entry_path(self, index: int) -> Path:
        return self.out / "done" / f"shard-{index:05d}.json"

    def is_done(self, index: int) -> bool:
        entry, shard = self.entry_path(index), self.shard_path(index)
        if not entry.exists() or not shard.exists():
            return False
        return json.loads(entry.read_text()).get("sha256") == sha256_file(shard)

    # -- models, pinned once per build and loaded once per process when first needed ---------------------------
    @property
    def pins(self) -> dict[str, ModelPin]:
        if self._pins is None:
            from builder.editors.base import editor_class

            spec = self.recipe.editor
            wanted = {"editor": (spec.model or editor_class(spec.name).default_model, spec.revision)}
            if self.recipe.qc.enabled:
                wanted["qc"] = (self.recipe.qc.model, self.recipe.qc.revision)
            self._pins = pin_build_models(self.out, wanted)
        return self._pins

    @property
    def editor(self) -> Any:
        if self._editor is None:
            from builder.planning.plan import prompt_hierarchy

            spec = self.recipe.editor
            pin = self.pins["editor"]
            self._editor = create_editor(spec.name, model=pin.model, device=self.device, dtype=spec.dtype,
                                         revision=spec.revision, pin=pin, resolution=self.recipe.output.resolution,
                                         steps=spec.steps, guidance=spec.guidance, batch_size=spec.batch_size,
                                         prompts=prompt_hierarchy(self.recipe),
                                         **spec.params)  # severities from the recipe's prompt hierarchy
        return self._editor

    def corruptor(self, corruption: str) -> Any:
        """The imagenet-c editor of one corruption (no model: nothing to pin or load); it is handed the image
        already at ImageNet-C's side, resized once per source image for all its corruptions."""
        if corruption not in self._corruptors:
            self._corruptors[corruption] = create_editor("imagenet-c", corruption=corruption,
                                                         resolution=IMAGENET_C_SIDE)
        return self._corruptors[corruption]

    def pin_implementations(self) -> None:
        """Record (or check) the ImageNet-C implementation and frost's pictures this build's rows are made with;
        frost without its pictures fails here, before any shard."""
        if not self.recipe.imagenet_c:
            return
        wanted = {"imagenet-c": IMPLEMENTATION}
        for corruption in self.recipe.imagenet_c.corruptions:
            wanted.update(self.corruptor(corruption).extra)  # frost: {"frost_pictures": sha256 of the six}
        pin_build_implementations(self.out, wanted)

    @property
    def scorer(self) -> Any:
        if self._scorer is None and self.recipe.qc.enabled:
            from builder.generation.quality import QualityScorer

            self._scorer = QualityScorer(self.recipe.qc, self.editor.device, self.pins["qc"])
        return self._scorer

    # -- one shard ---------------------------------------------------------------------------------------------
    def build_shard(self, shard: Shard, bar: Any = None) -> dict[str, Any]:
        """Edit, score and write one shard; returns its manifest entry."""
        rows: list[dict[str, Any]] = []
        rejects: list[dict[str, Any]] = []
        opened = dict((im.source_id, img) for im, img in self.source.iter_open(list(shard.images)))
        by_image: dict[str, list[WorkItem]] = {}
        for item in shard.items:
            by_image.setdefault(item.source_id, []).append(item)
        for image in shard.images:
            items = by_image[image.source_id]
            picture = opened.get(image.source_id)
            try:
                if isinstance(picture, Exception) or picture is None:
                    raise picture or ImageNetTCError("the source did not return the image")
                original = prepare_image(picture, self.recipe.output.resolution, image.source_id)
            except Exception as error:  # unreadable or unusable input: every row of it is a reject
                rejects += [{"id": item.id, "source_id": image.source_id, "reason": f"{type(error).__name__}: "
                             f"{error}"} for item in items]
                if bar is not None:
                    bar.update(len(items))
                continue
            stored = picture.convert("RGB") if self.recipe.output.originals == "source" else None
            rows += self._edit_image(original, items, rejects, bar, stored)
        return self._write(shard, rows, rejects)

    def _edit_image(self, original: PreparedImage, items: list[WorkItem], rejects: list[dict[str, Any]],
                    bar: Any, stored: Image.Image | None = None) -> list[dict[str, Any]]:
        """The rows of one source image; `stored`: the original's row holds this image instead of the crop (the
        source at its own size, as the study saved its originals), while the scores still compare the crops."""
        original_item = next(i for i in items if i.severity == 0)
        results: list[tuple[WorkItem, Image.Image, dict[str, Any]]] = [
            (original_item, original.image, {"upsampled": original.upsampled})]
        calls: dict[Any, list[WorkItem]] = {}  # one call per editor: the recipe's, and one per ImageNet-C corruption
        for item in items:
            if item.severity > 0:
                calls.setdefault(item.domain if is_imagenet_c(item) else None, []).append(item)
        at_side = at_imagenet_c_side(original) if any(key is not None for key in calls) else None
        for key, edits in calls.items():
            editor = self.editor if key is None else self.corruptor(key)
            image = original if key is None else at_side
            outcomes = editor.edit([image] * len(edits), [i.source_prompt for i in edits],
                                   [i.prompt for i in edits], [i.severity for i in edits], [i.seed for i in edits])
            for item, outcome in zip(edits, outcomes):
                if outcome.ok:
                    results.append((item, outcome.image, outcome.metadata))
                else:
                    rejects.append({"id": item.id, "source_id": item.source_id,
                                    "reason": f"edit failed: {outcome.reason}"})
        if bar is not None:
            bar.update(len(items))
        return self._rows(original.image, results, stored)

    def _rows(self, original: Image.Image, results: list[tuple[WorkItem, Image.Image, dict[str, Any]]],
              stored: Image.Image | None = None) -> list[dict[str, Any]]:
        scores: dict[int, Any] = {}
        scored = [k for k, (item, _, _) in enumerate(results) if not is_imagenet_c(item)]  # ImageNet-C is not filtered
        if self.scorer is not None:
            chosen = [results[k] for k in scored]
            scores = dict(zip(scored, self.scorer.score([image for _, image, _ in chosen],
                                                        [get_class(item.wnid).index for item, _, _ in chosen],
                                                        [None if item.severity == 0 else original
                                                         for item, _, _ in chosen],
                                                        [item.source_prompt for item, _, _ in chosen],
                                                        [item.prompt for item, _, _ in chosen])))
        rows = []
        for k, (item, image, meta) in enumerate(results):
            knobs = {**meta.get("severity_parameters", {})}
            knobs.update({key: meta[key] for key in sorted(meta) if key not in _ROW_KEYS})
            recorded = self.source.row_parameters(self.recipe, item.wnid)  # the study's source: its settings
            score = scores.get(k)
            rows.append({
                "id": item.id, "source_id": item.source_id,
                "image": {"bytes": _encode(stored if stored is not None and not item.severity else image,
                                           self.recipe), "path": None},
                "label": get_class(item.wnid).index, "wnid": item.wnid, "group": item.group, "domain": item.domain,
                "template": item.template, "prompt": item.prompt, "source_prompt": item.source_prompt,
                "severity": item.severity, "editor": meta.get("editor", "") if item.severity else "",
                "model": meta.get("model", ""), "seed": item.seed, "steps": meta.get("steps", 0),
                "guidance": meta.get("guidance", 0.0),
                "edit_parameters": json.dumps({**knobs, **recorded}, sort_keys=True) if item.severity else json.dumps(
                    {"upsampled": meta["upsampled"], **recorded}, sort_keys=True),
                "prompts_version": self.recipe.prompts.version,
                "clip_label_rank": score.label_rank if score else 0,
                "clip_label_prob": score.label_prob if score else 0.0,
                "clip_edit_direction": score.edit_direction if score else 0.0,
                "ssim": score.ssim if score else 1.0,
                "passed_qc": score.passed if score else True,
            })
        return rows

    def _write(self, shard: Shard, rows: list[dict[str, Any]], rejects: list[dict[str, Any]]) -> dict[str, Any]:
        import pyarrow as pa

        table = pa.Table.from_pylist(rows, schema=self.arrow_schema)
        buffer = io.BytesIO()
        parquet_files.write_table(table, buffer, self.features)
        path = self.shard_path(shard.index)
        atomic_write_bytes(path, buffer.getvalue())
        atomic_write_text(self.out / "rejects" / f"shard-{shard.index:05d}.jsonl",
                          "".join(json.dumps(r, sort_keys=True) + "\n" for r in rejects))
        qc = Counter((r["domain"], r["passed_qc"]) for r in rows)
        entry = {"shard": shard.index, "file": str(path.relative_to(self.out)), "rows": len(rows),
                 "rejects": len(rejects), "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
                 "qc_passed": {d: qc[(d, True)] for d, _ in sorted(qc)},
                 "qc_failed": {d: qc[(d, False)] for d, _ in sorted(qc)}}
        atomic_write_text(self.entry_path(shard.index), json.dumps(entry, indent=2, sort_keys=True) + "\n")
        return entry

    # -- the run -----------------------------------------------------------------------------------------------
    def run(self, num_shards: int = 1, shard_index: int = 0, world: int = 1, rank: int = 0,
            resume: bool = True) -> BuildSummary:
        start = time.perf_counter()
        shards = make_shards(self.recipe, self.source.select(self.recipe))
        mine = my_shards(len(shards), num_shards, shard_index, world, rank)
        summary = BuildSummary(len(shards), mine)
        self.claim_folder()
        self.pins  # noqa: B018  (pin every model, or read the pins, before any shard is built)
        self.pin_implementations()
        make_deterministic(resolve_device(self.device))
        todo = [shards[i] for i in mine if not (resume and self.is_done(i))]
        summary.shards_skipped = [i for i in mine if i not in {s.index for s in todo}]
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=sum(len(s.items) for s in todo), unit="item", desc=f"build {self.recipe.name}",
                       disable=None)
        for shard in todo:
            self.build_shard(shard, bar)
            summary.shards_built.append(shard.index)
        if bar is not None:
            bar.close()
        for index in mine:
            entry = json.loads(self.entry_path(index).read_text())
            summary.rows += entry["rows"]
            summary.rejects += entry["rejects"]
            for domain, count in entry["qc_passed"].items():
                summary.qc[(domain, True)] += count
            for domain, count in entry["qc_failed"].items():
                summary.qc[(domain, False)] += count
        self.gather(len(shards))
        summary.seconds = time.perf_counter() - start
        return summary

    def gather(self, total: int) -> None:
        """Write manifest.json and rejects.jsonl from the finished shards' entries (complete once all are done)."""
        entries = [json.loads(self.entry_path(i).read_text()) for i in range(total) if self.entry_path(i).exists()]
        manifest = {"recipe": self.recipe.name, "version": self.recipe.version, "shards_total": total,
                    "complete": len(entries) == total, "rows": sum(e["rows"] for e in entries),
                    "rejects": sum(e["rejects"] for e in entries), "shards": entries}
        atomic_write_text(self.out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        rejects = "".join((self.out / "rejects" / f"shard-{e['shard']:05d}.jsonl").read_text() for e in entries)
        atomic_write_text(self.out / "rejects.jsonl", rejects)


# metadata keys that have columns of their own, or that describe this run rather than the edit (a cache hit);
# everything else goes to edit_parameters
_ROW_KEYS = {"editor", "model", "steps", "guidance", "severity", "severity_parameters", "seed", "source_prompt",
             "target_prompt", "prompts_version", "resolution", "inversion_cached"}
