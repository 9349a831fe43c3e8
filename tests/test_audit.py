"""`imagenet-tc audit`: results checked by rerunning their model, on the real EfficientNet-Lite0 and a miniature
release of real photographs; the row draw and what it can catch, against exact enumeration and many seeds."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from imagenet_textcorrupt.audit import (AUDITED, REFUSED, UNAUDITABLE, AuditError, audit_results,
                                        detection_probability, draw_rows, read_record, rows_needed)
from imagenet_textcorrupt.audit.run import compare, metadata_mismatches
from imagenet_textcorrupt.audit.sample import allocate, detection_table, strata
from imagenet_textcorrupt.cli import main
from imagenet_textcorrupt.results import (metrics_from_predictions, predictions_path, read_predictions,
                                          verify_results, write_predictions, write_results)

LITE0 = "timm:tf_efficientnet_lite0"


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """100 rows: the five sample photos four times over, each with four stand-in edits."""
    from photo_release import write_photo_release

    return write_photo_release(tmp_path_factory.mktemp("audit_release") / "release", copies=4)


@pytest.fixture(scope="module")
def honest(release, lite0_checkpoint, tmp_path_factory) -> Path:
    from imagenet_textcorrupt.evaluation import EvaluationSettings, evaluate

    out = tmp_path_factory.mktemp("honest") / "lite0.json"
    evaluate(EvaluationSettings(model=LITE0, dataset=str(release), checkpoint=str(lite0_checkpoint), workers=0,
                                batch_size=25, resamples=20), out, progress=False)
    return out


def _copy(results: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(results, folder / results.name)
    shutil.copy(predictions_path(results), folder / predictions_path(results).name)
    return folder / results.name


def _rewrite(results: Path, change) -> Path:
    """Changes the predictions with `change(records)` and recomputes every figure, as a careful forger would, so
    that the results still match their predictions."""
    records = read_predictions(predictions_path(results))
    change(records)
    data = json.loads(results.read_text())
    data["predictions"]["sha256"] = write_predictions(predictions_path(results), records)
    data["dataset"]["rows"] = data["predictions"]["rows"] = len(records)
    data["metrics"] = metrics_from_predictions(records, data["metrics"]["bootstrap"]["resamples"],
                                               data["metrics"]["bootstrap"]["seed"])
    write_results(results, data)
    verify_results(results)  # the forgery passes the arithmetic check
    return results


def _forge_top1(ids):
    def change(records):
        for record in records:
            if record["id"] in ids:
                wrong = record["label"] if record["top5"][0] != record["label"] else (record["label"] + 1) % 1000
                record["top5"] = [wrong] + [c for c in record["top5"] if c != wrong][:4]
    return change


def test_an_honest_result_is_audited(honest, lite0_checkpoint, tmp_path, capsys):
    out = tmp_path / "audit.json"
    code = main(["audit", str(honest), "--rows", "40", "--seed", "7", "--checkpoint", str(lite0_checkpoint),
                 "--device", "cpu", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    record = read_record(out)
    assert (record.status, record.rows, record.population, record.seed, record.seed_source) == \
        (AUDITED, 40, 100, 7, "given")
    assert record.agreement["disagree"] == 0 and record.agreement["share"] == 1.0
    assert record.agreement["agree"] + record.agreement["within_tolerance"] == 40
    assert record.model["checkpoint_sha256"] == hashlib.sha256(lite0_checkpoint.read_bytes()).hexdigest()
    data = json.loads(honest.read_text())
    assert record.dataset == {"id": data["dataset"]["id"], "config": "all", "revision": None, "sha": None,
                              "fingerprint": data["dataset"]["fingerprint"]}
    assert record.dataset["fingerprint"].startswith("sha256:")
    assert set(record.model) == {"id", "revision_recorded", "resolved_commit", "checkpoint_sha256"}
    assert (record.model["id"], record.model["revision_recorded"]) == (LITE0, data["model"]["revision"])
    assert set(record.strata[0]) == {"group", "domain", "severity", "rows", "audited"}
    assert {(s["group"], s["domain"], s["severity"]) for s in record.strata} == \
        {(r["group"], r["domain"], r["severity"]) for r in read_predictions(predictions_path(honest))}
    assert {"torch", "timm", "numpy", "imagenet-textcorrupt"} <= set(record.versions)
    assert sum(s["audited"] for s in record.strata) == 40 and sum(s["rows"] for s in record.strata) == 100
    assert record.tolerance == {"dtype": "float32", "logit_gap": 0.01, "device": "cpu"}
    assert 0 < record.seconds < 600 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record.created)
    assert "audited: 40 rows (seed 7) agree with the submitted predictions" in printed
    assert f"audit record: {out}" in printed
    # 2 forged rows of 100 meet a 40-row draw with probability 1 - (60 * 59) / (100 * 99)
    assert ("a forgery of 2% of the 100 rows would have been caught with probability 0.642; 86 rows catch it with "
            "probability 0.98") in printed
    # the record is keyed by the results file's bytes
    assert record.results_sha256 == hashlib.sha256(honest.read_bytes()).hexdigest()


def test_the_seed_comes_from_the_os_when_not_given(honest, lite0_checkpoint):
    first = audit_results(honest, rows=5, checkpoint=lite0_checkpoint, device="cpu", progress=False)
    second = audit_results(honest, rows=5, checkpoint=lite0_checkpoint, device="cpu", progress=False)
    assert first.seed_source == second.seed_source == "os"
    assert first.seed != second.seed and first.status == second.status == AUDITED


def test_a_forgery_of_two_percent_is_refused_naming_its_rows(honest, lite0_checkpoint, tmp_path, capsys):
    forged_ids = {"sample-coffee-1-weather-p001-s1", "sample-rocket-2"}
    forged = _rewrite(_copy(honest, tmp_path / "forged"), _forge_top1(forged_ids))
    code = main(["audit", str(forged), "--rows", "200", "--seed", "1", "--checkpoint", str(lite0_checkpoint),
                 "--device", "cpu", "--quiet"])
    printed = capsys.readouterr().out
    assert code == 1
    record = read_record(forged.with_name("lite0.audit.json"))
    assert record.status == REFUSED and record.rows == 100
    assert {d["id"] for d in record.disagreements} == forged_ids
    assert record.agreement == {"agree": 98 - record.agreement["within_tolerance"],
                                "within_tolerance": record.agreement["within_tolerance"], "disagree": 2,
                                "share": 0.98}
    assert "refused: 2 of 100 audited rows disagree with the submitted predictions: sample-coffee-1-weather" in printed
    assert "sample-rocket-2 (submitted" in printed


def test_a_changed_label_is_refused_without_rerunning_anything(honest, tmp_path):
    """Relabelling a source image (all its rows, so the paired metrics still compute) forges accuracy without
    touching a prediction: every row's metadata is checked against the dataset."""
    def relabel(records):
        mine = [r for r in records if r["source_id"] == "sample-camera-1"]
        predicted = next(r["top5"][0] for r in mine if r["domain"] == "original")
        for record in mine:  # the model's reading of the original becomes the label
            record["label"] = predicted if predicted != 872 else 871
    forged = _rewrite(_copy(honest, tmp_path / "relabelled"), relabel)
    rows = [r for r in read_predictions(predictions_path(forged)) if r["source_id"] == "sample-camera-1"]
    record = audit_results(forged, rows=10, seed=0, progress=False)  # no checkpoint needed: refused before the model
    assert record.status == REFUSED and record.rows == 0
    assert record.reason.startswith(f"5 predictions rows do not describe the dataset's rows: {rows[0]['id']} (label ")
    assert record.metadata_mismatches == [{"id": r["id"], "problem": f"label {r['label']!r}, the dataset has 872"}
                                          for r in rows]
    assert rows[0]["label"] != 872


