"""Release recipes: one YAML file per release, the single source of truth for what a release holds and how it
was made. Loading validates every key and value; each error names the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from imagenet_textcorrupt.errors import DataFileError, closest
from imagenet_textcorrupt.results.format import shown
from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS, DOMAINS

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"  # builder/recipes/
SOURCE_TYPES = ("samples", "imagefolder", "flat", "hub", "study")
STUDY_PROMPTS = ("study", "hierarchy")  # a study source's prompts: the study's drawn ones, or the recipe's hierarchy
FORMATS = ("png", "jpeg")
JPEG_SUBSAMPLING = {"4:4:4": 0, "4:2:0": 2}  # Pillow's subsampling= values
ORIGINALS = ("crop", "source")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")
MAX_VALUES = 10_000  # values in editor.params, counting each use of a YAML alias (aliases of aliases grow fast)


@dataclass(frozen=True)
class SourceSpec:
    type: str
    path: str | None = None  # imagefolder, study: val/<wnid>/*.JPEG; flat: the folder of images
    ground_truth: str | None = None  # flat: LOC_val_solution.csv or ILSVRC2012_validation_ground_truth.txt
    devkit_meta: str | None = None  # flat with the devkit's .txt: its meta.mat, which maps ILSVRC2012 ids to wnids
    dataset: str | None = None  # hub: a dataset id or folder for datasets.load_dataset
    config: str | None = None
    split: str = "validation"
    revision: str | None = None
    image_column: str = "image"
    label_column: str = "label"
    prompts: str | None = None  # study: "study" (its drawn prompts) or "hierarchy" (its selection, our prompts)


@dataclass(frozen=True)
class SelectionSpec:
    classes: str | tuple[str, ...] = "all"  # "all" or wnids
    groups: tuple[str, ...] | None = None  # only classes of these groups
    images_per_class: int = 10


@dataclass(frozen=True)
class PromptSpec:
    version: str
    file: str | None = None  # a prompt hierarchy file instead of the shipped one
    domains: tuple[str, ...] = DOMAINS
    templates_per_domain: str | int = "all"  # "all" or how many prompts to sample per domain per image


@dataclass(frozen=True)
class EditorSpec:
    name: str
    model: str | None = None  # Hub id, local folder, tiny:sd / tiny:ip2p (tiny random) or tiny:micro (trained)
    revision: str | None = None  # a branch, tag or commit; the build pins it to a commit (models.json)
    dtype: str | None = None
    steps: int = 50
    guidance: float = 7.5
    batch_size: int = 8  # most edit branches (or pipeline items) in one UNet pass
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputSpec:
    resolution: int = 512
    format: str = "jpeg"
    jpeg_quality: int = 95
    shard_size: int = 500  # rows per build shard
    jpeg_subsampling: str = "4:4:4"  # or 4:2:0, Pillow's default (the study's JPEGs)
    originals: str = "crop"  # the originals' rows: the edits' crop, or the source image at its own size (the study's)


@dataclass(frozen=True)
class QCSpec:
    enabled: bool = True
    model: str = "openai/clip-vit-large-patch14"  # or tiny:clip
    revision: str | None = None  # a branch, tag or commit; the build pins it to a commit (models.json)
    label_rank_max: int = 5
    edit_direction_min: float = 0.0
    ssim_min: float = 0.2


@dataclass(frozen=True)
class ImageNetCSpec:
    """ImageNet-C rows rendered on the same source images (the imagenet-c editor): which corruptions, which of
    its severities 1-5."""

    corruptions: tuple[str, ...] = CORRUPTION_DOMAINS
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    seed: int
    source: SourceSpec
    selection: SelectionSpec
    prompts: PromptSpec
    severities: tuple[int, ...]
    editor: EditorSpec
    output: OutputSpec
    qc: QCSpec
    file: str = ""
    imagenet_c: ImageNetCSpec | None = None  # no ImageNet-C rows unless the recipe asks

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data.pop("file")
        if data["imagenet_c"] is None:  # recipes without it keep the form their builds recorded
            data.pop("imagenet_c")
        if data["source"]["prompts"] is None:  # the same for sources other than the study's
            data["source"].pop("prompts")
        for key in ("jpeg_subsampling", "originals"):  # the same for these keys at their defaults
            if data["output"][key] == getattr(OutputSpec, key):
                data["output"].pop(key)
        return data


class _Reader:
    """Reads one mapping of a recipe, checking keys and types, naming `file: section.key` in every error."""

    def __init__(self, file: str, where: str, raw: Any, allowed: list[str]):
        self.file, self.where = file, where
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise self.error("", "expected a mapping")
        for key in raw:
            if key not in allowed:
                hint = closest(str(key), allowed)
                raise self.error(str(key), "unknown key" + (f"; did you mean {hint[0]}?" if hint else
                                                           f"; expected one of {', '.join(allowed)}"))
        self.raw = raw

    def error(self, key: str, problem: str) -> DataFileError:
        path = ".".join(p for p in (self.where, key) if p)
        return DataFileError(self.file, path, problem)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., check: Any = None) -> Any:
        if key not in self.raw or self.raw[key] is None:
            if default is ...:
                raise self.error(key, "is required")
            return default
        value = self.raw[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(key, f"expected {names}, got {shown(value)}")
        if check is not None:
            problem = check(value)
            if problem:
                raise self.error(key, problem)
        return value


def _positive(value: Any) -> str | None:
    return None if value > 0 else f"must be positive, got {value}"


def _one_of(choices: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def check(value: str) -> str | None:
        if value in choices:
            return None
        hint = closest(value, choices)
        return f"{shown(value)} is not one of {', '.join(choices)}" + (f"; did you mean {hint[0]}?" if hint else "")
    return check


def _count_values(value: Any, limit: int = MAX_VALUES) -> int:
    """How many values a YAML tree holds, each use of an alias counted again; stops counting past `limit` (a
    tree that refers to itself, or aliases nested ten deep, would otherwise take forever)."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set)):
            stack += list(item)
    return count


