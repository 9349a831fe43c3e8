"""The layers: `imagenet_textcorrupt` is the library researchers install to score models and never reaches into
`builder`, the maintainers' tooling, except from its command line, which dispatches `imagenet-tc demo`. Every
import counts, at the top of a module or inside a function."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = "imagenet_textcorrupt"
TOOLING = "builder"
MAY_DISPATCH = {f"{CORE}/cli.py"}  # the command line may hand a command to the tooling


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement in a file, wherever it sits."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def crossings(root: Path) -> list[str]:
    """Every import of the tooling from the core, as `file:line imports module`."""
    problems = []
    for path in sorted((root / CORE).rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name in MAY_DISPATCH:
            continue
        problems += [f"{name}:{line} imports {module}" for line, module in imports_of(path)
                     if module == TOOLING or module.startswith(TOOLING + ".")]
    return problems


def test_the_core_never_imports_the_builder():
    assert crossings(ROOT) == []


def test_the_check_sees_every_kind_of_import(tmp_path):
    package = tmp_path / CORE
    package.mkdir()
    (package / "cli.py").write_text("from builder.demo import run_demo\n")  # allowed
    (package / "top.py").write_text("import builder\n")
    (package / "nested.py").write_text("def f():\n    from builder.generate import Builder\n    return Builder\n")
    (package / "fine.py").write_text("import builders_of_things\nfrom . import builder\n")
    assert crossings(tmp_path) == ["imagenet_textcorrupt/nested.py:2 imports builder.generate",
                                   "imagenet_textcorrupt/top.py:1 imports builder"]


WITHOUT_BUILDER = ("import sys, importlib.abc\n"
                   "class Refuse(importlib.abc.MetaPathFinder):\n"
                   "    def find_spec(self, name, path=None, target=None):\n"
                   "        if name == 'builder' or name.startswith('builder.'):\n"
                   "            raise ImportError('No module named ' + repr(name))\n"
                   "sys.meta_path.insert(0, Refuse())\n")


def _without_builder(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_BUILDER + code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("module", ["cli", "evaluation", "leaderboard", "metrics", "report", "results", "submission"])
def test_scoring_modules_load_without_the_builder(module):
    """In a fresh interpreter that cannot import `builder`, the scoring modules still import."""
    done = _without_builder(f"import {CORE}.{module}\n")
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_demo_without_the_builder_says_how_to_install_it():
    done = _without_builder(f"from {CORE}.cli import main\nsys.exit(main(['demo', '--out', 'never']))\n")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error: the demo needs the builder package (No module named 'builder')" in done.stderr
    assert not (ROOT / "never").exists()
