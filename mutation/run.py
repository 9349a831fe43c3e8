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

The work is split over this folder's modules: selection.py (the modules, their tests, the mutants --match keeps),
scratch.py (the scratch copy and its unfolded decorators), runner.py (one module's mutmut run) and report.py (the
tables and survivors).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

# run as a script, this folder is sys.path[0]: its modules import as top-level ones
from report import report
from runner import mutmut_command, run_module
from scratch import prepare
from selection import ROOT, leave_out, load_modules, mutmut_settings, pick


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
    if args.sample < 1:
        parser.error("--sample must be >= 1")
    modules = pick(load_modules(), args.modules)
    leave_out(modules, args.without)
    if args.list:
        for m in modules:
            print(f"{m.key:<34} {' '.join(m.tests)}")
        return 0
    mutmut = mutmut_command()
    base = mutmut_settings(ROOT)
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
        prepare(ROOT, scratch, [pattern for module in modules for pattern in module.patterns])
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
