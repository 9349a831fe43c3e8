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


def import_statements(path: Path) -> list[tuple[int, int, str, list[str]]]:
    """(line, level, module, names) of every import statement in a file, wherever it sits: `import a.b` gives
    level 0, module "a.b" and no names; `from ..a import b, c` level 2, module "a", names ["b", "c"]."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, 0, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.level, node.module or "", [alias.name for alias in node.names]))
    return found


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import statement in a file, wherever it sits."""
    return [(line, module) for line, level, module, _ in import_statements(path) if level == 0 and module]


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


# The shape of the code (issue 33): no import circle between modules, no module over MAX_LINES lines.
PACKAGES = ("imagenet_textcorrupt", "builder", "mutation", "bench", "eval")
MAX_LINES = 400
# The editor registry may stay a circle, as timm's is: `builder/editors/base.py` imports the editor modules so that
# they register themselves, and each of them imports the registry from base.
REGISTRY_PACKAGE = "builder.editors"
REGISTRY = "builder.editors.base"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules(root: Path) -> dict[str, Path]:
    """Every Python module of the project's own code (tests aside), by dotted name."""
    return {module_name(root, path): path for package in PACKAGES for path in sorted((root / package).rglob("*.py"))
            if "__pycache__" not in path.parts}


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules one module imports, anywhere in it: `from a.b import c` counts as an import of the module
    `a.b.c` when that is a module, else of `a.b`; relative imports are resolved against the module's package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for _, level, base, names in import_statements(path):
        if level:
            anchor = package.split(".")[: len(package.split(".")) - level + 1]
            base = ".".join(anchor + ([base] if base else []))
        targets = [f"{base}.{n}" if f"{base}.{n}" in known else base for n in names] if names else [base]
        found.update(target for target in targets if target in known and target != name)
    return found


def import_circles(root: Path) -> list[list[str]]:
    """The strongly connected components of more than one module of the import graph (Tarjan's algorithm),
    each sorted, the editor registry's aside."""
    known = source_modules(root)
    edges = {name: sorted(imported_modules(name, path, known)) for name, path in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(start: str) -> None:
        # iterative depth-first search: (module, position in its edge list)
        work = [(start, 0)]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, position = work.pop()
            if position < len(edges[node]):
                work.append((node, position + 1))
                child = edges[node][position]
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))

    for name in sorted(known):
        if name not in index:
            visit(name)
    return [circle for circle in circles if not _is_the_registry(circle)]


def _is_the_registry(circle: list[str]) -> bool:
    return REGISTRY in circle and all(member.rpartition(".")[0] == REGISTRY_PACKAGE for member in circle)


def test_no_import_circle():
    assert import_circles(ROOT) == []


def test_the_circle_check_finds_circles_through_any_kind_of_import(tmp_path):
    files = {
        "builder/__init__.py": "",
        "builder/a.py": "from builder import b\n",
        "builder/b.py": "def f():\n    from .c import thing\n",
        "builder/c.py": "import builder.a\n",
        "builder/d.py": "from builder.a import name\n",  # imports a, but nothing imports d: no circle
        "builder/editors/__init__.py": "",
        "builder/editors/base.py": "from builder.editors import p2p\n",
        "builder/editors/p2p.py": "from .base import register\n",  # the registry's circle is allowed
        "builder/editors/sub/__init__.py": "",
        "builder/editors/sub/x.py": "from builder.editors.base import register\n",
        "imagenet_textcorrupt/__init__.py": "",
        "imagenet_textcorrupt/m/__init__.py": "from imagenet_textcorrupt.m.inner import value\n",
        "imagenet_textcorrupt/m/inner.py": "from imagenet_textcorrupt import m\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert import_circles(tmp_path) == [["builder.a", "builder.b", "builder.c"],
                                        ["imagenet_textcorrupt.m", "imagenet_textcorrupt.m.inner"]]
    # a module of a subpackage of the editors joining the registry's circle makes it a circle like any other
    (tmp_path / "builder/editors/base.py").write_text("from builder.editors import p2p\nfrom .sub import x\n")
    assert ["builder.editors.base", "builder.editors.p2p", "builder.editors.sub.x"] in import_circles(tmp_path)


def oversized_modules(root: Path) -> list[str]:
    found = []
    for path in source_modules(root).values():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            found.append(f"{path.relative_to(root).as_posix()}: {lines} lines")
    return sorted(found)


def test_no_module_is_over_400_lines():
    assert oversized_modules(ROOT) == []


def test_the_size_check_counts_lines(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench/long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "bench/fine.py").write_text("x = 1\n" * MAX_LINES)
    assert oversized_modules(tmp_path) == [f"bench/long.py: {MAX_LINES + 1} lines"]
