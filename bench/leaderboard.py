"""The leaderboard at scale: many submissions of many predictions each, built from a results repository on the
loopback Hub, then rebuilt with nothing new.

Synthetic submissions are written straight from numpy (a shared layout of source images, domains, severities,
templates and groups; per model, predictions drawn at its own accuracies), each a valid results file whose metrics
the library computed from its predictions, with 1,000 bootstrap resamples as `imagenet-tc evaluate` does. They are
uploaded as a results dataset repository (`results/all/<model>/<date>.json` and its predictions file, the layout
`imagenet-tc submit --results-repo` writes) to the Hub server of the tests (tests/hub_server/), and the leaderboard
is built from the repository id, as `imagenet-tc leaderboard` does (`build`, then `write`), in a fresh process:

- first build: empty Hugging Face cache and empty verification cache (everything downloaded and verified);
- second build: the same caches (nothing new: the snapshot is local, every verification is cached);
- baselines, in the same run and on the same files: reading and json-parsing every results and predictions file
  (one process: the least a verification must do), and the build without the cache (`cache=None`, one file after
  the other) on the first --baseline submissions, scaled to all; with --before REV, also that uncached build with
  the package as it was at the git revision REV.

Memory: each build's peak is the largest summed RSS of its process and its children (its verification workers),
sampled from /proc every 50 ms while it builds (and apart while it writes). getrusage's maxrss of the build's process
is not used: a process started from this one (which holds the Hub's 3 GB) inherits this one's RSS as its maxrss;
that of its largest worker is shown. CPU seconds (the build and its workers) are given beside: the machine is shared,
and the load average at the start is printed with the figures.

    python bench/leaderboard.py [--submissions 1000] [--rows 10000] [--baseline 30] [--before REV] [--workdir DIR]

Generated submissions are kept in --workdir (default: <tmp>/imagenet-tc-bench-leaderboard) for the next run.
Goals (issue 31): first build <= 60 s and <= 2 GB on 2 cores, second build <= 5 s. Ends with one line: BENCH {json}.
The submissions, their upload and the baselines' inputs are made in leaderboard_fixtures.py; each build and read
runs in leaderboard_child.py (`--child`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

# run as a script, bench/ is sys.path[0]: the helpers import as top-level modules
from leaderboard_child import child_build, child_read, run_child
from leaderboard_fixtures import REPO, ROOT, package_at, submissions, subset, upload

GOALS = {"first_build_s": 60.0, "peak_memory_mb": 2048.0, "second_build_s": 5.0}
# the same time goals held to the whole command: build, then write the tables, report and plots
WHOLE_GOALS = {"first_total_s": 60.0, "second_total_s": 5.0}


def measure(args: argparse.Namespace, folder: Path, workdir: Path) -> dict:
    """Uploads the submissions to a loopback Hub and runs the builds and baselines, each in a fresh process: their
    answers (first, second, read, uncached, before), whether both builds ranked the same, the upload's seconds."""
    sys.path.insert(0, str(ROOT / "tests"))
    from hub_server import HubServer, client_environment

    run = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    try:
        with HubServer() as hub:
            env = client_environment(hub.endpoint, str(run / "hf_home"))
            env.update(HF_HUB_DISABLE_PROGRESS_BARS="1", IMAGENET_TC_CACHE=str(run / "imagenet_tc_cache"),
                       PYTHONPATH=str(ROOT))
            uploaded = upload(folder, env)
            print(f"uploaded {args.submissions} submissions to {REPO} on the loopback Hub in {uploaded:.1f} s")
            cache = str(run / "verify_cache")
            first = run_child(["build", REPO, cache, str(run / "board")], env)
            first_board = json.loads((run / "board" / "leaderboard.json").read_text())
            # the scheduled rebuild: the same output folder, whose report it may reuse
            second = run_child(["build", REPO, cache, str(run / "board")], env)
            snapshot = next((run / "hf_home").rglob("snapshots/*"))
            read = run_child(["read", str(snapshot)], env)
            baseline_n = min(args.baseline, args.submissions)
            few = subset(folder, baseline_n, run / "subset")
            uncached = run_child(["build", str(few), "-", str(run / "board_uncached")], env)
            before = None
            if args.before:
                old = package_at(args.before, run / "before")
                before = run_child(["build", str(few), "-", str(run / "board_before")],
                                   env | {"PYTHONPATH": f"{old}{os.pathsep}{ROOT}"})
        boards = [first_board, json.loads((run / "board" / "leaderboard.json").read_text())]
        for board in boards:
            del board["generated"]
        same = boards[0] == boards[1]
    finally:
        shutil.rmtree(run, ignore_errors=True)
    return {"first": first, "second": second, "read": read, "uncached": uncached, "before": before, "same": same,
            "uploaded": uploaded, "baseline_n": baseline_n}


