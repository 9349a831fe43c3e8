"""Mutation run over the method modules: mutmut, one module at a time, with that module's tests, in a scratch copy.

    python mutation/run.py [MODULE ...] [--sample K] [--max-children N] [--keep] [--report FILE]

MODULE is a key of mutation/modules.toml (a file, or a folder ending in "/") or its last name ("attention",
"metrics"); none: all of them. Needs the mutation extra: pip install -c constraints.txt ".[all,mutation]".

The checkout is never written to: the tracked and untracked-but-not-ignored files are copied to a scratch folder
(a temporary one unless --scratch), and mutmut runs there, in its own mutants/ copy. Before a module runs, the
scratch copy of its files gets its function decorators unfolded (`@torch.no_grad()` over `def f` becomes
`f = torch.no_grad()(f)` after it), because mutmut 3 does not mutate decorated functions, and every ImageNet-C
corruption (`@_register(...)`) and the prompt-to-prompt sampling loops (`@torch.no_grad()`) are decorated; the
unfolded code is the same code. Property setters and single @staticmethod/@classmethod stay as they are (mutmut
mutates the latter itself).

Per module it prints a table (mutants, killed, survived, timed out, no tests: no selected test calls the function)
and every survivor as file:line with the change, lines as in the checkout. --sample K tests every K-th mutant of
each file (in mutmut's order) and says so. With --keep, `mutmut show NAME` / `mutmut browse` work in the scratch
folder it names.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: mutmut itself reads its config with `toml` there
    import toml as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
MODULES_FILE = Path(__file__).resolve().parent / "modules.toml"
# copied when there is no git to list the files with
SKIP_DIRS = {".git", ".venv", "venv", "mutants", "__pycache__", ".pytest_cache", "build", "dist", ".cache"}
KILLED = {"killed", "caught by type check"}
TIMEOUT = {"timeout"}
SURVIVED = {"survived"}
NO_TESTS = {"no tests"}
# Each mutant's tests run single-threaded (--threads): mutmut runs --max-children of them at once, and OpenMP
# threads spin at their barriers while a sibling thread waits for a core, which on a shared machine (or under
# `nice`) made the editors' tests ~5x slower than the same work on one thread.
THREAD_VARIABLES: dict[str, str] = {}

# Run inside the scratch folder with its pyproject's [tool.mutmut]: mutmut's own functions, so the names and the
# diffs are mutmut's (pinned to 3.8.1 by the mutation extra).
LIST_HELPER = """
import json, sys
import mutmut.__main__ as mm
from mutmut.mutation.data import SourceFileMutationData
from mutmut.utils.file_utils import walk_mutatable_files
names = {}
for path in walk_mutatable_files():
    result = mm.create_file_mutants(path)
    if result.error:
        raise result.error
    data = SourceFileMutationData(path=path)
    data.load()
    names[str(path)] = list(data.exit_code_by_key)
json.dump(names, open(sys.argv[1], "w"))
"""
RESULTS_HELPER = """
import json, sys
import mutmut.__main__  # noqa: F401  (sets mutmut's start method as `mutmut run` does)
from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files
out = {}
for path in walk_mutatable_files():
    data = SourceFileMutationData(path=path)
    data.load()
    for name, code in data.exit_code_by_key.items():
        status = status_by_exit_code[code]
        diff = get_diff_for_mutant(name, path=path) if status not in ("killed", "not checked", "no tests") else ""
        out[name] = {"path": str(path), "status": status, "diff": diff}
