"""One module's mutmut run in the scratch copy: its [tool.mutmut] settings, the mutants listed, run, and read back.

The listing and the results are read through mutmut's own functions (helper scripts run inside the scratch
folder), so the mutant names and diffs are mutmut's (pinned to 3.8.1 by the mutation extra).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from selection import Module, matching

# Run inside the scratch folder with its pyproject's [tool.mutmut]: mutmut's own functions, so the names and the
# diffs are mutmut's.
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
class Outcome:
    module: Module
    total: int = 0  # mutants of its files
    tested: list[str] = field(default_factory=list)
    results: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""


def thread_environment(threads: int) -> dict[str, str]:
    """The OpenMP/MKL/OpenBLAS thread counts of each mutant's tests.

    mutmut runs --max-children mutants at once, and OpenMP threads spin at their barriers while a sibling thread
    waits for a core, which on a shared machine (or under `nice`) made the editors' tests ~5x slower than the same
    work on one thread: hence one thread by default (--threads)."""
    return {v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def toml_value(value: object) -> str:
    """A bool, number, string or list of them as TOML."""
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
    """The mutmut script of this Python (or the one on PATH); exits when there is none."""
    script = Path(sys.executable).parent / ("mutmut.exe" if os.name == "nt" else "mutmut")
    found = str(script) if script.is_file() else shutil.which("mutmut")
    if not found:
        sys.exit('mutmut is not installed here: pip install -c constraints.txt ".[all,mutation]"')
    return [found]


def run_logged(command: list[str], cwd: Path, log: Path, verbose: bool, threads: dict[str, str]) -> int:
    """Runs a command with the thread variables set, its output appended to the log (and shown with verbose)."""
    env = {**os.environ, **threads}
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


def run_module(module: Module, scratch: Path, base: dict, args: argparse.Namespace, mutmut: list[str]) -> Outcome:
    """mutmut over one module in the scratch copy (args: the command line's --match, --sample, --max-children,
    --verbose and --threads); its mutants' statuses and diffs, or the error that stopped it."""
    outcome = Outcome(module)
    started = time.monotonic()
    threads = thread_environment(args.threads)
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
    if run_logged([sys.executable, "-c", LIST_HELPER, str(listing)], scratch, log, False, threads):
        outcome.error = f"mutmut could not generate the mutants; see {log}"
        return outcome
    names_by_file = matching(json.loads(listing.read_text()), args.match)
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
    code = run_logged(command, scratch, log, args.verbose, threads)
    results = scratch / "mutants" / "run-results.json"
    if run_logged([sys.executable, "-c", RESULTS_HELPER, str(results)], scratch, log, False, threads) \
            or not results.exists():
        outcome.error = f"mutmut run ended with {code} and left no results; see {log}"
        return outcome
    every = json.loads(results.read_text())
    outcome.results = {name: every[name] for name in outcome.tested if name in every}
    if code != 0:
        outcome.error = f"mutmut run ended with {code}; see {log}"
    outcome.seconds = time.monotonic() - started
    return outcome