def figures_of(args: argparse.Namespace, m: dict, load: float) -> dict:
    """The BENCH figures of the measurements (rounded), with the goals each met."""
    first, second, read, uncached, before = m["first"], m["second"], m["read"], m["uncached"], m["before"]
    baseline_n = m["baseline_n"]
    scale = args.submissions / baseline_n
    figures = {
        "submissions": args.submissions, "rows": args.rows, "cores": len(os.sched_getaffinity(0)),
        "first_build_s": round(first["build_s"], 2), "first_download_s": round(first["download_s"], 2),
        "first_verify_s": round(first["verify_s"], 2), "first_write_s": round(first["write_s"], 2),
        "import_s": round(first["import_s"], 2),
        "first_total_s": round(first["total_s"], 2), "first_cpu_s": round(first["cpu_s"], 1),
        "first_peak_build_mb": first["peak_build_mb"], "first_maxrss_worker_mb": round(first["maxrss_children_mb"], 1),
        "first_peak_write_mb": first["peak_write_mb"], "second_cpu_s": round(second["cpu_s"], 1),
        "load_average": load,
        "second_build_s": round(second["build_s"], 2), "second_download_s": round(second["download_s"], 2),
        "second_verify_s": round(second["verify_s"], 2), "second_total_s": round(second["total_s"], 2),
        "second_peak_build_mb": second["peak_build_mb"],
        "ranked": first["ranked"], "refused": first["refused"], "second_equals_first": m["same"],
        "read_parse_s": round(read["read_parse_s"], 2),
        "uncached_per_submission_s": round(uncached["build_s"] / baseline_n, 4),
        "uncached_scaled_s": round(uncached["build_s"] * scale, 1),
        "first_over_read_parse": round(first["build_s"] / read["read_parse_s"], 3),
        "uncached_over_first": round(uncached["build_s"] * scale / first["build_s"], 2),
        "first_over_second": round(first["build_s"] / second["build_s"], 1),
        "uploaded_s": round(m["uploaded"], 1),
    }
    if before is not None:
        figures |= {"before": args.before, "before_per_submission_s": round(before["build_s"] / baseline_n, 4),
                    "before_scaled_s": round(before["build_s"] * scale, 1),
                    "before_over_first": round(before["build_s"] * scale / first["build_s"], 2)}
    goals = {"first_build_s": figures["first_build_s"] <= GOALS["first_build_s"],
             "peak_memory_mb": figures["first_peak_build_mb"] <= GOALS["peak_memory_mb"],
             "second_build_s": figures["second_build_s"] <= GOALS["second_build_s"]}
    goals |= {name: figures[name] <= limit for name, limit in WHOLE_GOALS.items()}
    figures["goals_met"] = goals
    return figures


def summary(args: argparse.Namespace, m: dict, figures: dict) -> None:
    """Prints the figures in words, the goals met or missed, and the BENCH line."""
    first, second, read, uncached, before = m["first"], m["second"], m["read"], m["uncached"], m["before"]
    print(f"{args.submissions} submissions x {args.rows} rows, {figures['cores']} cores, load average "
          f"{figures['load_average']} at the start")
    print(f"first build:  {first['build_s']:7.2f} s (download {first['download_s']:.2f} s, then verification "
          f"{first['verify_s']:.2f} s; import {first['import_s']:.2f} s and write {first['write_s']:.2f} s apart, "
          f"cpu {first['cpu_s']:.0f} s with its workers), peak {first['peak_build_mb']:.0f} MB (process and workers; "
          f"a worker's maxrss {first['maxrss_children_mb']:.0f} MB); the write after it: peak "
          f"{first['peak_write_mb']:.0f} MB")
    print(f"second build: {second['build_s']:7.2f} s (download {second['download_s']:.2f} s, verification "
          f"{second['verify_s']:.2f} s; write {second['write_s']:.2f} s apart; cpu {second['cpu_s']:.1f} s), peak "
          f"{second['peak_build_mb']:.0f} MB; same leaderboard: {m['same']}")
    print(f"baseline, read and json-parse the same files: {read['read_parse_s']:.2f} s "
          f"(first build / that = {figures['first_over_read_parse']:.3f})")
    print(f"baseline, build without the cache on {m['baseline_n']}: {uncached['build_s']:.2f} s, "
          f"{figures['uncached_per_submission_s'] * 1000:.0f} ms a submission, {figures['uncached_scaled_s']:.0f} s "
          f"for all (that / first build = {figures['uncached_over_first']:.2f})")
    if before is not None:
        print(f"baseline, the same with the package at {args.before}: {before['build_s']:.2f} s, "
              f"{figures['before_per_submission_s'] * 1000:.0f} ms a submission, {figures['before_scaled_s']:.0f} s "
              f"for all (that / first build = {figures['before_over_first']:.2f})")
    for refusal in first["refusals"]:
        print(f"  refused {refusal['file']}: {'; '.join(refusal['problems'])[:300]}")
    for name, met in figures["goals_met"].items():
        print(f"goal {name} <= {(GOALS | WHOLE_GOALS)[name]:g}: {'met' if met else 'MISSED'}")
    print("BENCH " + json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=30, help="submissions the uncached build is timed on")
    parser.add_argument("--before", metavar="REV", help="also time the uncached build of the package at REV")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "imagenet-tc-bench-leaderboard"))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "build":
            answer = child_build(rest[0], None if rest[1] == "-" else rest[1], rest[2])
        else:
            answer = child_read(rest[0])
        print(json.dumps(answer))
        return

    workdir = Path(args.workdir)
    folder = submissions(workdir, args.submissions, args.rows)
    load = round(os.getloadavg()[0], 2)
    measured = measure(args, folder, workdir)
    summary(args, measured, figures_of(args, measured, load))


if __name__ == "__main__":
    if "--child" not in sys.argv:  # a child imports the package its PYTHONPATH names (--before: an older one)
        sys.path.insert(0, str(ROOT))
    main()
