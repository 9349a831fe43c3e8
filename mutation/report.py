"""The text a mutation run prints and writes: per module a table of statuses, then the survivors (and the timed
out, untested and other mutants) as file:line with the change, lines as in the checkout."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

from runner import Outcome
from selection import ROOT

KILLED = {"killed", "caught by type check"}
TIMEOUT = {"timeout"}
SURVIVED = {"survived"}
NO_TESTS = {"no tests"}


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


def table(by_file: dict[str, list[dict]]) -> list[str]:
    """The statuses counted per file (and in total when there are several files)."""
    header = f"{'file':<42} {'mutants':>7} {'killed':>7} {'survived':>8} {'timed out':>9} {'no tests':>8} {'other':>6}"
    out = ["", header, "-" * len(header)]
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
    return out


def listings(results: dict[str, dict], show_no_tests: bool, root: Path = ROOT) -> list[str]:
    """The mutants not killed, by status: file:line, old -> new and the mutant's name."""
    out = []
    for title, kinds in (("survived", SURVIVED), ("timed out", TIMEOUT), ("no tests", NO_TESTS),
                         ("other", None)):
        rows = [(n, r) for n, r in results.items()
                if (r["status"] in kinds if kinds else r["status"] not in KILLED | SURVIVED | TIMEOUT | NO_TESTS)]
        if not rows or (kinds is NO_TESTS and not show_no_tests):
            if rows:
                out.append(f"\n{title}: {len(rows)} (listed with --show-no-tests)")
            continue
        out.append(f"\n{title}:")
        for name, r in rows:
            if r["diff"]:
                line, old, new = source_line(root, r["path"], name, r["diff"])
                where = f"{r['path']}:{line}" if line else r["path"]
                out.append(f"  {where}  {old}  ->  {new}    [{name.rsplit('.', 1)[-1]}]")
            else:
                out.append(f"  {r['path']}  {r['status']}    [{name.rsplit('.', 1)[-1]}]")
    return out


def report(outcomes: list[Outcome], args: argparse.Namespace, scratch: Path) -> str:
    """The report of the modules run (args: the command line's --sample, --match, --show-no-tests and --keep)."""
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
        out += table(by_file)
        out += listings(o.results, args.show_no_tests)
    if args.keep:
        out.append(f"\nscratch copy kept: cd {scratch} && mutmut show NAME (its [tool.mutmut] is the last module's)")
    return "\n".join(out) + "\n"
