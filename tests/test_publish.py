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

from builder.cli import main
from imagenet_textcorrupt.hub import is_transient, with_retries
from builder.planning.recipes import RECIPES_DIR
from builder.release.assemble import assemble
from hub_server import client_environment

REPO = "org/imagenet-tc"
OUTSIDER_TOKEN = "hf_outsider_token"


@pytest.fixture(scope="module")
def client_env(hub, tmp_path_factory):
    return client_environment(hub.endpoint, str(tmp_path_factory.mktemp("client_home")))


@pytest.fixture(scope="module")
def anonymous_env(hub, tmp_path_factory):
    return client_environment(hub.endpoint, str(tmp_path_factory.mktemp("anonymous_home")), token=None)


@pytest.fixture(scope="module")
def outsider_env(hub, tmp_path_factory):
    hub.add_user(OUTSIDER_TOKEN, "outsider")
    return client_environment(hub.endpoint, str(tmp_path_factory.mktemp("outsider_home")), OUTSIDER_TOKEN)


def publish(env, release, version, *extra, repo=REPO):
    return subprocess.run([sys.executable, "-m", "builder", "publish", str(release), "--repo-id", repo,
                           "--version", version, *extra], env=env, capture_output=True, text=True, timeout=300)


def evaluate(env, output, *args):
    return subprocess.run([sys.executable, "-m", "imagenet_textcorrupt.cli", "evaluate", "--no-pretrained",
                           "--output", str(output), "--quiet", "--workers", "0", "--resamples", "50", *args],
                          env=env, capture_output=True, text=True, timeout=300)


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
    raw.pop("imagenet_c")  # text-guided rows are what this is about
    raw.update(version=version, severities=severities)
    raw["prompts"]["domains"] = ["color", "weather"]
    raw["output"]["resolution"] = 128  # these tests are about the Hub, not the images: keep the builds quick
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
    """v1.0.0 on a Hub that refuses our eval.yaml (no evaluation_framework for image classification), then v1.1.0
    on one that accepts it, with a server error mid-publish."""
    first, second = releases
    done = publish(client_env, first, "v1.0.0")
    assert done.returncode == 0, done.stderr[-3000:]
    hub.evaluation_frameworks.add("imagenet-tc")
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
    done = evaluate(client_env, output, "--model", "timm:test_vit", "--dataset", REPO, "--revision", "v1.0.0",
                    "--config", "vehicles")
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["dataset"]["sha"] == hub.get_repo(REPO).tags["v1.0.0"]
    assert (results["dataset"]["id"], results["dataset"]["revision"]) == (REPO, "v1.0.0")
    assert results["dataset"]["rows"] == 2 + 2 * 2 * 2


def test_the_release_is_gated_by_default(hub, published):
    assert hub.get_repo(REPO).gated == "auto"
    assert all("ungated" not in done.stderr for done in published)


def test_evaluating_the_gated_dataset_without_a_token_says_how_to_log_in(hub, anonymous_env, outsider_env,
                                                                        published, tmp_path):
    done = evaluate(anonymous_env, tmp_path / "r.json", "--model", "timm:test_vit", "--dataset", REPO, "--revision",
                    "v1.0.0", "--config", "vehicles")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert (f"imagenet-tc evaluate: error: --dataset {REPO} is gated and this request carried no token: accept its "
            f"terms at {hub.endpoint}/datasets/{REPO} while logged in on the Hub, then run `hf auth login` (or set "
            f"HF_TOKEN to a token with read access)") in done.stderr
    done = evaluate(outsider_env, tmp_path / "r.json", "--model", "timm:test_vit", "--dataset", REPO, "--revision",
                    "v1.0.0", "--config", "vehicles")
    assert done.returncode == 1
    assert f"--dataset {REPO} is gated and the account of this token has not been granted access" in done.stderr
    assert not (tmp_path / "r.json").exists()


