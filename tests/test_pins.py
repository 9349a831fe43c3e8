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

from builder.planning.recipes import RECIPES_DIR
from builder.micro.tiny_models import save_tiny_pipeline
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


TAGGED = "org/tagged-model"


def run_python(env: dict[str, str], code: str, *args: str) -> str:
    """The last line a Python snippet prints, run in a client process."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_recipes_revision_is_what_gets_pinned(hub, tmp_path):
    """A recipe that asks for a tag gets the tag's commit, not main's, both from the Hub and, offline, from the local
    cache; models.json records the revision as asked. (No model is loaded: the repo holds one small file.)"""
    env = client_environment(hub.endpoint, str(tmp_path / "home"))
    tagged, main = json.loads(run_python(env, f"""
        import json
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo({TAGGED!r})
        def commit(text):
            return api.upload_file(path_or_fileobj=text.encode(), path_in_repo="config.json", repo_id={TAGGED!r},
                                   commit_message=text).oid
        tagged = commit('{{"weights": "A"}}')
        api.create_tag({TAGGED!r}, tag="weights-a", revision=tagged)
        print(json.dumps([tagged, commit('{{"weights": "B"}}')]))
    """))
    repo = hub.get_repo(TAGGED, "model")
    assert tagged != main and repo.tags["weights-a"] == tagged and repo.branches["main"] == main
    raw = yaml.safe_load((RECIPES_DIR / "smoke.yaml").read_text())
    raw.pop("imagenet_c")
    raw.update(qc={"enabled": False})
    raw["editor"].update(model=TAGGED, revision="weights-a")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    out = tmp_path / "build"
    pinned = json.loads(run_python(env, f"""
        import json, sys
        from huggingface_hub import snapshot_download
        from builder.generation.generate import Builder
        from builder.planning.recipes import load_recipe
        pins = Builder(load_recipe(sys.argv[1]), sys.argv[2], progress=False).pins
        for revision in ("weights-a", None):  # the cache learns both refs, for the offline pins below
            snapshot_download({TAGGED!r}, revision=revision)
        print(json.dumps(pins["editor"].to_dict()))
    """, str(recipe), str(out)))
    expected = {"model": TAGGED, "revision": "weights-a", "source": TAGGED, "commit": tagged,
                "identity": f"{TAGGED}@{tagged}"}
    assert pinned == expected
    assert json.loads((out / "models.json").read_text()) == {"editor": expected}
    offline = json.loads(run_python({**env, "HF_HUB_OFFLINE": "1"}, f"""
        import json
        from builder.planning.pins import pin_model
        print(json.dumps([pin_model({TAGGED!r}, "weights-a").commit, pin_model({TAGGED!r}).commit]))
    """))
    assert offline == [tagged, main]