def test_a_dropped_row_is_refused(honest, tmp_path):
    def drop(records):
        records.remove(next(r for r in records if r["domain"] != "original"))
    forged = _rewrite(_copy(honest, tmp_path / "dropped"), drop)
    record = audit_results(forged, rows=10, seed=0, progress=False)
    assert record.status == REFUSED
    assert record.metadata_mismatches[-1]["problem"] == "a row of the dataset with no prediction"


def test_figures_that_do_not_match_the_predictions_are_refused(honest, tmp_path):
    forged = _copy(honest, tmp_path / "figures")
    data = json.loads(forged.read_text())
    data["metrics"]["edited"]["top1"]["value"] = 0.99
    write_results(forged, data)
    record = audit_results(forged, rows=10, seed=0, progress=False)
    assert record.status == REFUSED
    assert record.reason.startswith("the results do not match their own predictions: the metrics do not match")
    assert "edited.top1.value: claimed 0.99" in record.reason


def _edited(honest: Path, folder: Path, change) -> Path:
    path = _copy(honest, folder)
    data = json.loads(path.read_text())
    change(data)
    write_results(path, data)
    return path


@pytest.mark.parametrize("change, given, message", [
    (lambda d: d["model"].update(id="private:org/model"), True,
     "model private:org/model cannot be loaded by the auditor (ModelLoadError: model 'private:org/model': use "
     "timm:NAME"),
    (lambda d: d["model"].update(id="timm:no_such_net"), True,
     "model timm:no_such_net cannot be loaded by the auditor (ModelLoadError: timm cannot create 'no_such_net'"),
    (lambda d: None, False, "the results were scored with the local checkpoint tf_efficientnet_lite0.safetensors "
                            "(sha256 {digest}…), which is not here ("),
    (lambda d: d["model"]["checkpoint"].update(sha256="0" * 64), True, "but the results record 000000000000…: "
                                                                       "these are not the weights that were scored"),
    (lambda d: d["model"].update(pretrained=False, checkpoint=None), True,
     "model timm:tf_efficientnet_lite0 was scored with random weights (--no-pretrained)"),
    (lambda d: d["preprocessing"].update(crop_pct=0.5), True,
     "model timm:tf_efficientnet_lite0: its preprocessing differs from the recorded one (crop_pct: recorded 0.5, "
     "the model loads with 0.875)"),
    (lambda d: d.update(predictions={}), True, None),
    (lambda d: d["metrics"].update(metrics_version="0.1"), True, "metrics version 0.1: this version of "),
    (lambda d: d["dataset"].update(fingerprint="sha256:" + "1" * 64), True, "its files changed since the results "
                                                                            "were computed"),
], ids=["unknown-prefix", "unknown-name", "checkpoint-missing", "checkpoint-sha256", "random-weights",
        "preprocessing", "no-predictions", "metrics-version", "dataset-changed"])
