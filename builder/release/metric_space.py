"""The metric Space's copy of the metrics: `eval/imagenet_tc/imagenet_tc_core.py`, generated from
`imagenet_textcorrupt/metrics/paired.py`, and one `imagenet_tc_<name>.py` beside it for each module of
`imagenet_textcorrupt/metrics/` that paired.py builds on (`inputs`, `bootstrap`).

    python -m builder metric-space [--space eval/imagenet_tc] [--dataset ORG/imagenet-tc] [--check]

imagenet-textcorrupt is not on PyPI, so the Space (and `evaluate.load` of the Space's id) cannot install it: the
metric module imports a standalone copy of the metrics instead. Each copy is the library's file with its imports
from the other copied modules made relative (`from .imagenet_tc_inputs import ...`) and its other imports from the
package replaced by the values they bring (an exception base class, the domain names, the name of the clean
domain), so `evaluate.load(...)` and `imagenet-tc evaluate` still compute with one implementation. evaluate copies
into its module cache only the files the loading script itself imports (evaluate/loading.py: `get_imports` reads
that one file, and `_download_additional_modules` fetches what it names, locally or from the Hub), so
`imagenet_tc.py` imports every copied file by name. The test suite fails when a copy is stale; this command
rewrites them and removes copies no module is made into any more (`--check` only compares). With `--dataset`, it
also names the published dataset in the Space card's `datasets:` (the repository holds a placeholder until the
maintainers choose the dataset's namespace), which links the Space and the dataset on the Hub.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import re
from pathlib import Path

from imagenet_textcorrupt.errors import ImageNetTCError

CORE_FILE = "imagenet_tc_core.py"
CARD_FILE = "README.md"
PACKAGE = "imagenet_textcorrupt"
METRICS = "imagenet_textcorrupt.metrics"
CORE_MODULE = f"{METRICS}.paired"
GENERATED = "# Generated from imagenet_textcorrupt/metrics/"  # the first line of every copy
DATASETS_LINE = re.compile(r"^datasets:\n(?:- .*\n)+", re.MULTILINE)


class MetricSpaceError(ImageNetTCError):
    """The metrics import something from the package that a standalone copy cannot carry."""


def _replacement(module: str, name: str, importer: str) -> tuple[str, str]:
    """("constant" or "class", the line(s) that define `name` as `module` has it)."""
    value = getattr(importlib.import_module(module), name)
    if inspect.isclass(value) and issubclass(value, Exception) and value.__bases__ == (Exception,):
        return "class", f'class {name}(Exception):\n    """{module}.{name}, in this standalone copy."""\n'
    if isinstance(value, (str, int, float, tuple)) and ast.literal_eval(repr(value)) == value:
        return "constant", f"{name} = {value!r}  # {module}.{name}\n"
    raise MetricSpaceError(f"{_source_name(importer)} imports {module}.{name}, which a standalone copy cannot carry "
                           f"as a value: keep the metrics' imports from the package to constants and exception base "
                           f"classes")


def _source_name(module: str) -> str:
    return module.replace(".", "/") + ".py"


def copy_name(module: str) -> str:
    """The file of the Space that holds the copy of a metrics module: imagenet_tc_core.py for paired.py,
    imagenet_tc_<name>.py for the others."""
    return CORE_FILE if module == CORE_MODULE else f"imagenet_tc_{module.rsplit('.', 1)[1]}.py"


def _package_imports(module: str) -> list[ast.ImportFrom]:
    """The module's top-level imports from the package; any other kind of import of it is refused."""
    source = inspect.getsource(importlib.import_module(module))
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == PACKAGE:
            if any(alias.asname for alias in node.names):
                raise MetricSpaceError(f"{_source_name(module)} line {node.lineno}: {ast.unparse(node)}: aliases "
                                       f"cannot be made standalone")
            if node.module == METRICS:
                raise MetricSpaceError(f"{_source_name(module)} line {node.lineno}: {ast.unparse(node)}: import "
                                       f"from the metrics module that defines the name instead")
            found.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and PACKAGE in ast.unparse(node):
            raise MetricSpaceError(f"{_source_name(module)} line {node.lineno}: {ast.unparse(node)} cannot be made "
                                   f"standalone")
    for node in ast.walk(ast.parse(source)):  # an import inside a function would need the package at run time
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.col_offset and PACKAGE in ast.unparse(node):
            raise MetricSpaceError(f"{_source_name(module)} line {node.lineno}: {ast.unparse(node)} inside a "
                                   f"function cannot be made standalone")
    return found