def test_evaluating_a_gated_model_without_a_token_says_how_to_log_in(hub, client_env, anonymous_env, releases,
                                                                    tmp_path):
    done = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo("org/gated-vit")
        api.upload_file(path_or_fileobj=b'{"model_type": "vit", "num_labels": 1000}', path_in_repo="config.json",
                        repo_id="org/gated-vit")
        api.update_repo_settings("org/gated-vit", gated="manual")
    """)], env=client_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    done = evaluate(anonymous_env, tmp_path / "r.json", "--model", "hf:org/gated-vit", "--dataset", str(releases[0]))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "--model org/gated-vit is gated and this request carried no token" in done.stderr
    assert "`hf auth login`" in done.stderr


def test_files_and_card_at_the_tag(hub, published, releases):
    files = hub.files_at(REPO, "v1.0.0")
    expected = {str(p.relative_to(releases[0])) for p in releases[0].rglob("*") if p.is_file()}
    assert expected - {"eval.yaml"} <= set(files)  # eval.yaml goes up alone, after the tag
    for path in expected - {"README.md", "eval.yaml"}:
        assert files[path] == (releases[0] / path).read_bytes(), path
    card = files["README.md"].decode()
    assert card == (releases[0] / "README.md").read_text().replace("<org>/imagenet-tc", REPO)
    assert f'load_dataset("{REPO}", "all", split="test", revision="v1.0.0")' in card
    assert "<org>" not in card
    # the newer version replaced the older data files (stale files deleted in the last commit)
    newer = hub.files_at(REPO, "v1.1.0")
    assert {p for p in newer if p.startswith("data/")} == {str(p.relative_to(releases[1])) for p in
                                                           releases[1].rglob("*.parquet")}


def test_a_refused_eval_yaml_costs_neither_card_nor_tag(hub, published, releases):
    done, again = published
    assert ("warning: the Hub refused eval.yaml (HTTP 400: Invalid eval.yaml: evaluation_framework 'imagenet-tc' is "
            "not supported") in done.stderr
    assert f"The release is complete: its data, card and tag v1.0.0 are on datasets/{REPO}" in done.stderr
    assert "Registering the benchmark" in done.stderr
    assert "README.md" in hub.files_at(REPO, "v1.0.0")
    # v1.1.0, on a Hub that knows the framework: eval.yaml is on main, beside the tagged release
    assert "committed eval.yaml" in again.stdout and "warning" not in again.stderr
    assert hub.files_at(REPO, "main")["eval.yaml"] == (releases[1] / "eval.yaml").read_bytes()
    assert "eval.yaml" not in hub.files_at(REPO, "v1.1.0")


def test_the_hub_leaderboard_of_the_registered_benchmark(hub, client_env, published, tmp_path):
    entries = {name: yaml.safe_dump([{"dataset": {"id": REPO, "task_id": "all"}, "value": value,
                                      "notes": "edited top-1"}]) for name, value in (("org/strong", 61.25),
                                                                                     ("org/weak", 40.5),
                                                                                     ("org/strong-tuned", 55.0))}
    setup = textwrap.dedent(f"""
        from huggingface_hub import HfApi
        api = HfApi()
        for name, text in {entries!r}.items():
            api.create_repo(name)
            api.upload_file(path_or_fileobj=text.encode(), path_in_repo=".eval_results/imagenet-tc.yaml", repo_id=name)
        # a fine-tune: the Hub's API leaves it out unless base_model_only=False
        api.upload_file(path_or_fileobj=b"---\\nbase_model: org/strong\\n---\\n", path_in_repo="README.md",
                        repo_id="org/strong-tuned")
    """)
    done = subprocess.run([sys.executable, "-c", setup], env=client_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    board = subprocess.run([sys.executable, "-m", "imagenet_textcorrupt.cli", "leaderboard", REPO, "--out",
                            str(tmp_path)], env=client_env, capture_output=True, text=True, timeout=120)
    # not registered yet: read as a results repo, whose only JSON file (release.json) is no results file
    assert board.returncode == 0 and "0 results ranked in 0 section(s); 1 refused" in board.stdout
    hub.benchmark_allow_list.add(REPO)
    board = subprocess.run([sys.executable, "-m", "imagenet_textcorrupt.cli", "leaderboard", REPO, "--out",
                            str(tmp_path)], env=client_env, capture_output=True, text=True, timeout=120)
    assert board.returncode == 0, board.stderr[-2000:]
    assert f"the Hub's leaderboard of {REPO}, task all: 3 entries (fine-tunes included)" in board.stdout
    written = json.loads((tmp_path / "leaderboard.json").read_text())
    assert written["hub"][0]["task"] == "all" and written["hub"][0]["base_model_only"] is False
    assert [(e["rank"], e["model"], e["value"]) for e in written["hub"][0]["entries"]] == [
        (1, "org/strong", 61.25), (2, "org/strong-tuned", 55.0), (3, "org/weak", 40.5)]
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert f"## The Hub's leaderboard of {REPO}: task `all`" in markdown
    assert "| 1 | org/strong | 61.25 | – |" in markdown and "| 2 | org/strong-tuned | 55.0 | – |" in markdown


def test_retry_after_a_server_error(hub, published):
    _, again = published
    commits = [entry["status"] for entry in hub.log if "/commit/" in entry["path"]]
    assert 500 in commits and commits[-1] == 200
    assert "retrying" in again.stdout


class _Status(Exception):
    def __init__(self, status):
        super().__init__(f"HTTP {status}")
        self.response = type("Response", (), {"status_code": status})()


@pytest.mark.parametrize("error, transient", [
    (ConnectionError("reset by peer"), True), (TimeoutError("read timed out"), True), (_Status(429), True),
    (_Status(500), True), (_Status(503), True), (_Status(400), False), (_Status(401), False), (_Status(403), False),
    (_Status(404), False), (FileNotFoundError("data/x.parquet"), False), (PermissionError("README.md"), False),
    (ValueError("bad"), False),
])
def test_only_transient_errors_are_retried(error, transient):
    calls = []

    def action():
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        with_retries(action, "test", attempts=3, base_delay=0, log=lambda _: None)
    assert is_transient(error) is transient
    assert len(calls) == (3 if transient else 1)


def test_httpx_network_errors_are_transient():
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    import importlib
    httpx = importlib.import_module("httpx2" if importlib.util.find_spec("httpx2") else "httpx")
    assert is_transient(httpx.ConnectError("refused")) and is_transient(httpx.ReadTimeout("slow"))
    response = httpx.Response(429, request=httpx.Request("POST", "http://hub/api/x"))
    assert is_transient(HfHubHTTPError("too many", response=response))
    assert not is_transient(OfflineModeIsEnabled("HF_HUB_OFFLINE is set"))


VALIDATED = """
import hashlib, json, sys
from pathlib import Path
import builder.release.validate
from builder.release.publish import publish