def test_what_cannot_be_had_again_is_unauditable(honest, lite0_checkpoint, tmp_path, change, given, message,
                                                 capsys):
    path = _edited(honest, tmp_path / "unauditable", change)
    if message is None:  # the predictions file is not named and not at its default place
        predictions_path(path).rename(path.with_name("elsewhere.jsonl"))
        message = "no predictions file beside the results: nothing to compare"
    args = ["audit", str(path), "--rows", "5", "--seed", "3", "--device", "cpu", "--quiet"]
    code = main(args + (["--checkpoint", str(lite0_checkpoint)] if given else []))
    printed = capsys.readouterr().out
    record = read_record(path.with_name("lite0.audit.json"))
    assert (code, record.status, record.rows) == (2, UNAUDITABLE, 0)
    digest = json.loads(path.read_text())["model"]["checkpoint"]
    assert message.format(digest=(digest or {}).get("sha256", "")[:12]) in record.reason, record.reason
    assert f"unauditable: {record.reason}" in printed


def test_bad_options_name_themselves(honest, tmp_path, capsys):
    with pytest.raises(AuditError, match="--rows must be at least 1, got 0"):
        audit_results(honest, rows=0)
    with pytest.raises(AuditError, match=r"--seed must be in \[0, 2\*\*63\), got -1"):
        audit_results(honest, seed=-1)
    assert main(["audit", str(tmp_path / "none.json")]) == 2
    assert f"imagenet-tc audit: error: {tmp_path / 'none.json'}: no such results file" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.audit.json"))


# ----------------------------------------------------------------------------------------------- the row draw
def _records(sizes: dict[tuple[str, str, int], int]) -> list[dict]:
    return [{"id": f"{g}-{d}-{s}-{i:04d}", "group": g, "domain": d, "severity": s}
            for (g, d, s), n in sizes.items() for i in range(n)]


SIZES = {("animals", "original", 0): 500, ("animals", "weather", 2): 300, ("food", "drawing", 1): 200}


def test_the_draw_is_seeded_and_stratified():
    records = _records(SIZES)
    first = draw_rows(records, 100, seed=11)
    assert first == draw_rows(records, 100, seed=11) and first == sorted(set(first))
    assert first != draw_rows(records, 100, seed=12)
    counts = {key: sum(r["id"] in set(first) for r in records if (r["group"], r["domain"], r["severity"]) == key)
              for key in SIZES}
    assert counts == {("animals", "original", 0): 50, ("animals", "weather", 2): 30, ("food", "drawing", 1): 20}
    assert draw_rows(records, 5000, seed=0) == sorted(r["id"] for r in records)
    with pytest.raises(ValueError, match="at least 1 row, got 0"):
        draw_rows(records, 0, seed=0)


def test_every_row_is_about_equally_likely_to_be_drawn():
    """Proportional allocation: a forger gains nothing by putting the forged rows in a small stratum."""
    records = _records({("a", "original", 0): 7, ("a", "color", 1): 13, ("b", "weather", 3): 30})
    hits = dict.fromkeys((r["id"] for r in records), 0)
    for seed in range(2000):
        for row_id in draw_rows(records, 10, seed):
            hits[row_id] += 1
    rates = np.array(list(hits.values())) / 2000
    assert np.all(np.abs(rates - 10 / 50) < 0.04), rates


def test_each_stratum_gets_its_share_exactly_in_expectation():
    assert allocate([10, 10], 30, np.random.default_rng(0)) == [10, 10]
    assert allocate([1, 2], 0, np.random.default_rng(0)) == [0, 0]
    assert allocate([500, 300, 200], 100, np.random.default_rng(0)) == [50, 30, 20]  # whole shares: no draw
    sizes, rows = [7, 13, 30, 1], 10
    draws = np.array([allocate(sizes, rows, np.random.default_rng(seed)) for seed in range(4000)])
    assert set(draws.sum(axis=1)) == {rows}
    exact = np.array(sizes) * rows / sum(sizes)
    assert np.all(draws >= np.floor(exact)) and np.all(draws <= np.ceil(exact))
    assert np.allclose(draws.mean(axis=0), exact, atol=0.03), draws.mean(axis=0)
    assert list(strata(_records(SIZES))) == sorted(SIZES)


# ------------------------------------------------------------------------------------------- what it catches
@pytest.mark.parametrize("population, forged, drawn", [(10, 1, 3), (12, 3, 4), (9, 2, 7), (8, 4, 5), (6, 0, 3),
                                                       (7, 3, 0), (5, 2, 5)])
def test_detection_probability_by_enumeration(population, forged, drawn):
    samples = list(itertools.combinations(range(population), drawn))
    caught = sum(any(i < forged for i in sample) for sample in samples)
    assert math.isclose(detection_probability(population, forged, drawn), caught / len(samples), abs_tol=1e-12)


def test_rows_needed():
    assert rows_needed(0.02) == 194  # the with-replacement bound: 1 - 0.98**194 >= 0.98 > 1 - 0.98**193
    assert 1 - 0.98 ** 194 >= 0.98 > 1 - 0.98 ** 193
    assert detection_probability(10 ** 6, 20_000, 200) >= 0.98  # the docs' "200 rows catch 2% with >= 98%"
    assert rows_needed(0.001) == 3911 and rows_needed(1.0) == 1
    assert rows_needed(0.001, population=1000) == 980  # one forged row: caught with probability n / N
    for share, population in [(0.01, 5000), (0.05, 300), (0.2, 40)]:
        n = rows_needed(share, population=population)
        forged = math.floor(share * population)
        assert detection_probability(population, forged, n) >= 0.98 > detection_probability(population, forged, n - 1)
    with pytest.raises(ValueError, match=r"share must be in \(0, 1\]"):
        rows_needed(0.0)
    table = {row["share"]: row for row in detection_table(50_000, 200)}
    assert table[0.02]["probability_caught"] >= 0.98 and table[0.001]["probability_caught"] < 0.2


