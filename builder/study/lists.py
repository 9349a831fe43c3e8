"""The study's lists (`data/robutext.yaml`), read and checked: every error names the file and the key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.errors import DataFileError

LISTS_FILE = Path(__file__).resolve().parent / "data" / "robutext.yaml"
WNID = re.compile(r"^n\d{8}$")
FALLBACK_SUB_CLASS = "tool"  # get_subclass: a class in no list is edited as a tool


@dataclass(frozen=True)
class StudyLists:
    """What the study's code holds: its sub-class lists (in its dict order: the order of its draws), the classes it
    draws from each, its prompt templates per domain and sub-class, its colours and class names."""

    repository: str
    commit: str
    seed: int  # of the command that made the study's data
    num_classes: int
    num_images: int
    jpeg_quality: int
    resolution: int
    image_extensions: tuple[str, ...]
    domains: tuple[str, ...]  # the study's names (Drawing, ...) in the order its main loop draws them
    colors: tuple[str, ...]
    quotas: dict[str, int]
    sub_classes: dict[str, tuple[str, ...]]
    prompts: dict[str, dict[str, tuple[str, ...]]]  # domain -> sub-class -> templates
    class_names: dict[str, str]  # wnid -> the study's name (underscores between words)
    file: str = ""

    @property
    def code(self) -> str:
        """Where the study's code is: repository@commit."""
        return f"{self.repository}@{self.commit}"

    def sub_class_of(self, wnid: str) -> str:
        """The first sub-class (in the lists' order) whose list holds the class, else "tool", as the study's
        get_subclass decides."""
        for sub_class, wnids in self.sub_classes.items():
            if wnid in wnids:
                return sub_class
        return FALLBACK_SUB_CLASS

    def name(self, wnid: str) -> str:
        """The class name the study's prompts use: its IMAGENET_DIC entry with spaces for underscores."""
        return self.class_names[wnid].replace("_", " ")

    def source_prompt(self, wnid: str) -> str:
        return f"A {self.name(wnid)}"


def _strings(file: str, key: str, value: Any, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise DataFileError(file, key, "expected a non-empty list")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item or (pattern is not None and not pattern.match(item)):
            raise DataFileError(file, f"{key}[{i}]", f"{item!r} is not " + ("a wnid" if pattern else "a text"))
    if len(set(value)) != len(value):
        raise DataFileError(file, key, "holds the same entry twice")
    return tuple(value)


def _mapping(file: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise DataFileError(file, key, "expected a non-empty mapping")
    return value


def _number(file: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataFileError(file, key, f"expected a whole number >= 0, got {value!r}")
    return value


def parse_lists(raw: Any, file: str) -> StudyLists:
    data = _mapping(file, "", raw)
    keys = ("source", "command", "seed", "num_classes", "num_images", "jpeg_quality", "resolution",
            "image_extensions", "domains", "colors", "quotas", "sub_classes", "prompts", "class_names")
    for key in keys:
        if key not in data:
            raise DataFileError(file, key, "is required")
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise DataFileError(file, unknown[0], "unknown key")
    source = _mapping(file, "source", data["source"])
    for key in ("repository", "commit"):
        if not isinstance(source.get(key), str) or not source[key]:
            raise DataFileError(file, f"source.{key}", "is required: name where the lists come from")

    names = _mapping(file, "class_names", data["class_names"])
    for wnid, name in names.items():
        if not isinstance(wnid, str) or not WNID.match(wnid) or not isinstance(name, str) or not name:
            raise DataFileError(file, f"class_names.{wnid}", "expected a wnid mapped to a name")
    sub_classes = {}
    for sub_class, wnids in _mapping(file, "sub_classes", data["sub_classes"]).items():
        sub_classes[str(sub_class)] = _strings(file, f"sub_classes.{sub_class}", wnids, WNID)
        unnamed = [w for w in sub_classes[str(sub_class)] if w not in names]
        if unnamed:
            raise DataFileError(file, f"sub_classes.{sub_class}", f"{unnamed[0]} has no entry in class_names")
    quotas = {}
    for sub_class, quota in _mapping(file, "quotas", data["quotas"]).items():
        if sub_class not in sub_classes:
            raise DataFileError(file, f"quotas.{sub_class}", "is not a sub-class of sub_classes")
        quotas[str(sub_class)] = _number(file, f"quotas.{sub_class}", quota)
        if quota > len(sub_classes[sub_class]):
            raise DataFileError(file, f"quotas.{sub_class}", f"{quota} classes drawn from a list of "
                                f"{len(sub_classes[sub_class])}")
    if set(quotas) != set(sub_classes):
        missing = sorted(set(sub_classes) - set(quotas))
        raise DataFileError(file, f"quotas.{missing[0]}", "is required: every sub-class has a quota")

    domains = _strings(file, "domains", data["domains"])
    colors = _strings(file, "colors", data["colors"])
    prompts: dict[str, dict[str, tuple[str, ...]]] = {}
    raw_prompts = _mapping(file, "prompts", data["prompts"])
    if set(raw_prompts) != set(domains):
        raise DataFileError(file, "prompts", f"has the domains {sorted(raw_prompts)}; domains lists {sorted(domains)}")
    for domain in domains:
        prompts[domain] = {}
        for sub_class, templates in _mapping(file, f"prompts.{domain}", raw_prompts[domain]).items():
            where = f"prompts.{domain}.{sub_class}"
            if sub_class not in sub_classes and sub_class != FALLBACK_SUB_CLASS:
                raise DataFileError(file, where, "is not a sub-class of sub_classes")
            prompts[domain][str(sub_class)] = _strings(file, where, templates)
            slots = 2 if domain == "Color" else 1  # Color: "A {color} {name}"; the others: the name
            for i, template in enumerate(templates):
                if template.count("{}") != slots:
                    raise DataFileError(file, f"{where}[{i}]", f"{template!r} should have {slots} {{}} slot(s)")
    extensions = _strings(file, "image_extensions", data["image_extensions"])
    return StudyLists(str(source["repository"]), str(source["commit"]), _number(file, "seed", data["seed"]),
                      _number(file, "num_classes", data["num_classes"]),
                      _number(file, "num_images", data["num_images"]),
                      _number(file, "jpeg_quality", data["jpeg_quality"]),
                      _number(file, "resolution", data["resolution"]), extensions, domains, colors, quotas,
                      sub_classes, prompts, dict(names), file)


def load_lists(path: str | Path = LISTS_FILE) -> StudyLists:
    """The study's lists from a file (the shipped one by default)."""
    if Path(path) == LISTS_FILE:
        return _shipped()
    return _read(Path(path))


@lru_cache(maxsize=1)
def _shipped() -> StudyLists:
    return _read(LISTS_FILE)


def _read(path: Path) -> StudyLists:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise DataFileError(str(path), "", f"cannot be read ({error})") from None
    return parse_lists(raw, str(path))
