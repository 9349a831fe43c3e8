"""Publishing releases to the loopback Hub with the real HfApi, and loading them back by version tag.

The publish command and `load_dataset` run in subprocesses pointed at the server (HF_ENDPOINT is read when
huggingface_hub is imported; the rest of the suite is offline); the server runs here, where the tests read its
state and inject faults.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from builder.__main__ import main
from builder.recipes import RECIPES_DIR
from builder.release import assemble
from hub_server import client_environment

REPO = "org/imagenet-tc"


@pytest.fixture(scope="module")
def client_env(hub, tmp_path_factory):
    return client_environment(hub.endpoint, str(tmp_path_factory.mktemp("client_home")))


def publish(env, release, version, *extra):
    return subprocess.run([sys.executable, "-m", "builder", "publish", str(release), "--repo-id", REPO,
                           "--version", version, *extra], env=env, capture_output=True, text=True, timeout=300)


def load(env, revision, config="all", streaming=False):
    code = f"""
        import json
        from datasets import load_dataset
        ds = load_dataset({REPO!r}, {config!r}, split="test", revision={revision!r}, streaming={streaming})
        rows = list(ds) if {streaming} else ds
        print(json.dumps({{"rows": len(list(rows)), "ids": sorted(r["id"] for r in rows)[:3],
                          "severities": sorted({{r["severity"] for r in rows}})}}))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_release(tmp_path_factory, version, severities):
    raw = yaml.safe_load((RECIPES_DIR / "smoke.yaml").read_text())
    raw.update(version=version, severities=severities)
    raw["prompts"]["domains"] = ["color", "weather"]
    folder = tmp_path_factory.mktemp(f"v{version}")
    recipe = folder / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    assert main(["build", "--recipe", str(recipe), "--out", str(folder / "build"), "--no-progress"]) == 0
    return assemble(folder / "build", folder / "release")


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    return make_release(tmp_path_factory, "1.0.0", [1, 2]), make_release(tmp_path_factory, "1.1.0", [3])


@pytest.fixture(scope="module")
def published(hub, client_env, releases):
    first, second = releases
    done = publish(client_env, first, "v1.0.0")
    assert done.returncode == 0, done.stderr[-3000:]
    hub.fail_next("/commit/", status=500, times=1)  # a server error mid-publish is retried
    again = publish(client_env, second, "v1.1.0", "--retry-delay", "0.01")
    assert again.returncode == 0, again.stderr[-3000:]
    return done, again


def test_publish_then_load_each_version(client_env, published):
    v1 = load(client_env, "v1.0.0")
    v11 = load(client_env, "v1.1.0")
    assert (v1["rows"], v1["severities"]) == (5 + 5 * 2 * 2, [0, 1, 2])
    assert (v11["rows"], v11["severities"]) == (5 + 5 * 2 * 1, [0, 3])
    assert load(client_env, "v1.0.0", config="vehicles", streaming=True)["rows"] == 2 + 2 * 2 * 2


def test_evaluate_a_published_version_records_its_commit(hub, client_env, published, tmp_path):
    """`imagenet-tc evaluate` on the Hub dataset at a tag: the results hold the commit the tag points at."""
    output = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "imagenet_textcorrupt.cli", "evaluate", "--model", "timm:test_vit",
                           "--no-pretrained", "--dataset", REPO, "--revision", "v1.0.0", "--config", "vehicles",
                           "--output", str(output), "--quiet", "--workers", "0", "--resamples", "50"],
                          env=client_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["dataset"]["sha"] == hub.get_repo(REPO).tags["v1.0.0"]
    assert (results["dataset"]["id"], results["dataset"]["revision"]) == (REPO, "v1.0.0")
    assert results["dataset"]["rows"] == 2 + 2 * 2 * 2


def test_files_and_card_at_the_tag(hub, published, releases):
    files = hub.files_at(REPO, "v1.0.0")
    expected = {str(p.relative_to(releases[0])) for p in releases[0].rglob("*") if p.is_file()}
    assert expected <= set(files)
    card = files["README.md"].decode()
    assert f'load_dataset("{REPO}", "all", split="test", revision="v1.0.0")' in card
    # the newer version replaced the older data files (stale files deleted in the last commit)
    newer = hub.files_at(REPO, "v1.1.0")
    assert {p for p in newer if p.startswith("data/")} == {str(p.relative_to(releases[1])) for p in
                                                           releases[1].rglob("*.parquet")}


def test_retry_after_a_server_error(hub, published):
    _, again = published
    commits = [entry["status"] for entry in hub.log if "/commit/" in entry["path"]]
    assert 500 in commits and commits[-1] == 200
    assert "retrying" in again.stdout


def test_tags_never_move(hub, client_env, published, releases):
    head = hub.get_repo(REPO).tags["v1.0.0"]
    done = publish(client_env, releases[0], "v1.0.0")
    assert done.returncode == 1
    assert "already has the tag v1.0.0: versions never move" in done.stderr
    assert hub.get_repo(REPO).tags["v1.0.0"] == head


def test_no_tag_for_a_failed_publish(hub, client_env, releases, tmp_path):
    done = publish(client_env, releases[1], "v1.1.0", "--dry-run")
    assert done.returncode == 0 and "then tag v1.1.0" in done.stdout
    copy = tmp_path / "release"
    import shutil

    shutil.copytree(releases[1], copy)
    summary = json.loads((copy / "release.json").read_text())
    summary["version"] = "1.2.0"
    (copy / "release.json").write_text(json.dumps(summary))
    hub.fail_next("/commit/", status=500, times=5)  # every attempt of the first commit fails
    try:
        failed = publish(client_env, copy, "v1.2.0", "--retry-delay", "0.01")
    finally:
        hub._faults.clear()
    assert failed.returncode != 0
    assert "v1.2.0" not in hub.get_repo(REPO).tags


def test_dry_run_touches_nothing(hub, client_env, releases):
    before = len(hub.requests)
    done = publish(client_env, releases[0], "v1.0.0", "--dry-run")
    assert done.returncode == 0 and "publish" in done.stdout
    assert len(hub.requests) == before


def test_token_is_never_printed(published):
    for done in published:
        assert "hf_secret_test_token" not in done.stdout + done.stderr


def test_bad_version_and_unvalidated_release(client_env, releases, tmp_path):
    done = publish(client_env, releases[0], "v2.0.0")
    assert done.returncode == 1 and "does not match the release's version 1.0.0" in done.stderr
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(releases[0], broken)
    (broken / "README.md").write_text("no card\n")
    done = publish(client_env, broken, "v1.0.0")
    assert done.returncode == 1 and "fails validation" in done.stderr
