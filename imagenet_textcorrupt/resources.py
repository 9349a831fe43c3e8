"""Reading the data files shipped beside the code (imagenet_textcorrupt/data/), cached per process."""

from __future__ import annotations

import functools
import json
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml


CLASSES_FILE = "imagenet_classes.tsv"
WORDNET_FILE = "wordnet_hierarchy.jsonl"
GROUPS_FILE = "groups.yaml"
PROMPTS_FILE = "prompts.yaml"


def _data_dir() -> Traversable:
    return resources.files("imagenet_textcorrupt").joinpath("data")


def data_path(name: str) -> Path:
    """Filesystem path of a shipped data file."""
    return Path(str(_data_dir().joinpath(name)))


@functools.cache
def read_text(name: str) -> str:
    return _data_dir().joinpath(name).read_text(encoding="utf-8")


def read_yaml(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@functools.cache
def wordnet_records() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The shipped WordNet hierarchy: (header, one record per class in index order)."""
    lines = read_text(WORDNET_FILE).splitlines()
    header = json.loads(lines[0])
    return header, [json.loads(line) for line in lines[1:]]