def _bounded(value: Any) -> str | None:
    if _count_values(value) > MAX_VALUES:
        return f"holds more than {MAX_VALUES} values (counting each use of a YAML alias)"
    return None


def _text(value: Any) -> str:
    """A value that should have been text, as an error message quotes it."""
    return value if isinstance(value, str) else shown(value)


def parse_recipe(raw: Any, file: str) -> Recipe:
    top = _Reader(file, "", raw, ["name", "version", "seed", "source", "selection", "prompts", "severities",
                                  "editor", "output", "qc", "imagenet_c"])
    name = top.get("name", str, check=lambda v: None if re.match(r"^[\w.-]+$", v) else
                   "use letters, digits, '.', '_' or '-'")
    version = top.get("version", str, check=lambda v: None if VERSION.match(v) else "expected MAJOR.MINOR.PATCH")
    seed = top.get("seed", int, 0, check=lambda v: None if v >= 0 else "must be >= 0")

    s = _Reader(file, "source", top.raw.get("source"), [f for f in SourceSpec.__dataclass_fields__])
    source_type = s.get("type", str, check=_one_of(SOURCE_TYPES))
    source = SourceSpec(source_type, s.get("path", str, None), s.get("ground_truth", str, None),
                        s.get("devkit_meta", str, None), s.get("dataset", str, None), s.get("config", str, None), s.get("split", str, "validation"),
                        s.get("revision", str, None), s.get("image_column", str, "image"),
                        s.get("label_column", str, "label"),
                        s.get("prompts", str, None, check=_one_of(STUDY_PROMPTS)))
    if source_type != "study" and source.prompts is not None:
        raise s.error("prompts", f"applies only to a source of type study (the study's selection with its own "
                      f"prompts or the hierarchy's); a source of type {source_type} takes the hierarchy's")
    if source_type == "study" and source.prompts is None:
        source = replace(source, prompts="study")
    required = {"imagefolder": ["path"], "flat": ["path", "ground_truth"], "hub": ["dataset"], "samples": [],
                "study": ["path"]}
    for key in required[source_type]:
        if getattr(source, key) is None:
            raise s.error(key, f"is required for a source of type {source_type}")
    if source_type == "flat" and str(source.ground_truth).endswith(".txt") and not source.devkit_meta:
        raise s.error("devkit_meta", "is required with the devkit's ground-truth .txt (its ids are not the "
                      "standard class order); or give LOC_val_solution.csv")

    sel = _Reader(file, "selection", top.raw.get("selection"), ["classes", "groups", "images_per_class"])
    classes = sel.get("classes", (str, list), "all")
    if isinstance(classes, str) and classes != "all":
        raise sel.error("classes", f"expected 'all' or a list of wnids, got {shown(classes)}")
    if isinstance(classes, list):
        bad = [c for c in classes if not isinstance(c, str) or not re.match(r"^n\d{8}$", c)]
        if bad or not classes:
            raise sel.error("classes", f"{shown(bad[0])} is not a wnid" if bad else "the list is empty")
        classes = tuple(classes)
    groups = sel.get("groups", list, None)
    for i, group in enumerate(groups or []):
        if not isinstance(group, str):
            raise sel.error(f"groups[{i}]", f"expected a group name, got {shown(group)}")
    selection = SelectionSpec(classes, tuple(groups) if groups else None,
                              sel.get("images_per_class", int, 10, check=_positive))
    if source_type == "study" and (classes != "all" or groups):
        raise sel.error("classes" if classes != "all" else "groups", "the study's source chooses its own classes "
                        "(its sub-class quotas); only images_per_class applies")

    pr = _Reader(file, "prompts", top.raw.get("prompts"), ["version", "file", "domains", "templates_per_domain"])
    domains = pr.get("domains", list, list(DOMAINS))
    for i, domain in enumerate(domains):
        if domain not in DOMAINS:
            raise pr.error(f"domains[{i}]", _one_of(DOMAINS)(_text(domain)) or "")
    per_domain = pr.get("templates_per_domain", (str, int), "all")
    if per_domain != "all" and (not isinstance(per_domain, int) or per_domain < 1):
        raise pr.error("templates_per_domain", f"expected 'all' or a positive number, got {shown(per_domain)}")
    prompts = PromptSpec(pr.get("version", str), pr.get("file", str, None), tuple(domains), per_domain)

    severities = top.get("severities", list, [1, 2, 3])
    if not severities or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in severities):
        raise top.error("severities", f"expected a list of levels 1, 2, ..., got {shown(severities)}")

    ed = _Reader(file, "editor", top.raw.get("editor"), [f for f in EditorSpec.__dataclass_fields__])
    editor = EditorSpec(ed.get("name", str, check=lambda v: "imagenet-c is asked for by the recipe's imagenet_c "
                               "section, beside a text-guided editor" if v == "imagenet-c" else None),
                        ed.get("model", str, None), ed.get("revision", str, None),
                        ed.get("dtype", str, None), ed.get("steps", int, 50, check=_positive),
                        ed.get("guidance", float, 7.5), ed.get("batch_size", int, 8, check=_positive),
                        dict(ed.get("params", dict, {}, check=_bounded)))

    out = _Reader(file, "output", top.raw.get("output"), [f for f in OutputSpec.__dataclass_fields__])
    output = OutputSpec(out.get("resolution", int, 512, check=lambda v: None if v >= 8 and v % 8 == 0 else
                                "must be a positive multiple of 8"),
                        out.get("format", str, "jpeg", check=_one_of(FORMATS)),
                        out.get("jpeg_quality", int, 95, check=lambda v: None if 1 <= v <= 100 else "must be 1..100"),
                        out.get("shard_size", int, 500, check=_positive),
                        out.get("jpeg_subsampling", str, "4:4:4", check=_one_of(tuple(JPEG_SUBSAMPLING))),
                        out.get("originals", str, "crop", check=_one_of(ORIGINALS)))

    q = _Reader(file, "qc", top.raw.get("qc"), [f for f in QCSpec.__dataclass_fields__])
    qc = QCSpec(q.get("enabled", bool, True), q.get("model", str, QCSpec.model), q.get("revision", str, None),
                q.get("label_rank_max", int, 5, check=_positive), q.get("edit_direction_min", float, 0.0),
                q.get("ssim_min", float, 0.2))
    return Recipe(name, version, seed, source, selection, prompts, tuple(severities), editor, output, qc, file,
                  _imagenet_c(file, top.raw.get("imagenet_c")) if "imagenet_c" in top.raw else None)