def copied_modules() -> list[str]:
    """paired.py and every metrics module it builds on, directly or not: the modules the Space carries copies of."""
    found, waiting = [], [CORE_MODULE]
    while waiting:
        module = waiting.pop(0)
        if module in found:
            continue
        found.append(module)
        waiting += [node.module for node in _package_imports(module)
                    if (node.module or "").startswith(METRICS + ".")]
    return found


def _relative_import(module: str, names: list[str]) -> str:
    line = f"from .{copy_name(module)[:-3]} import {', '.join(names)}"
    if len(line) <= 120:
        return line + "\n"
    return f"from .{copy_name(module)[:-3]} import (" + ", ".join(names) + ")\n"


def vendored_copy(module: str, copied: list[str]) -> tuple[str, list[str]]:
    """The text of the Space's copy of one metrics module, and the exception classes it defines in place of an
    import."""
    source = inspect.getsource(importlib.import_module(module))
    lines = source.splitlines(keepends=True)
    dropped: set[int] = set()
    definitions: dict[str, list[str]] = {"relative": [], "constant": [], "class": []}
    classes = []
    first = None
    for node in _package_imports(module):
        names = [alias.name for alias in node.names]
        if node.module in copied:
            definitions["relative"].append(_relative_import(node.module or "", names))
        else:
            for name in names:
                kind, text = _replacement(node.module or "", name, module)
                definitions[kind].append(text)
                classes += [name] if kind == "class" else []
        first = node.lineno - 1 if first is None else first
        dropped.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    block = "".join(definitions["relative"])
    if definitions["relative"] and definitions["constant"]:
        block += "\n"
    block += "".join(definitions["constant"]) + "".join(f"\n\n{text}" for text in definitions["class"])
    if definitions["class"]:  # two blank lines after a class, with those that follow the imports
        following = lines[max(dropped) + 1:max(dropped) + 3]
        block += "\n" * (2 - len(list(itertools.takewhile(lambda line: not line.strip(), following))))
    header = (f"{GENERATED}{_source_name(module).rsplit('/', 1)[1]} by `python -m builder metric-space`:\n"
              "# do not edit; the test suite checks that it is current.\n")
    body = "".join((block if number == first else "") + ("" if number in dropped else line)
                   for number, line in enumerate(lines))
    return header + body, classes


def vendored_files() -> dict[str, str]:
    """The Space's copies of the metrics: file name -> text, imagenet_tc_core.py first."""
    copied = copied_modules()
    files, defined = {}, {}
    for module in copied:
        files[copy_name(module)], classes = vendored_copy(module, copied)
        for name in classes:
            if name in defined:  # two copies would each define a class of their own: one's error is not the other's
                raise MetricSpaceError(f"{_source_name(defined[name])} and {_source_name(module)} both import the "
                                       f"exception {name}: import it in one of them and the other from there")
            defined[name] = module
    return files


def vendored_core() -> str:
    """The text of the Space's copy of imagenet_textcorrupt/metrics/paired.py."""
    return vendored_files()[CORE_FILE]


def stale_copies(space: str | Path, files: dict[str, str] | None = None) -> list[Path]:
    """Generated copies in the Space folder that no metrics module is made into any more."""
    files = vendored_files() if files is None else files
    stale = []
    for path in sorted(Path(space).glob("imagenet_tc_*.py")):
        if path.name not in files:
            with path.open(encoding="utf-8") as handle:
                if handle.readline().startswith(GENERATED):
                    stale.append(path)
    return stale


def write_copies(space: str | Path, check: bool = False) -> list[tuple[Path, bool]]:
    """Write (or with `check`, only compare) every copy; returns each file and whether it was current (a stale copy
    of a module no longer copied is removed unless `check`, and listed as not current)."""
    from imagenet_textcorrupt.atomic import atomic_write_text

    files = vendored_files()
    outcome = []
    for name, text in files.items():
        path = Path(space) / name
        current = path.is_file() and path.read_text(encoding="utf-8") == text
        if not check and not current:
            atomic_write_text(path, text)
        outcome.append((path, current))
    for path in stale_copies(space, files):
        if not check:
            path.unlink()
        outcome.append((path, False))
    return outcome



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