def test_a_small_forgery_is_caught_only_at_the_computed_sample_size():
    """0.1% of a 1,000-row release (one row): the draw itself, over many seeds, catches it as often as the formula
    says: rarely at the default 200 rows, at least 98% of the time at `rows_needed`."""
    records = _records({("animals", "original", 0): 200, ("animals", "color", 1): 400, ("food", "weather", 2): 400})
    forged = records[437]["id"]
    needed = rows_needed(0.001, population=len(records))

    def rate(rows: int) -> float:
        return sum(forged in draw_rows(records, rows, seed) for seed in range(600)) / 600

    low, high = rate(200), rate(needed)
    assert abs(low - detection_probability(1000, 1, 200)) < 0.06, low  # 0.2 expected; binomial sd 0.016
    assert high >= 0.96 and needed == 980, high


# -------------------------------------------------------------------------------------------- the comparison
def test_ties_within_the_tolerance_agree_and_nothing_else_does():
    records = {"a": {"top5": [1, 2, 3, 4, 5]}, "b": {"top5": [2, 1, 3, 4, 5]}, "c": {"top5": [2, 1, 3, 4, 5]},
               "d": {"top5": [9, 1, 2, 3, 4]}}
    reruns = [("a", [1, 2], [5.0, 4.0]), ("b", [1, 2], [5.0, 4.995]), ("c", [1, 2], [5.0, 4.98]),
              ("d", [1, 9], [5.0, 5.0])]
    counts, disagreements = compare(records, reruns, tolerance=0.01)
    assert counts == {"agree": 1, "within_tolerance": 2, "disagree": 1}
    assert disagreements == [{"id": "c", "submitted_top1": 2, "rerun_top1": 1, "rerun_top2": 2,
                              "rerun_logit_gap": 0.02}]
    counts, _ = compare(records, reruns, tolerance=0.02)
    assert counts["within_tolerance"] == 3


def test_metadata_is_compared_field_by_field(release):
    from imagenet_textcorrupt.evaluation import open_rows

    rows = open_rows(str(release), "all", None, streaming=False)
    columns = rows.select_columns(["id", "source_id", "label", "domain", "severity", "group", "template"]).to_dict()
    records = [{k: columns[k][i] for k in columns} for i in range(len(columns["id"]))]
    assert metadata_mismatches(records, rows) == []
    records[0] = {**records[0], "severity": 9}
    records[1] = {**records[1], "id": "not-a-row"}
    found = metadata_mismatches(records, rows)
    assert found == [{"id": records[0]["id"], "problem": f"severity 9, the dataset has {columns['severity'][0]!r}"},
                     {"id": "not-a-row", "problem": "not a row of the dataset"},
                     {"id": columns["id"][1], "problem": "a row of the dataset with no prediction"}]


# --------------------------------------------------------------------------------------- the leaderboard's use
def _board_folder(honest: Path, checkpoint: Path, folder: Path, forge: set[str] | None = None) -> Path:
    """A results folder as a leaderboard reads it: the Lite0 results with the checkpoint they name beside them
    (forged on `forge` when given), and two results on a Hub revision the offline auditor cannot reach."""
    from results_factory import write_results_file

    path = _copy(honest, folder)
    shutil.copy(checkpoint, folder / checkpoint.name)
    if forge:
        _rewrite(path, _forge_top1(forge))
    for model in ("timm:resnet50", "timm:vit_base_patch16_224"):
        write_results_file(folder, model=model)
    return folder


def _rows(board: dict) -> dict[str, dict]:
    return {row["model"]: row for section in board["sections"] for row in section["overall"]}


def test_the_leaderboard_audits_new_results_and_caches_the_records(honest, lite0_checkpoint, tmp_path, capsys,
                                                                    monkeypatch):
    folder = _board_folder(honest, lite0_checkpoint, tmp_path / "results")
    store, out = tmp_path / "store", tmp_path / "board"
    args = ["leaderboard", str(folder), "--out", str(out), "--audits", str(store), "--device", "cpu", "--quiet"]
    assert main(args + ["--audit", "20"]) == 0
    printed = capsys.readouterr().out
    assert "3 results ranked in 2 section(s); 0 refused, 0 superseded; 1 of the ranked audited" in printed
    board = json.loads((out / "leaderboard.json").read_text())
    rows = _rows(board)
    audit = rows[LITE0]["audit"]
    digest = hashlib.sha256(honest.read_bytes()).hexdigest()
    assert audit == {"status": "audited", "rows": 20, "seed": audit["seed"], "agreement": 1.0, "reason": None,
                     "record": f"audits/{digest}.json"}
    assert read_record(out / audit["record"]).seed == audit["seed"]  # published beside the tables
    assert read_record(store / f"{digest}.json").status == AUDITED
    other = rows["timm:resnet50"]["audit"]
    assert other["status"] == "unaudited" and other["reason"].startswith(
        "unauditable: dataset org/imagenet-tc revision " + "a" * 40 + ": it no longer exists or cannot be reached")
    markdown = (out / "leaderboard.md").read_text()
    assert f"✓ 20 rows, seed {audit['seed']}" in markdown
    csv_text = (out / "leaderboard.csv").read_text()
    assert f",audited,20,{audit['seed']}," in csv_text and ",unaudited,,," in csv_text

    def no_rerun(*args, **kwargs):
        raise AssertionError("a cached audit was rerun")

    monkeypatch.setattr("imagenet_textcorrupt.leaderboard.ranking.audit_results", no_rerun)
    assert main(args + ["--audit", "20"]) == 0
    again = json.loads((out / "leaderboard.json").read_text())
    assert {k: v for k, v in again.items() if k != "generated"} == {k: v for k, v in board.items() if k != "generated"}
    capsys.readouterr()
    assert main(args + ["--audited-only"]) == 0
    printed = capsys.readouterr().out
    assert "1 results ranked in 1 section(s); 2 refused, 0 superseded; 1 of the ranked audited" in printed
    assert "refused timm_resnet50-all-2026-11-01T00_00_00Z.json: not audited: unauditable: dataset org/imagenet-tc" \
        in printed


