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
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPO = "org/imagenet-tc-results"
DATE = "20261101T000000Z"
DOMAINS = ("color", "context", "drawing", "texture", "weather")  # in id order
SEVERITIES = (1, 2, 3)
TEMPLATES = 2  # prompt templates per domain; each source image is edited with one of them per domain
PER_SOURCE = 1 + len(DOMAINS) * len(SEVERITIES)
RESAMPLES = 1000
GOALS = {"first_build_s": 60.0, "peak_memory_mb": 2048.0, "second_build_s": 5.0}
# the same time goals held to the whole command: build, then write the tables, report and plots
WHOLE_GOALS = {"first_total_s": 60.0, "second_total_s": 5.0}


# ----------------------------------------------------------------------------------------------- the submissions
def layout(rows: int) -> dict:
    """The rows every submission predicts, sorted by id: the originals of rows // 16 source images (one more for a
    remainder) each followed by its edits (5 domains x 3 severities, one template per domain)."""
    import numpy as np

    from imagenet_textcorrupt.hierarchy import load_classes, load_hierarchy

    rng = np.random.default_rng(12345)
    classes, hierarchy = load_classes(), load_hierarchy()
    sources = -(-rows // PER_SOURCE)
    labels = rng.integers(0, len(classes), sources)
    templates = rng.integers(0, TEMPLATES, (sources, len(DOMAINS)))
    groups = {int(label): hierarchy.group_of(int(label)) for label in np.unique(labels)}
    ids, source_ids, label, domain, severity, group, template = [], [], [], [], [], [], []
    for s in range(sources):
        source = f"ILSVRC2012_val_{s + 1:08d}"
        cells = [("original", 0, "", source)] + [
            (d, sev, f"{d} template {templates[s, k]}", f"{source}-{d}-p{templates[s, k]:03d}-s{sev}")
            for k, d in enumerate(DOMAINS) for sev in SEVERITIES]
        for d, sev, t, row_id in cells:
            ids.append(row_id)
            source_ids.append(source)
            label.append(int(labels[s]))
            domain.append(d)
            severity.append(sev)
            group.append(groups[int(labels[s])])
            template.append(t)
    keep = slice(0, rows)
    return {"id": ids[keep], "source_id": source_ids[keep], "label": np.array(label[keep]), "domain": domain[keep],
            "severity": np.array(severity[keep]), "group": group[keep], "template": template[keep]}


def predictions(rows: dict, seed: int) -> tuple[object, object, object]:
    """One model's ranked top-5 (all classes, and the config's: the same for config all) and probabilities."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(rows["id"])
    clean = rng.uniform(0.55, 0.9)
    edited = clean * rng.uniform(0.5, 0.95)
    accuracy = np.where(rows["severity"] == 0, clean, edited * (1.15 - 0.1 * rows["severity"]))
    labels = rows["label"]
    right = rng.random(n) < accuracy
    top1 = np.where(right, labels, (labels + rng.integers(1, 1000, n)) % 1000)
    step = rng.integers(1, 200, n)
    top5 = (top1[:, None] + np.arange(5)[None, :] * step[:, None]) % 1000
    missing = ~(top5 == labels[:, None]).any(axis=1) & (rng.random(n) < 0.6)  # right within the top 5
    where = np.flatnonzero(missing)
    top5[where, rng.integers(1, 5, len(where))] = labels[where]
    first = rng.uniform(0.2, 0.95, n)
    shares = rng.dirichlet(np.ones(5), n) * (1 - first)[:, None]
    probs = np.round(np.sort(np.concatenate([first[:, None], shares[:, :4]], axis=1), axis=1)[:, ::-1], 4)
    return top5, top5, probs


def write_submission(folder: Path, index: int, rows: dict, prefixes: list[str]) -> None:
    """results/all/<model>/<DATE>.json and its predictions file, written directly (one formatted line per row)."""
    import numpy as np

    from imagenet_textcorrupt import metrics
    from imagenet_textcorrupt.results import FORMAT_VERSION, RESULTS_FORMAT, write_results

    name = f"bench_model_{index:04d}"
    top5, config, probs = predictions(rows, 1000 + index)
    numbers = [str(k) for k in range(1000)]
    lists = [", ".join(map(numbers.__getitem__, r)) for r in top5.tolist()]
    prob_lists = [", ".join(map(repr, r)) for r in probs.tolist()]
    text = "".join(f'{prefix}"top5": [{t5}], "top5_probs": [{p}], "top5_config": [{t5}]}}\n'
                   for prefix, t5, p in zip(prefixes, lists, prob_lists)).encode("utf-8")
    target = folder / "results" / "all" / name
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{DATE}.predictions.jsonl").write_bytes(text)
    figures = metrics.compute(top5, rows["label"], rows["domain"], rows["severity"], rows["source_id"],
                              rows["group"], rows["template"], config, resamples=RESAMPLES, seed=0)
    n = len(rows["id"])
    write_results(target / f"{DATE}.json", {
        "format": RESULTS_FORMAT, "format_version": FORMAT_VERSION, "created": "2026-11-01T00:00:00Z",
        "dataset": {"id": "org/imagenet-tc", "config": "all", "split": "test", "revision": "v1.0.0",
                    "sha": "a" * 40, "version": "1.0.0", "fingerprint": None, "rows": n},
        "model": {"id": f"timm:{name}", "source": "timm", "name": name, "revision": None, "pretrained": True,
                  "checkpoint": None, "family": "cnn", "parameters": 1_000_000 + index},
        "preprocessing": {"library": "timm", "input_size": [3, 224, 224]},
        "run": {"batch_size": 64, "device": "cuda", "dtype": "float32", "limit": None, "streaming": False},
        "versions": {"imagenet-textcorrupt": "0.1.0", "numpy": np.__version__},
        "predictions": {"file": f"{DATE}.predictions.jsonl", "sha256": hashlib.sha256(text).hexdigest(), "rows": n},
        "metrics": figures})


def write_chunk(folder: str, indices: list[int], rows_count: int) -> int:
    rows = layout(rows_count)
    prefixes = [json.dumps({k: (rows[k][i].item() if hasattr(rows[k][i], "item") else rows[k][i])
                            for k in ("id", "source_id", "label", "domain", "severity", "group", "template")}
                           )[:-1] + ", " for i in range(rows_count)]
    for index in indices:
        write_submission(Path(folder), index, rows, prefixes)
    return len(indices)


def submissions(workdir: Path, count: int, rows: int) -> Path:
    """The folder of `count` submissions of `rows` rows, generated once (in parallel) and kept."""
    folder = workdir / f"submissions-{count}x{rows}"
    done = folder / "complete.json"
    if done.is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    workers = max(1, len(os.sched_getaffinity(0)))
    chunks = [list(range(k, count, workers * 4)) for k in range(workers * 4)]
    with ProcessPoolExecutor(workers) as pool:
        written = sum(pool.map(write_chunk, [str(folder)] * len(chunks), chunks, [rows] * len(chunks)))
    done.write_text(json.dumps({"submissions": written, "rows": rows}))
    print(f"generated {written} submissions of {rows} rows in {time.perf_counter() - start:.1f} s: {folder}")
    return folder


# ----------------------------------------------------------------------------------------------------- the Hub
UPLOAD = """
import json, sys
from pathlib import Path
from huggingface_hub import CommitOperationAdd, HfApi
folder, repo, batch = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
api = HfApi()
api.create_repo(repo, repo_type="dataset", exist_ok=True)
files = sorted(p for p in (folder / "results").rglob("*") if p.is_file())
for start in range(0, len(files), batch):
    api.create_commit(repo, repo_type="dataset", commit_message=f"submissions {start}", operations=[
        CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
        for p in files[start:start + batch]])
print(json.dumps({"files": len(files)}))
"""


def upload(folder: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", UPLOAD, str(folder), REPO, "100"], env=env, capture_output=True,
                          text=True)
    if done.returncode:
        sys.exit(f"upload failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------- child processes
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
    """Runs this file with --child ARGS; its JSON answer."""
    done = subprocess.run([sys.executable, __file__, "--child", *args], env=env, capture_output=True, text=True)
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


def subset(folder: Path, count: int, into: Path) -> Path:
    """A folder with the first `count` submissions (links to their files)."""
    shutil.rmtree(into, ignore_errors=True)
    for model in sorted((folder / "results" / "all").iterdir())[:count]:
        target = into / "results" / "all" / model.name
        target.mkdir(parents=True)
        for file in model.iterdir():
            (target / file.name).symlink_to(file)
    return into


def package_at(revision: str, into: Path) -> Path:
    """The imagenet_textcorrupt package as it was at a git revision, extracted into `into`."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "imagenet_textcorrupt"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


# ---------------------------------------------------------------------------------------------------------- main
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

    sys.path.insert(0, str(ROOT / "tests"))
    from hub_server import HubServer, client_environment

    workdir = Path(args.workdir)
    folder = submissions(workdir, args.submissions, args.rows)
    load = round(os.getloadavg()[0], 2)
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
        "ranked": first["ranked"], "refused": first["refused"], "second_equals_first": same,
        "read_parse_s": round(read["read_parse_s"], 2),
        "uncached_per_submission_s": round(uncached["build_s"] / baseline_n, 4),
        "uncached_scaled_s": round(uncached["build_s"] * scale, 1),
        "first_over_read_parse": round(first["build_s"] / read["read_parse_s"], 3),
        "uncached_over_first": round(uncached["build_s"] * scale / first["build_s"], 2),
        "first_over_second": round(first["build_s"] / second["build_s"], 1),
        "uploaded_s": round(uploaded, 1),
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

    print(f"{args.submissions} submissions x {args.rows} rows, {figures['cores']} cores, load average {load} at "
          f"the start")
    print(f"first build:  {first['build_s']:7.2f} s (download {first['download_s']:.2f} s, then verification "
          f"{first['verify_s']:.2f} s; import {first['import_s']:.2f} s and write {first['write_s']:.2f} s apart, "
          f"cpu {first['cpu_s']:.0f} s with its workers), peak {first['peak_build_mb']:.0f} MB (process and workers; "
          f"a worker's maxrss {first['maxrss_children_mb']:.0f} MB); the write after it: peak "
          f"{first['peak_write_mb']:.0f} MB")
    print(f"second build: {second['build_s']:7.2f} s (download {second['download_s']:.2f} s, verification "
          f"{second['verify_s']:.2f} s; write {second['write_s']:.2f} s apart; cpu {second['cpu_s']:.1f} s), peak "
          f"{second['peak_build_mb']:.0f} MB; same leaderboard: {same}")
    print(f"baseline, read and json-parse the same files: {read['read_parse_s']:.2f} s "
          f"(first build / that = {figures['first_over_read_parse']:.3f})")
    print(f"baseline, build without the cache on {baseline_n}: {uncached['build_s']:.2f} s, "
          f"{figures['uncached_per_submission_s'] * 1000:.0f} ms a submission, {figures['uncached_scaled_s']:.0f} s "
          f"for all (that / first build = {figures['uncached_over_first']:.2f})")
    if before is not None:
        print(f"baseline, the same with the package at {args.before}: {before['build_s']:.2f} s, "
              f"{figures['before_per_submission_s'] * 1000:.0f} ms a submission, {figures['before_scaled_s']:.0f} s "
              f"for all (that / first build = {figures['before_over_first']:.2f})")
    for refusal in first["refusals"]:
        print(f"  refused {refusal['file']}: {'; '.join(refusal['problems'])[:300]}")
    for name, met in goals.items():
        print(f"goal {name} <= {(GOALS | WHOLE_GOALS)[name]:g}: {'met' if met else 'MISSED'}")
    print("BENCH " + json.dumps(figures))


if __name__ == "__main__":
    if "--child" not in sys.argv:  # a child imports the package its PYTHONPATH names (--before: an older one)
        sys.path.insert(0, str(ROOT))
    main()
