"""The inputs of the leaderboard bench (bench/leaderboard.py): synthetic submissions, their upload to the loopback
Hub, a subset of them for the uncached baseline, and the package as it was at an older revision.

Each submission is a valid results file (`results/all/<model>/<DATE>.json`) and its predictions file, written
straight from numpy: a shared layout of source images, domains, severities, templates and groups; per model,
predictions drawn at its own accuracies, and the metrics the library computes from them with RESAMPLES bootstrap
resamples, as `imagenet-tc evaluate` does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
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


# --------------------------------------------------------------------------------------------------- baselines
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
