"""`imagenet-tc submit` against the loopback Hub: the pull request carries the expected files, and every kind of
untrustworthy submission is refused with a message that says why."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest
import yaml

from hub_server import client_environment
from imagenet_textcorrupt.results import ResultsError, predictions_path
from imagenet_textcorrupt.submission import EVAL_RESULTS_FILE, SubmissionError, card_problem, prepare
from results_factory import SHA_B, write_results_file

DATASET = "org/imagenet-tc"
MODEL = "user/resnet50-robust"
RESULTS_REPO = "org/imagenet-tc-results"
TOKEN = "hf_secret_submission_token"
EXISTING_CARD = """---
license: apache-2.0
library_name: timm
model-index:
- name: resnet50-robust
  results:
  - task: {type: image-classification}
    dataset: {name: ImageNet-1k, type: imagenet-1k, split: validation}
    metrics:
    - {type: accuracy, value: 80.4, name: top-1 accuracy}
---
# ResNet-50, robust training
"""
RELEASE_JSON = json.dumps({"version": "1.0.0", "configs": {"all": {"rows": 100}, "food": {"rows": 100},
                                                            "animals": {"rows": 60}}})
EXISTING_EVAL_RESULTS = """- dataset: {id: imagenet-1k, task_id: default}
  value: 80.4
- dataset: {id: org/imagenet-tc, task_id: food}
  value: 12.0
"""


@pytest.fixture(scope="module")
def client_env(hub, tmp_path_factory):
    hub.add_user(TOKEN, "submitter", orgs=["org", "user"])
    return client_environment(hub.endpoint, str(tmp_path_factory.mktemp("client_home")), TOKEN)


def run_python(env, code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def cli(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imagenet_textcorrupt.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def dataset_sha(hub, client_env):
    """The benchmark dataset at tag v1.0.0, the model repo with a card and results of its own, a results repo."""
    out = run_python(client_env, f"""
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo({DATASET!r}, repo_type="dataset")
        api.upload_file(path_or_fileobj=b"data", path_in_repo="README.md", repo_id={DATASET!r}, repo_type="dataset")
        api.upload_file(path_or_fileobj={RELEASE_JSON!r}.encode(), path_in_repo="release.json", repo_id={DATASET!r},
                        repo_type="dataset")
        api.create_tag({DATASET!r}, tag="v1.0.0", repo_type="dataset")
        api.create_repo({MODEL!r})
        api.upload_file(path_or_fileobj={EXISTING_CARD!r}.encode(), path_in_repo="README.md", repo_id={MODEL!r})
        api.upload_file(path_or_fileobj={EXISTING_EVAL_RESULTS!r}.encode(), path_in_repo={EVAL_RESULTS_FILE!r},
                        repo_id={MODEL!r})
        api.create_repo({RESULTS_REPO!r}, repo_type="dataset")
        print(api.dataset_info({DATASET!r}, revision="v1.0.0").sha)
    """)
    return out.strip().splitlines()[-1]


def test_submit_opens_pull_requests_with_the_expected_files(hub, client_env, dataset_sha, tmp_path):
    all_file = write_results_file(tmp_path, sha=dataset_sha, clean=0.8, edited=0.6)
    food_file = write_results_file(tmp_path, sha=dataset_sha, config="food", seed=4)
    main_before = hub.get_repo(MODEL, "model").branches["main"]
    done = cli(client_env, "submit", str(all_file), str(food_file), "--model-repo", MODEL, "--open-pr",
               "--results-repo", RESULTS_REPO)
    assert done.returncode == 0, done.stderr
    assert TOKEN not in done.stdout + done.stderr
    assert "model repo pull request: " in done.stdout and "/user/resnet50-robust/discussions/1" in done.stdout

    model = hub.get_repo(MODEL, "model")
    assert model.branches["main"] == main_before  # a pull request, not a commit to main
    [pr] = [d for d in model.discussions if d.is_pull_request]
    assert pr.title == "Add ImageNet-TC evaluation results (all, food)" and pr.status == "open"
    files = hub.files_at(MODEL, revision=pr.ref, repo_type="model")

    entries = yaml.safe_load(files[EVAL_RESULTS_FILE])
    results_all = json.loads(all_file.read_text())
    by_task = {(e["dataset"]["id"], e["dataset"]["task_id"]): e for e in entries}
    assert set(by_task) == {("imagenet-1k", "default"), (DATASET, "all"), (DATASET, "food")}
    ours = by_task[(DATASET, "all")]
    assert ours["value"] == round(100 * results_all["metrics"]["edited"]["top1"]["value"], 2)
    assert ours["dataset"]["revision"] == dataset_sha and ours["date"] == results_all["created"]
    # the source is the results file where it is: on the results repo's pull request
    assert ours["source"]["url"] == (f"{hub.endpoint}/datasets/{RESULTS_REPO}/blob/refs%2Fpr%2F1/"
                                     f"results/all/timm_resnet50/20261101T000000Z.json")
    assert "edited top-1 accuracy (%) on config all" in ours["notes"]
    assert by_task[(DATASET, "food")]["value"] != 12.0  # replaced, not duplicated

    card = files["README.md"].decode()
    header = yaml.safe_load(card.split("---")[1])
    assert header["license"] == "apache-2.0" and "# ResNet-50, robust training" in card
    results = header["model-index"][0]["results"]
    datasets = [(r["dataset"]["type"], r["dataset"].get("config")) for r in results]
    assert datasets.count(("imagenet-1k", None)) == 1 and (DATASET, "all") in datasets and (DATASET, "food") in datasets
    metrics = {m["name"]: m["value"] for r in results if r["dataset"].get("config") == "all" for m in r["metrics"]}
    assert metrics == {"edited top-1 accuracy": ours["value"],
                       "clean top-1 accuracy": round(100 * results_all["metrics"]["clean"]["top1"]["value"], 2)}

    results_repo = hub.get_repo(RESULTS_REPO, "dataset")
    [results_pr] = results_repo.discussions
    submitted = hub.files_at(RESULTS_REPO, revision=results_pr.ref, repo_type="dataset")
    names = sorted(p for p in submitted if p.startswith("results/"))
    assert names == ["results/all/timm_resnet50/20261101T000000Z.json",
                     "results/all/timm_resnet50/20261101T000000Z.predictions.jsonl",
                     "results/food/timm_resnet50/20261101T000000Z.json",
                     "results/food/timm_resnet50/20261101T000000Z.predictions.jsonl"]
    assert submitted[names[0]] == all_file.read_bytes()


MALFORMED_MODEL = "user/wild-model"
MALFORMED_CARD = """---
license: mit
tags: [vision]  # the owner's comment
model-index:
- name: wild-model
  results:
  - task: {type: image-classification}
    dataset: {name: ImageNet-1k, split: validation}
    metrics:
    - {type: accuracy, value: 80.4}