json.dump(out, open(sys.argv[1], "w"))
"""


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


@dataclass
class Outcome:
    module: Module
    total: int = 0  # mutants of its files
    tested: list[str] = field(default_factory=list)
    results: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""


def load_modules() -> list[Module]:
    data = tomllib.loads(MODULES_FILE.read_text("utf-8"))
    return [Module(key, list(value["tests"])) for key, value in data.items()]


def pick(modules: list[Module], wanted: list[str]) -> list[Module]:
    if not wanted:
        return modules
    chosen = []
    for name in wanted:
        norm = name.replace("\\", "/").removeprefix("./")
        hits = [m for m in modules if norm in (m.key, m.key.rstrip("/"), m.short)]
        if not hits:
            sys.exit(f"unknown module {name!r}; known: {', '.join(m.key for m in modules)}")
        chosen += [m for m in hits if m not in chosen]
    return chosen


def checkout_files(root: Path) -> list[Path]:
    """The files of the working tree as git sees them (tracked or untracked, not ignored), or all but SKIP_DIRS."""
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], capture_output=True, check=True).stdout
        files = [Path(p) for p in listed.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            files += [Path(folder, n).relative_to(root) for n in names]
    return [f for f in files if (root / f).is_file()]


def copy_tree(root: Path, scratch: Path) -> None:
    for rel in checkout_files(root):
        target = scratch / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(root / rel, target)
        except FileNotFoundError:  # removed since it was listed (an editor's temporary file)
            target.unlink(missing_ok=True)


def unfold_decorators(path: Path) -> int:
    """Rewrite the decorated functions of a module (top level and class bodies) as plain defs followed by
    `name = deco(name)`; returns how many. Leaves @x.setter/@x.deleter/@overload and a lone staticmethod or
    classmethod (which mutmut handles) alone."""
    source = path.read_text("utf-8")
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits = []  # (first decorator line, def line, end line, indent, assignment)

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body)
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.decorator_list:
                continue
            texts = [ast.get_source_segment(source, d) or "" for d in node.decorator_list]
            if len(texts) == 1 and texts[0] in ("staticmethod", "classmethod"):
                continue
            if any(t.endswith((".setter", ".deleter")) or t in ("overload", "typing.overload") for t in texts):
                continue
            indent = " " * node.col_offset
            call = node.name
            for text in reversed(texts):
                call = f"({text})({call})"
            first = min(d.lineno for d in node.decorator_list)
            edits.append((first, node.lineno, node.end_lineno, indent, f"{indent}{node.name} = {call}\n"))

    visit(tree.body)
    for first, def_line, end, indent, assignment in sorted(edits, reverse=True):
        lines[end:end] = [assignment]
        del lines[first - 1:def_line - 1]
    if edits:
        path.write_text("".join(lines), "utf-8")
        ast.parse(path.read_text("utf-8"))
    return len(edits)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_mutmut_config(pyproject: Path, settings: dict) -> None:
    """Replace the [tool.mutmut] table of the scratch copy's pyproject.toml."""
    text = pyproject.read_text("utf-8")
    text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", text).rstrip("\n")
    body = "".join(f"{key} = {toml_value(value)}\n" for key, value in settings.items())
    pyproject.write_text(f"{text}\n\n[tool.mutmut]\n{body}", "utf-8")


def mutmut_command() -> list[str]:
    script = Path(sys.executable).parent / ("mutmut.exe" if os.name == "nt" else "mutmut")
    found = str(script) if script.is_file() else shutil.which("mutmut")
    if not found:
        sys.exit('mutmut is not installed here: pip install -c constraints.txt ".[all,mutation]"')
    return [found]


def run_logged(command: list[str], cwd: Path, log: Path, verbose: bool) -> int:
    env = {**os.environ, **THREAD_VARIABLES}
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        if verbose:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for chunk in iter(lambda: process.stdout.read(4096), b""):
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                out.write(chunk.decode(errors="replace"))
            return process.wait()
        return subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode


def function_name(mutant: str) -> str:
    """The function a mutant changes: "fog" for ...x_fog__mutmut_3, "_Bootstrap.run" for ...xǁ_Bootstrapǁrun__mutmut_1."""
    mangled = mutant.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]
    parts = mangled.split("ǁ")
    return f"{parts[1]}.{parts[2]}" if len(parts) == 3 else mangled.removeprefix("x_")


def source_line(root: Path, path: str, name: str, diff: str) -> tuple[int | None, str, str]:
    """Where a mutant's change is in the checkout's file, and the changed lines (old, new)."""
    old = [line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    new = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    hunk = re.search(r"^@@ -(\d+)", diff, re.M)
    # the function: x_<name>__mutmut_N or xǁ<Class>ǁ<name>__mutmut_N
    mangled = name.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]
    parts = mangled.split("ǁ")
    func, cls = (parts[2], parts[1]) if len(parts) == 3 else (mangled.removeprefix("x_"), None)
    file = root / path
    lines = file.read_text("utf-8").splitlines()
    start, end = 1, len(lines)
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.ClassDef) and cls is not None and node.name == cls:
            for child in node.body:
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and child.name == func:
                    start, end = child.lineno, child.end_lineno
        elif cls is None and isinstance(node, ast.Module):
            for child in node.body:
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and child.name == func:
                    start, end = child.lineno, child.end_lineno
    line = None
    if old:
        guess = start + (int(hunk.group(1)) if hunk else 1) - 1
        context = 0
        for text in diff.splitlines()[3:]:
            if text.startswith("-"):
                break
            context += 1
        guess += context
        hits = [i + 1 for i in range(max(0, start - 3), min(end, len(lines))) if lines[i].strip() == old[0].strip()]
        line = min(hits, key=lambda i: abs(i - guess)) if hits else None
    return line, " / ".join(uncomment(s, old, new) for s in old), " / ".join(uncomment(s, old, new) for s in new)


