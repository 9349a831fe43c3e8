"""The scratch copy a mutation run works in: the checkout's files copied out, decorated functions unfolded.

mutmut 3 does not mutate decorated functions, so before a module runs its scratch files get each decorated
function rewritten as the plain def followed by `name = deco(name)` (the same code).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterable

# copied when there is no git to list the files with
SKIP_DIRS = {".git", ".venv", "venv", "mutants", "__pycache__", ".pytest_cache", "build", "dist", ".cache"}


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
    """Copies the checkout's files (checkout_files) into the scratch folder."""
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


def prepare(root: Path, scratch: Path, patterns: Iterable[str]) -> None:
    """Copies the checkout into the scratch folder and unfolds the decorators of the files the patterns match."""
    copy_tree(root, scratch)
    for pattern in patterns:
        for file in sorted(scratch.glob(pattern)):
            unfold_decorators(file)