def _imagenet_c(file: str, raw: Any) -> ImageNetCSpec:
    r = _Reader(file, "imagenet_c", raw, ["corruptions", "severities"])
    corruptions = r.get("corruptions", (str, list), "all")
    if corruptions == "all":
        corruptions = list(CORRUPTION_DOMAINS)
    if isinstance(corruptions, str) or not corruptions:
        raise r.error("corruptions", f"expected 'all' or a list of ImageNet-C corruptions, got {shown(corruptions)}")
    for i, name in enumerate(corruptions):
        problem = _one_of(CORRUPTION_DOMAINS)(_text(name))
        if problem:
            raise r.error(f"corruptions[{i}]", problem)
    severities = r.get("severities", list, [1, 2, 3, 4, 5])
    if not severities or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5 for v in severities):
        raise r.error("severities", f"expected a list of ImageNet-C severities 1 to 5, got {shown(severities)}")
    return ImageNetCSpec(tuple(dict.fromkeys(corruptions)), tuple(dict.fromkeys(severities)))


def load_recipe(path: str | Path) -> Recipe:
    """Load a recipe by path, or by name from builder/recipes/ ("smoke", "v1")."""
    file = Path(path)
    if not file.exists() and (RECIPES_DIR / f"{path}.yaml").exists():
        file = RECIPES_DIR / f"{path}.yaml"
    if not file.exists():
        names = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
        raise DataFileError(str(path), "", f"no such recipe (shipped recipes: {', '.join(names)})")
    try:
        if not file.is_file():  # a folder, or a device or pipe that could be read forever
            raise DataFileError(str(file), "", "not a regular file")
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataFileError(str(file), "", f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise DataFileError(str(file), "", f"cannot be read ({error.strerror or error})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DataFileError(str(file), "", f"not valid YAML: {error}") from None
    except RecursionError:
        raise DataFileError(str(file), "", "not valid YAML: nested too deeply") from None
    except ValueError as error:  # e.g. an integer of thousands of digits
        raise DataFileError(str(file), "", f"not valid YAML: {error}") from None
    return parse_recipe(raw, str(file))