def uncomment(text: str, old: list[str], new: list[str]) -> str:
    """A changed line without the trailing comment that the old and new lines share."""
    cut = text.rfind("  # ")
    if cut > 0 and all(line.endswith(text[cut:]) for line in old + new if "  # " in line):
        text = text[:cut]
    return text.strip()


def run_module(module: Module, scratch: Path, base: dict, args: argparse.Namespace, mutmut: list[str]) -> Outcome:
    outcome = Outcome(module)
    started = time.monotonic()
    shutil.rmtree(scratch / "mutants", ignore_errors=True)
    missing = [t for t in module.tests if not (scratch / t).exists()]
    if missing:
        outcome.error = f"test files not found: {', '.join(missing)}"
        return outcome
    settings = dict(base)
    settings["only_mutate"] = module.patterns
    settings["pytest_add_cli_args_test_selection"] = module.tests
    write_mutmut_config(scratch / "pyproject.toml", settings)
    log = scratch / f"mutmut-{module.short}.log"
    log.unlink(missing_ok=True)
    (scratch / "mutants").mkdir()
    listing = scratch / "mutants" / "run-list.json"
    if run_logged([sys.executable, "-c", LIST_HELPER, str(listing)], scratch, log, False):
        outcome.error = f"mutmut could not generate the mutants; see {log}"
        return outcome
    names_by_file = json.loads(listing.read_text())
    if args.match:
        names_by_file = {path: [n for n in names if any(fnmatch.fnmatch(function_name(n), g) for g in args.match)]
                         for path, names in names_by_file.items()}
    outcome.total = sum(len(v) for v in names_by_file.values())
    outcome.tested = [n for names in names_by_file.values() for n in names[::args.sample]]
    if not outcome.tested:
        outcome.error = "no mutants"
        return outcome
    command = mutmut + ["run", "--max-children", str(args.max_children)]
    if args.sample > 1 or args.match:
        command += outcome.tested
    print(f"  mutmut: {len(outcome.tested)} of {outcome.total} mutants, tests {' '.join(module.tests)} "
          f"(log {log})", flush=True)
    code = run_logged(command, scratch, log, args.verbose)
    results = scratch / "mutants" / "run-results.json"
    if run_logged([sys.executable, "-c", RESULTS_HELPER, str(results)], scratch, log, False) or not results.exists():
        outcome.error = f"mutmut run ended with {code} and left no results; see {log}"
        return outcome
    every = json.loads(results.read_text())
    outcome.results = {name: every[name] for name in outcome.tested if name in every}
    if code != 0:
        outcome.error = f"mutmut run ended with {code}; see {log}"
    outcome.seconds = time.monotonic() - started
    return outcome