---
# A model from the wild

Its card lacks dataset.type in the model-index, as many do.
"""


def test_a_malformed_model_index_is_left_alone_and_the_results_still_go_up(hub, client_env, dataset_sha, tmp_path):
    run_python(client_env, f"""
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo({MALFORMED_MODEL!r})
        api.upload_file(path_or_fileobj={MALFORMED_CARD!r}.encode(), path_in_repo="README.md",
                        repo_id={MALFORMED_MODEL!r})
    """)
    results = write_results_file(tmp_path, sha=dataset_sha)
    done = cli(client_env, "submit", str(results), "--model-repo", MALFORMED_MODEL, "--open-pr")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (f"note: the model card (README.md) of {MALFORMED_MODEL} is left as it is: "
            "model-index[0].results[0].dataset.type is missing") in done.stdout
    [pr] = hub.get_repo(MALFORMED_MODEL, "model").discussions
    files = hub.files_at(MALFORMED_MODEL, revision=pr.ref, repo_type="model")
    assert files["README.md"] == MALFORMED_CARD.encode()  # byte for byte, the owner's comment included
    [entry] = yaml.safe_load(files[EVAL_RESULTS_FILE])
    assert entry["dataset"] == {"id": DATASET, "task_id": "all", "revision": dataset_sha}
    assert "the model card was left as it is" in pr.description


@pytest.mark.parametrize("card, problem", [
    (MALFORMED_CARD, "model-index[0].results[0].dataset.type is missing"),
    ("---\nmodel-index:\n- name: m\n  results: 3\n---\n# x\n", "model-index[0].results is missing or not a list"),
    (MALFORMED_CARD.replace("dataset: {name: ImageNet-1k, split: validation}",
                            "dataset: {name: ImageNet-1k, type: imagenet-1k}").replace("{type: accuracy, value: 80.4}",
                                                                                     "{type: accuracy}"),
     "model-index[0].results[0].metrics[0] needs a type and a value"),
    (MALFORMED_CARD.replace("- name: wild-model\n", "- \n"), "model-index[0].name is missing"),
    ("---\nmodel-index: [just a string]\n---\n# x\n", "model-index[0] is not a mapping"),
    ("---\nlicense: [mit\n---\n# x\n", "its YAML header is not valid YAML"),
    ("---\n- a list\n---\n# x\n", "its YAML header is not a mapping"),
    (EXISTING_CARD, None),
    ("# no metadata at all\n", None),
])
def test_card_problems_name_the_field(card, problem):
    found = card_problem(card)
    assert (found is None) if problem is None else (problem in found), found


def test_dry_run_sends_nothing(hub, client_env, dataset_sha, tmp_path):
    results = write_results_file(tmp_path, sha=dataset_sha)
    hub.clear_log()
    done = cli(client_env, "submit", str(results), "--model-repo", MODEL, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"--- {MODEL}: {EVAL_RESULTS_FILE}" in done.stdout and "dry run: nothing was sent" in done.stdout
    assert "task_id: default" in done.stdout  # what the repo already has is merged in
    assert {entry["method"] for entry in hub.log} <= {"GET", "HEAD"}


def test_wrong_dataset_revision_is_refused(hub, client_env, dataset_sha, tmp_path):
    results = write_results_file(tmp_path, sha=SHA_B, revision="v1.0.0")
    done = cli(client_env, "submit", str(results), "--model-repo", MODEL, "--open-pr")
    assert done.returncode == 1
    assert (f"wrong dataset revision: the results say {DATASET}@v1.0.0 is {SHA_B}, but on the Hub v1.0.0 is "
            f"{dataset_sha}") in done.stderr
    unknown = write_results_file(tmp_path / "unknown", sha=SHA_B, revision="main")
    done = cli(client_env, "submit", str(unknown), "--model-repo", MODEL)
    assert done.returncode == 1 and f"wrong dataset revision: {DATASET} has no revision {SHA_B}" in done.stderr


def test_results_covering_part_of_a_config_are_refused(hub, client_env, dataset_sha, tmp_path):
    results = write_results_file(tmp_path, sha=dataset_sha, config="animals")
    done = cli(client_env, "submit", str(results), "--model-repo", MODEL, "--dry-run")
    assert done.returncode == 1
    assert (f"the results cover 100 rows, but config animals of {DATASET}@{dataset_sha[:12]} has 60"
            in done.stderr)


def _tamper(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("case, message", [
    ("local dataset", "it was computed on a local dataset (/data/release)"),
    ("no sha", "the dataset revision was not resolved to a commit sha"),
    ("random weights", "the model has random weights (--no-pretrained)"),
    ("limit", "it covers only the first 3 source images (--limit)"),
    ("missing field", "missing model.id"),
    ("nan", "metrics.edited.top1.value is not a finite number"),
    ("tampered", "the metrics do not match those recomputed from"),
    ("predictions edited", "has sha256"),
    ("two models", "the results are for several models"),
    ("other metrics version", "computed with metrics version 0.9.0, which this imagenet-textcorrupt cannot "
                              "recompute"),
    ("wrong type", "metrics.by_domain.drawing.top1.value is '0.9', expected a number or null"),
])
def test_untrustworthy_submissions_are_refused(tmp_path, case, message):
    kwargs = {"local dataset": {"dataset": "/data/release"}, "no sha": {"sha": None},
              "random weights": {"pretrained": False}}.get(case, {})
    path = write_results_file(tmp_path, **kwargs)
    paths = [path]
    if case == "limit":
        _tamper(path, lambda d: d["run"].update(limit=3))
    elif case == "missing field":
        _tamper(path, lambda d: d["model"].pop("id"))
    elif case == "nan":
        _tamper(path, lambda d: d["metrics"]["edited"]["top1"].update(value=math.nan))
    elif case == "tampered":
        _tamper(path, lambda d: d["metrics"]["edited"]["top1"].update(value=0.99))
    elif case == "predictions edited":
        file = predictions_path(path)
        file.write_text(file.read_text().replace('"top5": [', '"top5": [ ', 1))
    elif case == "other metrics version":
        _tamper(path, lambda d: d["metrics"].update(metrics_version="0.9.0"))
    elif case == "wrong type":
        _tamper(path, lambda d: d["metrics"]["by_domain"]["drawing"]["top1"].update(value="0.9"))
    elif case == "two models":
        paths.append(write_results_file(tmp_path, model="timm:vit_base_patch16_224", family="transformer"))
    with pytest.raises((SubmissionError, ResultsError)) as caught:
        prepare(paths, MODEL)
    assert message in str(caught.value)
    if case == "tampered":
        assert "edited.top1.value: claimed 0.99, recomputed 0." in str(caught.value)