def test_without_audits_every_row_says_it_was_not_audited(honest, lite0_checkpoint, tmp_path):
    from imagenet_textcorrupt.leaderboard import build

    board = build(str(_board_folder(honest, lite0_checkpoint, tmp_path / "results")))
    assert {row["audit"]["status"] for section in board.sections for row in section["overall"]} == {"unaudited"}
    assert {row["audit"]["reason"] for section in board.sections for row in section["overall"]} == \
        {"not audited yet (imagenet-tc leaderboard --audit N reruns the model)"}


def test_a_forged_result_never_ranks_whatever_record_came_with_it(honest, lite0_checkpoint, tmp_path, capsys):
    forged_ids = {"sample-chelsea-3-color-p000-s1", "sample-motorcycle"}
    folder = _board_folder(honest, lite0_checkpoint, tmp_path / "results", forge=forged_ids)
    claimed = audit_results(honest, rows=5, seed=1, checkpoint=lite0_checkpoint, device="cpu", progress=False)
    claimed.results_sha256 = hashlib.sha256((folder / honest.name).read_bytes()).hexdigest()
    from imagenet_textcorrupt.audit import write_record

    write_record(claimed, folder / "lite0.audit.json")  # the submitter's own "audit": never read
    out = tmp_path / "board"
    assert main(["leaderboard", str(folder), "--out", str(out), "--audits", str(tmp_path / "store"), "--audit", "200",
                 "--device", "cpu", "--quiet"]) == 0
    printed = capsys.readouterr().out
    board = json.loads((out / "leaderboard.json").read_text())
    assert LITE0 not in _rows(board)
    [refused] = [r for r in board["refused"] if r["file"] == honest.name]
    assert refused["audit"]["status"] == "refused" and refused["audit"]["disagreements"] == 2
    assert refused["problems"][0].startswith("audit: 2 of 100 audited rows disagree with the submitted predictions: ")
    assert all(row_id in refused["problems"][0] for row_id in forged_ids)
    assert (out / refused["audit"]["record"]).is_file()
    assert f"refused {honest.name}: audit: 2 of 100 audited rows disagree" in printed
    assert "lite0.audit.json" not in printed  # neither ranked nor refused: not a results file