checked = {}
original = builder.release.validate.validate

def recording(folder, *args, **kwargs):
    problems = original(folder, *args, **kwargs)
    root = Path(folder)
    checked.update({str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in root.rglob("*") if p.is_file()})
    if TAMPER:  # a data file changes after it was validated
        victim = sorted(root.glob("data/*/*.parquet"))[0]
        victim.write_bytes(victim.read_bytes() + b"tampered")
    return problems

builder.release.validate.validate = recording
try:
    publish(sys.argv[1], sys.argv[2], sys.argv[3], retry_delay=0.01)
    outcome = "published"
except Exception as error:
    outcome = f"{type(error).__name__}: {error}"
print(json.dumps({"checked": checked, "outcome": outcome}))
"""


def _publish_recording(env, release, repo, version, tamper=False):
    done = subprocess.run([sys.executable, "-c", VALIDATED.replace("TAMPER", str(tamper)), str(release), repo,
                           version], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_what_goes_up_is_what_was_validated(hub, client_env, releases):
    import hashlib

    result = _publish_recording(client_env, releases[0], "org/exact", "v1.0.0")
    assert result["outcome"] == "published"
    on_hub = {**hub.files_at("org/exact", "v1.0.0"), "eval.yaml": hub.files_at("org/exact", "main").get("eval.yaml")}
    on_hub = {path: hashlib.sha256(data).hexdigest() for path, data in on_hub.items()
              if data is not None and path != ".gitattributes"}
    assert result["checked"] == on_hub  # the README validated is the one with the repo id, byte for byte
    assert "org/exact" in hub.files_at("org/exact", "v1.0.0")["README.md"].decode()


def test_a_file_changed_after_validation_is_never_tagged(hub, client_env, releases, tmp_path):
    import shutil

    copy = shutil.copytree(releases[0], tmp_path / "release")  # its files are linked into the staging folder
    result = _publish_recording(client_env, copy, "org/tampered", "v1.0.0", tamper=True)
    assert result["outcome"].startswith("PublishError: datasets/org/tampered@")
    assert "does not hold the validated bytes of 1 file(s), e.g. data/" in result["outcome"]
    assert hub.get_repo("org/tampered").tags == {}


def test_ungated_takes_a_flag_and_warns(hub, client_env, releases):
    done = publish(client_env, releases[0], "v1.0.0", "--ungated", repo="org/open")
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("warning: publishing ungated: anyone can download these images without accepting the ImageNet terms "
            "of access") in done.stderr
    assert hub.get_repo("org/open").gated is False and hub.get_repo("org/open").tags
    both = publish(client_env, releases[0], "v1.0.0", "--ungated", "--gated", "manual", repo="org/open")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_publishing_needs_a_token_with_write_access(hub, anonymous_env, outsider_env, releases):
    done = publish(anonymous_env, releases[0], "v1.0.0", repo="org/anonymous")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "the Hub answered 401 (not logged in: run `hf auth login` or set HF_TOKEN" in done.stderr
    done = publish(outsider_env, releases[0], "v1.0.0", repo="org/outsider")
    assert done.returncode == 1 and "the Hub answered 403 (the token cannot write to org/outsider" in done.stderr
    assert ("dataset", "org/anonymous") not in hub.repos and ("dataset", "org/outsider") not in hub.repos


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
        hub.clear_faults()
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
