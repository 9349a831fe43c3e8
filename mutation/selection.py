"""Which modules a mutation run mutates, with which tests, and which of their mutants (--match).

The modules and their tests are the keys and `tests` of mutation/modules.toml; the shared mutmut settings are the
[tool.mutmut] table of the repository's pyproject.toml. No module path is written here.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: mutmut itself reads its config with `toml` there
    import toml as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
MODULES_FILE = Path(__file__).resolve().parent / "modules.toml"


@dataclass
class Module:
    key: str
    tests: list[str]
    left_out: list[str] = field(default_factory=list)  # --without

    @property
    def patterns(self) -> list[str]:
        return [self.key + "*.py"] if self.key.endswith("/") else [self.key]

    @property
    def short(self) -> str:
        return Path(self.key.rstrip("/")).stem


def load_modules(path: Path = MODULES_FILE) -> list[Module]:
    """The modules of modules.toml, in its order."""
    data = tomllib.loads(path.read_text("utf-8"))
    return [Module(key, list(value["tests"])) for key, value in data.items()]


def pick(modules: list[Module], wanted: list[str]) -> list[Module]:
    """The modules named by key or last name (all of them when none is named); exits on an unknown name."""
    if not wanted:
        return modules
    chosen: list[Module] = []
    for name in wanted:
        norm = name.replace("\\", "/").removeprefix("./")
        hits = [m for m in modules if norm in (m.key, m.key.rstrip("/"), m.short)]
        if not hits:
            sys.exit(f"unknown module {name!r}; known: {', '.join(m.key for m in modules)}")
        chosen += [m for m in hits if m not in chosen]
    return chosen


def leave_out(modules: list[Module], without: list[str]) -> None:
    """Takes the --without test files out of every module's tests, noting them in its left_out."""
    for m in modules:
        m.left_out = [t for t in m.tests if t in without]
        m.tests = [t for t in m.tests if t not in without]


def mutmut_settings(root: Path = ROOT) -> dict:
    """The [tool.mutmut] table of the repository's pyproject.toml (empty when there is none)."""
    return tomllib.loads((root / "pyproject.toml").read_text("utf-8")).get("tool", {}).get("mutmut", {})


def function_name(mutant: str) -> str:
    """The function a mutant changes: "fog" for ...x_fog__mutmut_3, "_Bootstrap.run" for ...xǁ_Bootstrapǁrun__mutmut_1."""
    mangled = mutant.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]
    parts = mangled.split("ǁ")
    return f"{parts[1]}.{parts[2]}" if len(parts) == 3 else mangled.removeprefix("x_")


def matching(names_by_file: dict[str, list[str]], globs: list[str]) -> dict[str, list[str]]:
    """Per file, the mutants of the functions whose name matches one of the globs (all of them when none)."""
    if not globs:
        return names_by_file
    return {path: [n for n in names if any(fnmatch.fnmatch(function_name(n), g) for g in globs)]
            for path, names in names_by_file.items()}