# ------------------------------------------------------------------------------------------ on the loopback Hub
def test_a_hub_release_is_audited_at_its_commit_and_a_vanished_revision_is_unauditable(
        hub, release, lite0_checkpoint, tmp_path_factory):
    """The release published to the loopback Hub and tagged; the model scored on the tag; the audit opens the
    recorded commit. Results that claim a commit the repository does not have, or a repository that is gone, are
    unauditable, with the reason."""
    import subprocess
    import sys

    from hub_server import client_environment

    env = client_environment(hub.endpoint, str(tmp_path_factory.mktemp("audit_client")))
    setup = (f"from huggingface_hub import HfApi\napi = HfApi()\n"
             f"api.create_repo('org/audited', repo_type='dataset')\n"
             f"api.upload_folder(folder_path={str(release)!r}, repo_id='org/audited', repo_type='dataset')\n"
             f"api.create_tag('org/audited', tag='v1.0.0', repo_type='dataset')\n")
    done = subprocess.run([sys.executable, "-c", setup], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    folder = tmp_path_factory.mktemp("hub_results")
    results = folder / "lite0.json"

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "imagenet_textcorrupt.cli", *args], env=env,
                              capture_output=True, text=True, timeout=300)

    done = cli("evaluate", "--model", LITE0, "--checkpoint", str(lite0_checkpoint), "--dataset", "org/audited",
               "--revision", "v1.0.0", "--output", str(results), "--workers", "0", "--resamples", "20", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    sha = hub.get_repo("org/audited").tags["v1.0.0"]
    assert json.loads(results.read_text())["dataset"]["sha"] == sha
    done = cli("audit", str(results), "--rows", "12", "--checkpoint", str(lite0_checkpoint), "--device", "cpu",
               "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    record = read_record(folder / "lite0.audit.json")
    assert (record.status, record.rows, record.dataset["sha"], record.seed_source) == (AUDITED, 12, sha, "os")

    for name, dataset_id, revision in [("vanished", "org/audited", "f" * 40), ("gone", "org/deleted", sha)]:
        path = _edited(results, folder / name, lambda d: d["dataset"].update(id=dataset_id, sha=revision))
        done = cli("audit", str(path), "--rows", "12", "--checkpoint", str(lite0_checkpoint), "--quiet")
        assert done.returncode == 2, done.stdout + done.stderr[-3000:]
        reason = read_record(path.with_name("lite0.audit.json")).reason
        assert reason.startswith(f"dataset {dataset_id} revision {revision}: it no longer exists or cannot be "
                                 f"reached ("), reason
        assert f"unauditable: {reason}" in done.stdout


# ------------------------------------------------------------------------------------ records, rows, messages
def _record(**fields):
    from imagenet_textcorrupt.audit import AuditRecord

    return AuditRecord(**{"status": AUDITED, "results_file": "r.json", "results_sha256": "ab" * 32, **fields})


def test_each_verdict_becomes_the_row_status_the_space_shows():
    from imagenet_textcorrupt.audit.store import NOT_YET, row_status

    assert row_status(None) == {"status": "unaudited", "rows": None, "seed": None, "agreement": None,
                                "reason": NOT_YET, "record": None}
    shown = "audits/" + "ab" * 32 + ".json"
    assert row_status(_record(rows=200, seed=5, agreement={"share": 1.0})) == {
        "status": "audited", "rows": 200, "seed": 5, "agreement": 1.0, "reason": None, "record": shown}
    refused = _record(status=REFUSED, rows=50, seed=6, agreement={"share": 0.9}, reason="3 rows",
                      disagreements=[{}, {}], metadata_mismatches=[{}])
    assert row_status(refused) == {"status": "refused", "rows": 50, "seed": 6, "agreement": 0.9, "reason": "3 rows",
                                   "record": shown, "disagreements": 3}
    assert row_status(_record(status=UNAUDITABLE, seed=7, reason="no model")) == {
        "status": "unaudited", "rows": None, "seed": None, "agreement": None, "reason": "unauditable: no model",
        "record": shown}


def test_the_summary_line_counts_the_tolerated_rows():
    assert _record(rows=30, seed=2, agreement={"within_tolerance": 2}).summary() == \
        "audited: 30 rows (seed 2) agree with the submitted predictions, 2 of them within the tie tolerance"
    assert _record(rows=30, seed=2, agreement={}).summary() == \
        "audited: 30 rows (seed 2) agree with the submitted predictions"
    assert _record(status=REFUSED, reason="x").summary() == "refused: x"
    assert _record(status=UNAUDITABLE, reason="y").summary() == "unauditable: y"


def test_long_lists_are_cut_with_a_count():
    from imagenet_textcorrupt.audit.run import _shown

    assert _shown(["a", "b"]) == "a, b"
    assert _shown([str(i) for i in range(25)]) == ", ".join(str(i) for i in range(20)) + " and 5 more"
    assert _shown([str(i) for i in range(20)]) == ", ".join(str(i) for i in range(20))


def test_a_store_ignores_what_it_cannot_trust(tmp_path):
    from imagenet_textcorrupt.audit.store import AuditStore

    store = AuditStore(tmp_path)
    record = _record(rows=3, seed=1)
    path = store.put(record)
    assert path == tmp_path / f"{'ab' * 32}.json" and store.get("ab" * 32).seed == 1
    assert store.get("cd" * 32) is None
    (tmp_path / f"{'cd' * 32}.json").write_text(path.read_text())  # another file's record under this name
    assert store.get("cd" * 32) is None
    path.write_text("{not json")
    assert store.get("ab" * 32) is None
    with pytest.raises(AuditError, match=r"r\.json|not a readable audit record"):
        read_record(path)


def test_the_rerun_runs_in_the_recorded_dtype_and_keeps_every_row(release):
    """bfloat16 results are rerun in bfloat16 (the tolerance assumes it); batches cover every row once."""
    import torch

    from imagenet_textcorrupt.audit.rerun import rerun
    from imagenet_textcorrupt.evaluation import open_rows
    from imagenet_textcorrupt.models import load_classifier

    classifier = load_classifier("timm:test_vit", pretrained=False)
    rows = open_rows(str(release), "all", None, streaming=False).select(range(7))
    reruns = list(rerun(classifier, rows, "cpu", "bfloat16", batch_size=3, progress=False))
    assert {p.dtype for p in classifier.module.parameters()} == {torch.bfloat16}
    assert [r[0] for r in reruns] == rows["id"]
    assert all(len(top) == 2 and top[0] != top[1] and values[0] >= values[1] for _, top, values in reruns)


def test_the_command_explains_itself(capsys):
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for text in ("imagenet-tc audit results/resnet50-all.json --rows 200", "exit status: 0 audited",
                 "1 refused", "2 unauditable", "stratified random sample", "--seed SEED the draw's seed (default: "
                 "drawn from the OS and recorded)", "--checkpoint CHECKPOINT the local .safetensors checkpoint",
                 "--out OUT the audit record (default RESULTS.audit.json", "--quiet no progress bar",
                 "--device DEVICE cuda, cpu"):
        assert text in shown, text


def test_a_transformers_model_from_its_folder_is_audited(release, tmp_path):
    """Weights saved with save_pretrained (what `hf:ID` loads from the Hub): loaded pretrained, no checkpoint."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    from imagenet_textcorrupt.evaluation import EvaluationSettings, evaluate

    folder = tmp_path / "vit"
    torch.manual_seed(3)
    ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, intermediate_size=64, num_labels=1000)
                              ).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    results = tmp_path / "vit.json"
    evaluate(EvaluationSettings(model=f"hf:{folder}", dataset=str(release), workers=0, resamples=10), results,
             progress=False)
    record = audit_results(results, rows=30, seed=4, device="cpu", progress=False)
    assert (record.status, record.rows, record.model["checkpoint_sha256"]) == (AUDITED, 30, None), record.reason


def test_what_pins_a_revision():
    from imagenet_textcorrupt.audit.rerun import _pinnable

    assert _pinnable("hf:org/model", "abc") == "abc" and _pinnable("timm:hf-hub:org/m", "abc") == "abc"
    assert _pinnable("timm:resnet50", "abc") is None and _pinnable("hf:org/model", None) is None


def test_timm_hub_weights_load_at_the_revision(monkeypatch):
    from imagenet_textcorrupt import models

    seen = []

    def fake(spec, name, pretrained):
        seen.append(name)
        raise models.ModelLoadError("stop")

    monkeypatch.setattr(models.load, "load_timm", fake)
    for revision in ("abc123", None):
        with pytest.raises(models.ModelLoadError):
            models.load_classifier("timm:hf-hub:org/net", revision=revision)
    assert seen == ["hf-hub:org/net@abc123", "hf-hub:org/net"]
    with pytest.raises(models.ModelLoadError, match="a revision pins Hub weights of hf: or timm:hf-hub: specs only"):
        models.load_classifier("timm:resnet50", revision="abc")


def test_preprocessing_differs_by_any_key_on_either_side():
    from imagenet_textcorrupt.audit.rerun import _preprocessing_differences

    assert _preprocessing_differences({"a": 1}, {"a": 1}) == []
    assert _preprocessing_differences({"a": 1}, {"a": 1, "b": 2}) == ["b: recorded None, the model loads with 2"]
    assert _preprocessing_differences({"a": 1, "c": 3}, {"a": 2}) == [
        "a: recorded 1, the model loads with 2", "c: recorded 3, the model loads with None"]
    assert _preprocessing_differences(None, {"a": 1}) == ["the results record no preprocessing"]


def test_a_tie_exactly_at_the_tolerance_agrees():
    counts, _ = compare({"a": {"top5": [2, 1, 0, 3, 4]}}, [("a", [1, 2], [5.0, 4.75])], tolerance=0.25)
    assert counts == {"agree": 0, "within_tolerance": 1, "disagree": 0}


def test_the_detection_table_rows():
    assert detection_table(1000, 200, shares=[0.02], probability=0.9) == [
        {"share": 0.02, "forged_rows": 20, "probability_caught": round(detection_probability(1000, 20, 200), 4),
         "rows_needed": rows_needed(0.02, 0.9, 1000), "rows_needed_any_size": rows_needed(0.02, 0.9)}]
    assert rows_needed(0.02, 0.9) == 114 != rows_needed(0.02)
    assert detection_table(10, 200, shares=[0.001])[0]["forged_rows"] == 1  # at least one row is forged
    assert detection_table(10, 200, shares=[0.001])[0]["probability_caught"] == 1.0  # all ten drawn


def test_a_predictions_file_under_its_recorded_name_is_found(honest, lite0_checkpoint, tmp_path):
    path = _copy(honest, tmp_path / "renamed")
    predictions_path(path).rename(path.with_name("preds.jsonl"))
    data = json.loads(path.read_text())
    data["predictions"]["file"] = "preds.jsonl"
    write_results(path, data)
    record = audit_results(path, rows=4, seed=0, checkpoint=lite0_checkpoint, device="cpu", progress=False)
    assert (record.status, record.population) == (AUDITED, 100)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["dataset"].update(id="no/such/place"), "dataset no/such/place: neither a folder here nor a Hub "
                                                        "dataset id"),
    (lambda d: d["dataset"].update(config="vehicles", fingerprint="sha256:" + "2" * 64),
     "dataset {root}: its files changed since the results were computed (fingerprint sha256:{now}…, recorded "
     "sha256:222222222222…)"),
    (lambda d: d["dataset"].update(fingerprint=None), "dataset {root}: the results record no fingerprint"),
], ids=["not-a-dataset", "fingerprint", "no-fingerprint"])
def test_a_dataset_that_cannot_be_had_again(honest, tmp_path, change, message):
    from imagenet_textcorrupt.evaluation import dataset_provenance

    path = _edited(honest, tmp_path / "dataset", change)
    root = json.loads(honest.read_text())["dataset"]["id"]
    now = dataset_provenance(root, "vehicles", None)["fingerprint"][7:19]
    record = audit_results(path, rows=4, seed=0, progress=False)
    assert record.status == UNAUDITABLE
    assert message.format(root=root, now=now) in record.reason, record.reason


def test_a_release_folder_that_lost_its_files(honest, release, tmp_path):
    moved = tmp_path / "release"
    shutil.copytree(release, moved)
    path = _edited(honest, tmp_path / "lost", lambda d: d["dataset"].update(id=str(moved)))
    for file in moved.glob("data/*/*.parquet"):
        file.unlink()
    record = audit_results(path, rows=4, seed=0, progress=False)
    assert record.status == UNAUDITABLE
    assert record.reason.startswith(f"dataset {moved}: EvaluationError: --dataset {moved}: no data files for config "
                                    f"'all'"), record.reason


def test_rows_needed_at_its_edges():
    from imagenet_textcorrupt.audit.sample import detection_probability as p

    assert rows_needed(0.5, 0.5, population=4) == 1 and p(4, 2, 1) == 0.5  # exactly the probability asked
    assert rows_needed(0.5, 0.4, population=2) == 1
    for share, probability in [(1.5, 0.9), (0.1, 1.0), (-0.1, 0.5), (0.1, 0.0)]:
        with pytest.raises(ValueError, match=r"share must be in \(0, 1\] and probability in \(0, 1\)"):
            rows_needed(share, probability)


def test_large_releases_use_the_product_form():
    """Above EXACT_POPULATION the chance is a product of per-draw ratios: equal to the exact form to 1e-12."""
    from fractions import Fraction

    from imagenet_textcorrupt.audit.sample import EXACT_POPULATION

    for population, forged, drawn in [(EXACT_POPULATION + 1, 20, 200), (10 ** 6, 1000, 3903), (50_001, 1, 7)]:
        exact = 1 - Fraction(math.comb(population - forged, drawn), math.comb(population, drawn))
        assert abs(detection_probability(population, forged, drawn) - float(exact)) < 1e-12
    assert detection_probability(10 ** 6, 500_000, 400) == 1.0
    assert rows_needed(0.001, population=10 ** 6) == 3903


def test_one_row_can_be_drawn_and_bad_counts_are_named():
    records = _records(SIZES)
    assert len(draw_rows(records, 1, seed=0)) == 1
    with pytest.raises(ValueError, match=r"need 0 <= forged \(5\) and drawn \(1\) <= population \(4\)"):
        detection_probability(4, 5, 1)


def test_unreadable_records_are_named(tmp_path):
    from imagenet_textcorrupt.audit import write_record

    path = write_record(_record(), tmp_path / "a.json")
    data = json.loads(path.read_text())
    for change, message in [({"format_version": 2}, "audit format version 2; this version reads 1"),
                            ({"status": "bogus"}, "status 'bogus' is none of audited, refused, unauditable"),
                            ({"format": "x"}, 'not an audit record (no "format": "imagenet-tc-audit")'),
                            ({"colour": 1}, "unexpected keyword argument 'colour'")]:
        path.write_text(json.dumps({**data, **change}))
        with pytest.raises(AuditError) as caught:
            read_record(path)
        assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_the_seed_bound_and_the_default_device(honest, lite0_checkpoint):
    import torch

    with pytest.raises(AuditError, match=r"--seed must be in \[0, 2\*\*63\), got 9223372036854775808"):
        audit_results(honest, seed=2 ** 63)
    record = audit_results(honest, rows=3, seed=2 ** 63 - 1, checkpoint=lite0_checkpoint, progress=False)
    assert record.seed == 2 ** 63 - 1 and record.tolerance["device"] == ("cuda" if torch.cuda.is_available() else "cpu")


def test_weights_at_another_revision_are_unauditable(honest, monkeypatch):
    """The auditor must load the commit the results record; what it got instead is named."""
    from imagenet_textcorrupt import models
    from imagenet_textcorrupt.audit.rerun import load_audited_model
    from imagenet_textcorrupt.results import load_results

    real = models.load_classifier

    def at(commit):
        def load(spec, **kwargs):
            classifier = real("timm:tf_efficientnet_lite0", pretrained=False)
            classifier.revision = commit
            return classifier
        return load

    results = load_results(honest)
    results.data["model"].update(id="hf:org/model", revision="a" * 40, checkpoint=None)
    results.data["preprocessing"] = real("timm:tf_efficientnet_lite0", pretrained=False).preprocessing
    monkeypatch.setattr(models, "load_classifier", at("b" * 40))
    with pytest.raises(Exception, match=f"model hf:org/model: the results record weights at commit {'a' * 40}, "
                                        f"the auditor loads {'b' * 40}"):
        load_audited_model(results, None, honest.parent)
    monkeypatch.setattr(models, "load_classifier", at("a" * 40))
    loaded = load_audited_model(results, None, honest.parent)
    assert (loaded.resolved_commit, loaded.checkpoint_sha256) == ("a" * 40, None)


def test_a_dtype_without_a_tolerance_gets_the_widest(honest, lite0_checkpoint, tmp_path):
    path = _edited(honest, tmp_path / "float64", lambda d: d["run"].update(dtype="float64"))
    record = audit_results(path, rows=3, seed=0, checkpoint=lite0_checkpoint, device="cpu", progress=False)
    assert record.tolerance == {"dtype": "float64", "logit_gap": 0.25, "device": "cpu"}


def test_a_rebuild_that_finds_nothing_new_redraws_no_report(tmp_path, monkeypatch):
    """The leaderboard's report (its plots take most of a large build's writing) is reused when the accepted
    results' bytes are unchanged, and drawn again when one changes or a file of it is gone."""
    from results_factory import write_results_file

    from imagenet_textcorrupt import leaderboard

    folder = tmp_path / "results"
    for model in ("timm:resnet50", "timm:vit_base_patch16_224"):
        write_results_file(folder, model=model)
    out = tmp_path / "board"
    first = leaderboard.write(leaderboard.build(str(folder)), out)
    drawn = []
    real = leaderboard.folder.write_report
    monkeypatch.setattr(leaderboard.folder, "write_report", lambda *a, **k: drawn.append(1) or real(*a, **k))
    again = leaderboard.write(leaderboard.build(str(folder)), out)
    assert drawn == [] and again == first
    changed = write_results_file(folder, model="timm:resnet50", created="2026-11-02T00:00:00Z")
    leaderboard.write(leaderboard.build(str(folder)), out)
    assert drawn == [1] and changed.is_file()
    next(p for name, p in first.items() if name.endswith(".png")).unlink()
    leaderboard.write(leaderboard.build(str(folder)), out)
    assert drawn == [1, 1]
