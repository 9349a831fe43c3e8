"""The measured processes of the leaderboard bench: `python bench/leaderboard.py --child build|read ...` runs one
of them in a fresh process, which prints its JSON answer.

A build's memory is the largest summed RSS of its process and its children (its verification workers), sampled
from /proc every 50 ms (TreeMemory); its CPU seconds are its process's and its reaped workers'.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ENTRY = Path(__file__).resolve().with_name("leaderboard.py")  # the bench's entry point, which runs --child


def tree_rss(pid: int) -> int:
    """The summed resident memory (bytes) of a process and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack += [int(c) for c in children.read().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


class TreeMemory:
    """The largest summed RSS of this process and its descendants, sampled every 50 ms while it runs."""

    def __init__(self) -> None:
        self.peak, self.stop = 0, threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss(os.getpid()))
            self.stop.wait(0.05)

    def done(self) -> float:
        """The peak in MB."""
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, tree_rss(os.getpid()))
        return round(self.peak / 2 ** 20, 1)


def run_child(args: list[str], env: dict[str, str]) -> dict:
    """Runs bench/leaderboard.py with --child ARGS; its JSON answer."""
    done = subprocess.run([sys.executable, str(ENTRY), "--child", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_build(source: str, cache: str | None, out: str) -> dict:
    """One `imagenet-tc leaderboard` in this process: build (download included) and write, timed, with the peak
    memory of this process and its workers during each."""
    start = time.perf_counter()
    from imagenet_textcorrupt import leaderboard

    imported = time.perf_counter()
    listed = []
    results_files = leaderboard.results_files

    def timed_results_files(*args, **kwargs):  # the download (or the listing of a folder), timed apart
        answer = results_files(*args, **kwargs)
        listed.append(time.perf_counter())
        return answer

    leaderboard.results_files = timed_results_files
    options = {}
    if cache is not None:  # as `imagenet-tc leaderboard` builds: with its cache, and its audit records looked up
        options["cache"] = cache
        if hasattr(leaderboard, "Auditing"):
            from imagenet_textcorrupt.audit.store import AuditStore

            options["auditing"] = leaderboard.Auditing(AuditStore(leaderboard.default_audit_store()), progress=False)
    memory = TreeMemory()
    board = leaderboard.build(source, **options)
    built = time.perf_counter()
    peak_build, memory = memory.done(), TreeMemory()
    # CPU seconds of the build: this process's since it started, and its workers' (reaped when their work ended)
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    leaderboard.write(board, out)
    written = time.perf_counter()
    peak_write = memory.done()
    ranked = sum(len(rows) for s in board.sections for rows in s["configs"].values())
    return {"import_s": imported - start, "build_s": built - imported, "write_s": written - built,
            "download_s": listed[0] - imported, "verify_s": built - listed[0],
            "total_s": written - imported, "ranked": ranked, "refused": len(board.refused),
            "refusals": board.refused[:3],
            "maxrss_children_mb": children.ru_maxrss / 1024, "peak_build_mb": peak_build, "peak_write_mb": peak_write,
            "cpu_s": cpu}


def child_read(folder: str) -> dict:
    """The baseline: read and json-parse every results and predictions file under the folder, one process."""
    start = time.perf_counter()
    files = sorted(Path(folder).rglob("*.json*"))
    rows = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.name.endswith(".jsonl"):
            rows += len([json.loads(line) for line in text.splitlines() if line])
        else:
            json.loads(text)
    return {"read_parse_s": time.perf_counter() - start, "files": len(files), "rows": rows}
