"""The metric Space's copy of the metrics: `eval/imagenet_tc/imagenet_tc_core.py`, generated from
`imagenet_textcorrupt/metrics/paired.py`.

    python -m builder metric-space [--space eval/imagenet_tc] [--dataset ORG/imagenet-tc] [--check]

imagenet-textcorrupt is not on PyPI, so the Space (and `evaluate.load` of the Space's id) cannot install it: the
metric module imports a standalone copy of the metrics instead. The copy is the library's file with its imports
from the package replaced by the values they bring (an exception base class, the domain names, the name of the
clean domain), so `evaluate.load(...)` and `imagenet-tc evaluate` still compute with one implementation. The test
suite fails when the copy is stale; this command rewrites it (`--check` only compares). With `--dataset`, it
also names the published dataset in the Space card's `datasets:` (the repository holds a placeholder until the
maintainers choose the dataset's namespace), which links the Space and the dataset on the Hub.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

from imagenet_textcorrupt.errors import ImageNetTCError

CORE_FILE = "imagenet_tc_core.py"
CARD_FILE = "README.md"
PACKAGE = "imagenet_textcorrupt"
DATASETS_LINE = re.compile(r"^datasets:\n(?:- .*\n)+", re.MULTILINE)


class MetricSpaceError(ImageNetTCError):
    """The metrics import something from the package that a standalone copy cannot carry."""


def _replacement(module: str, name: str) -> tuple[str, str]:
    """("constant" or "class", the line(s) that define `name` as `module` has it)."""
    value = getattr(importlib.import_module(module), name)
    if inspect.isclass(value) and issubclass(value, Exception) and value.__bases__ == (Exception,):
        return "class", f'class {name}(Exception):\n    """{module}.{name}, in this standalone copy."""\n'
    if isinstance(value, (str, int, float, tuple)) and ast.literal_eval(repr(value)) == value:
        return "constant", f"{name} = {value!r}  # {module}.{name}\n"
    raise MetricSpaceError(f"imagenet_textcorrupt/metrics/paired.py imports {module}.{name}, which a standalone copy "
                           f"cannot carry as a value: keep the metrics' imports from the package to constants and "
                           f"exception base classes")


def vendored_core() -> str:
    """The text of the Space's copy of imagenet_textcorrupt/metrics/paired.py."""
    from imagenet_textcorrupt.metrics import paired

    source = inspect.getsource(paired)
    lines = source.splitlines(keepends=True)
    dropped: set[int] = set()
    definitions: dict[str, list[str]] = {"constant": [], "class": []}
    first = None
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == PACKAGE:
            if any(alias.asname for alias in node.names):
                raise MetricSpaceError(f"line {node.lineno}: {ast.unparse(node)}: aliases cannot be made standalone")
            for alias in node.names:
                kind, text = _replacement(node.module or "", alias.name)
                definitions[kind].append(text)
            first = node.lineno - 1 if first is None else first
            dropped.update(range(node.lineno - 1, node.end_lineno or node.lineno))
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and PACKAGE in ast.unparse(node):
            raise MetricSpaceError(f"line {node.lineno}: {ast.unparse(node)} cannot be made standalone")
    block = "".join(definitions["constant"]) + "".join(f"\n\n{text}" for text in definitions["class"])
    block += "\n" if definitions["class"] else ""  # two blank lines after a class, with the one that follows
    header = ("# Generated from imagenet_textcorrupt/metrics/paired.py by `python -m builder metric-space`:\n"
              "# do not edit; the test suite checks that it is current.\n")
    body = "".join((block if number == first else "") + ("" if number in dropped else line)
                   for number, line in enumerate(lines))
    return header + body


def write_core(space: str | Path, check: bool = False) -> tuple[Path, bool]:
    """Write (or with `check`, only compare) the Space's copy; returns its path and whether it was current."""
    from imagenet_textcorrupt.atomic import atomic_write_text

    path = Path(space) / CORE_FILE
    text = vendored_core()
    current = path.is_file() and path.read_text(encoding="utf-8") == text
    if not check and not current:
        atomic_write_text(path, text)
    return path, current


def set_dataset(space: str | Path, dataset: str) -> Path:
    """Name `dataset` (ORG/NAME) in the Space card's `datasets:` list; the rest of the card stays as it is."""
    from imagenet_textcorrupt.atomic import atomic_write_text
    from imagenet_textcorrupt.hub import HUB_ID

    if not HUB_ID.match(dataset):
        raise MetricSpaceError(f"--dataset {dataset!r}: expected the dataset's Hub id, ORG/NAME")
    path = Path(space) / CARD_FILE
    text = path.read_text(encoding="utf-8")
    header_end = text.find("\n---", 3)
    if not text.startswith("---\n") or header_end < 0 or not DATASETS_LINE.search(text[:header_end + 1]):
        raise MetricSpaceError(f"{path}: no `datasets:` list in its YAML header")
    header = DATASETS_LINE.sub(f"datasets:\n- {dataset}\n", text[:header_end + 1], count=1)
    atomic_write_text(path, header + text[header_end + 1:])
    return path
