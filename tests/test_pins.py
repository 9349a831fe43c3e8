"""A build pins its Hub models to commits: every process and a resume load exactly the pinned commit, even after
the branch moved, and rows record the commit, never a branch name (against the loopback Hub, with the real client
in subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pyarrow.parquet as pq
import yaml

from builder.recipes import RECIPES_DIR
from builder.tiny_models import save_tiny_pipeline
from hub_server import client_environment

REPO = "org/tiny-sd"


def upload(env, folder, message):
    code = f"""
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo({REPO!r}, exist_ok=True)
        print(api.upload_folder(folder_path={str(folder)!r}, repo_id={REPO!r}, commit_message={message!r}).oid)
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def build(env, recipe, out):
    done = subprocess.run([sys.executable, "-m", "builder", "build", "--recipe", str(recipe), "--out", str(out),
                           "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def shard_rows(out):
    return [r for shard in sorted((out / "shards").glob("*.parquet")) for r in pq.read_table(shard).to_pylist()]


def test_a_resume_loads_the_pinned_commit_after_main_moved(hub, tmp_path):
    env = client_environment(hub.endpoint, str(tmp_path / "home"))
    first = upload(env, save_tiny_pipeline(tmp_path / "a", "sd", seed=0), "weights A")
    raw = yaml.safe_load((RECIPES_DIR / "smoke.yaml").read_text())
    raw.pop("imagenet_c")  # text-guided rows are what this is about
    raw.update(severities=[1], selection={"classes": ["n07920052", "n02123045"], "images_per_class": 1},
               qc={"enabled": False}, output={"resolution": 64, "format": "png", "shard_size": 2})
    raw["prompts"]["domains"] = ["color"]
    raw["editor"].update(model=REPO, steps=4)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    out = tmp_path / "build"
    build(env, recipe, out)
    pins = json.loads((out / "models.json").read_text())
    assert pins["editor"]["commit"] == first and pins["editor"]["revision"] is None
    assert {r["model"] for r in shard_rows(out) if r["severity"]} == {f"{REPO}@{first}"}
    before = {p.name: p.read_bytes() for p in (out / "shards").glob("*.parquet")}
    assert len(before) == 2

    second = upload(env, save_tiny_pipeline(tmp_path / "b", "sd", seed=1), "weights B")
    assert second != first and hub.get_repo(REPO, "model").branches["main"] == second
    for name in ("shard-00001.parquet",):  # lose a shard: the resume rebuilds it
        (out / "shards" / name).unlink()
    fresh_cache = client_environment(hub.endpoint, str(tmp_path / "other-home"))  # a machine without A cached
    build(fresh_cache, recipe, out)
    assert json.loads((out / "models.json").read_text()) == pins
    assert {p.name: p.read_bytes() for p in (out / "shards").glob("*.parquet")} == before

    other = tmp_path / "other-build"  # a new build pins what main is now, and its edits differ
    build(fresh_cache, recipe, other)
    assert json.loads((other / "models.json").read_text())["editor"]["commit"] == second
    assert {r["model"] for r in shard_rows(other) if r["severity"]} == {f"{REPO}@{second}"}
    assert {p.name: p.read_bytes() for p in (other / "shards").glob("*.parquet")} != before