def report(outcomes: list[Outcome], args: argparse.Namespace, scratch: Path) -> str:
    out = []
    for o in outcomes:
        sampled = f", sampled 1 in {args.sample} of {o.total} mutants" if args.sample > 1 else ""
        sampled += "".join(f", without {t}" for t in o.module.left_out)
        sampled += f", functions {' '.join(args.match)}" if args.match else ""
        out.append(f"\n## {o.module.key}  ({', '.join(o.module.tests)}; {o.seconds / 60:.1f} min{sampled})")
        if o.error:
            out.append(f"ERROR: {o.error}")
        if not o.results:
            continue
        by_file: dict[str, list[dict]] = {}
        for name, r in o.results.items():
            by_file.setdefault(r["path"], []).append({"name": name, **r})
        header = f"{'file':<42} {'mutants':>7} {'killed':>7} {'survived':>8} {'timed out':>9} {'no tests':>8} {'other':>6}"
        out += ["", header, "-" * len(header)]
        totals = [0] * 6
        for path, rows in sorted(by_file.items()):
            counts = [len(rows), sum(r["status"] in KILLED for r in rows), sum(r["status"] in SURVIVED for r in rows),
                      sum(r["status"] in TIMEOUT for r in rows), sum(r["status"] in NO_TESTS for r in rows)]
            counts.append(counts[0] - sum(counts[1:]))
            totals = [a + b for a, b in zip(totals, counts)]
            out.append(f"{path:<42} {counts[0]:>7} {counts[1]:>7} {counts[2]:>8} {counts[3]:>9} {counts[4]:>8} "
                       f"{counts[5]:>6}")
        if len(by_file) > 1:
            out.append(f"{'total':<42} {totals[0]:>7} {totals[1]:>7} {totals[2]:>8} {totals[3]:>9} {totals[4]:>8} "
                       f"{totals[5]:>6}")
        for title, kinds in (("survived", SURVIVED), ("timed out", TIMEOUT), ("no tests", NO_TESTS),
                             ("other", None)):
            rows = [(n, r) for n, r in o.results.items()
                    if (r["status"] in kinds if kinds else r["status"] not in KILLED | SURVIVED | TIMEOUT | NO_TESTS)]
            if not rows or (kinds is NO_TESTS and not args.show_no_tests):
                if rows:
                    out.append(f"\n{title}: {len(rows)} (listed with --show-no-tests)")
                continue
            out.append(f"\n{title}:")
            for name, r in rows:
                if r["diff"]:
                    line, old, new = source_line(ROOT, r["path"], name, r["diff"])
                    where = f"{r['path']}:{line}" if line else r["path"]
                    out.append(f"  {where}  {old}  ->  {new}    [{name.rsplit('.', 1)[-1]}]")
                else:
                    out.append(f"  {r['path']}  {r['status']}    [{name.rsplit('.', 1)[-1]}]")
    if args.keep:
        out.append(f"\nscratch copy kept: cd {scratch} && mutmut show NAME (its [tool.mutmut] is the last module's)")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help="keys of mutation/modules.toml or their last "
                        "names (attention, sharing, p2p, inversion, corruptions, metrics, zero_shot, pins, generate)")
    parser.add_argument("--sample", type=int, default=1, metavar="K", help="test every K-th mutant of each file")
    parser.add_argument("--without", action="append", default=[], metavar="TEST_FILE",
                        help="leave this test file out of every module's tests (a quick pass; said in the table)")
    parser.add_argument("--match", action="append", default=[], metavar="GLOB",
                        help="only the mutants of functions whose name matches (fog, 'frost*', 'Class.method')")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    parser.add_argument("--scratch", type=Path, help="copy the tree here (an empty or absent folder) and keep it")
    parser.add_argument("--keep", action="store_true", help="keep the temporary scratch copy")
    parser.add_argument("--report", type=Path, help="also write the tables and survivors to this file")
    parser.add_argument("--show-no-tests", action="store_true", help="list the mutants no selected test reaches")
    parser.add_argument("--verbose", action="store_true", help="show mutmut's own output")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests, and stop")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP/MKL threads per mutant's tests (1)")
    args = parser.parse_args(argv)
    THREAD_VARIABLES.update({v: str(args.threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                             "OPENBLAS_NUM_THREADS")})
    if args.sample < 1:
        parser.error("--sample must be >= 1")
    modules = pick(load_modules(), args.modules)
    for m in modules:
        m.left_out = [t for t in m.tests if t in args.without]
        m.tests = [t for t in m.tests if t not in args.without]
    if args.list:
        for m in modules:
            print(f"{m.key:<34} {' '.join(m.tests)}")
        return 0
    mutmut = mutmut_command()
    base = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8")).get("tool", {}).get("mutmut", {})
    if args.scratch:
        if args.scratch.exists() and any(args.scratch.iterdir()):
            parser.error(f"--scratch {args.scratch} is not empty")
        scratch, args.keep = args.scratch.resolve(), True
        if scratch.is_relative_to(ROOT):
            parser.error("the scratch copy must be outside the checkout")
        scratch.mkdir(parents=True, exist_ok=True)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="imagenet-tc-mutation-"))
    outcomes = []
    try:
        print(f"copying the tree to {scratch}", flush=True)
        copy_tree(ROOT, scratch)
        for module in modules:
            for pattern in module.patterns:
                for file in sorted(scratch.glob(pattern)):
                    unfold_decorators(file)
        for module in modules:
            print(f"{module.key}", flush=True)
            outcomes.append(run_module(module, scratch, base, args, mutmut))
            print(report(outcomes[-1:], args, scratch), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    text = report(outcomes, args, scratch)
    if args.report:
        args.report.write_text(text, "utf-8")
    if len(outcomes) > 1:
        print("# all modules" + text)
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
