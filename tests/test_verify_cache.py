"""The verification cache of the leaderboard (results/verify_cache.py, cache_entries.py, verify_ahead.py) and the
fast reading of predictions files (results/verify.py): a rebuild gives the same leaderboard without recomputing, a
forged file stays refused, a changed file is verified again, a corrupt entry is recomputed, and the fast reader
reads what read_predictions reads or leaves the file to it."""

from __future__ import annotations

import hashlib
import json
import math
import shutil

import numpy as np
import pytest

from imagenet_textcorrupt import leaderboard
from imagenet_textcorrupt.cli import main
from imagenet_textcorrupt.leaderboard import build, to_json
from imagenet_textcorrupt.results import (CHECKED, NO_PREDICTIONS, OTHER_METRICS_VERSION, PREDICTION_FIELDS,
                                          ResultsError, metrics_from_predictions, predictions_path,
                                          read_predictions, verify_results)
from imagenet_textcorrupt.results import cache_entries, verify, verify_ahead
from imagenet_textcorrupt.results.verify_cache import default_cache, entry_path, verify_results_cached
from results_factory import make_records, write_results_file

MODELS = [("timm:resnet50", 0.80, 0.55, 0), ("timm:vit_base_patch16_224", 0.85, 0.50, 1),
          ("timm:convnext_base", 0.85, 0.70, 2)]


@pytest.fixture()
def results(tmp_path):
    folder = tmp_path / "results"
    for model, clean, edited, seed in MODELS:
        write_results_file(folder, model, "cnn", clean, edited, seed=seed)
    return folder


@pytest.fixture()
def recomputed(monkeypatch):
    """The files whose metrics were recomputed from their predictions (the costly part the cache saves)."""
    seen = []
    check = cache_entries.check_predictions

    def counted(path, *args, **kwargs):
        seen.append(path.name)
        return check(path, *args, **kwargs)

    monkeypatch.setattr(cache_entries, "check_predictions", counted)
    return seen


def board_json(board) -> dict:
    data = to_json(board)
    del data["generated"]
    return data


def tamper(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def entries(cache) -> list:
    return sorted(cache.rglob("*.json"))


def outcome(call) -> tuple:
    """What a call returned, or the exception it raised (a ResultsError's source and problems)."""
    try:
        answer = call()
    except ResultsError as error:
        return "ResultsError", error.source, error.problems
    except Exception as error:  # noqa: BLE001
        return type(error).__name__, str(error)
    return "returned", answer[1] if isinstance(answer, tuple) else answer


def test_a_rebuild_gives_the_same_leaderboard_without_recomputing(results, tmp_path, recomputed):
    cache = tmp_path / "cache"
    first = board_json(build(str(results), cache=cache))
    assert len(recomputed) == 3 and len(entries(cache)) == 3
    assert first == board_json(build(str(results)))  # the same as without a cache
    recomputed.clear()
    assert board_json(build(str(results), cache=cache)) == first
    assert recomputed == []
    assert [r["verified"] for r in first["sections"][0]["overall"]] == [True] * 3


def test_the_written_leaderboard_is_the_same_on_a_rebuild(results, tmp_path):
    for out in ("one", "two"):
        assert main(["leaderboard", str(results), "--out", str(tmp_path / out), "--cache", str(tmp_path / "c")]) == 0
    one, two = (json.loads((tmp_path / out / "leaderboard.json").read_text()) for out in ("one", "two"))
    assert one.pop("generated") and two.pop("generated") and one == two
    assert (tmp_path / "one" / "leaderboard.md").read_text() == (tmp_path / "two" / "leaderboard.md").read_text()
    assert len(entries(tmp_path / "c")) == 3


def test_the_command_keeps_its_cache_in_the_cache_root_by_default(results, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGENET_TC_CACHE", str(tmp_path / "root"))
    assert default_cache() == tmp_path / "root" / "leaderboard"
    assert main(["leaderboard", str(results), "--out", str(tmp_path / "board")]) == 0
    assert len(entries(tmp_path / "root" / "leaderboard")) == 3


def test_a_forged_file_stays_refused_on_a_cached_rebuild(results, tmp_path, recomputed):
    forged = next(results.glob("timm_resnet50*.json"))
    tamper(forged, lambda d: d["metrics"]["edited"]["top1"].update(value=0.99))
    cache = tmp_path / "cache"
    first = build(str(results), cache=cache)
    [refusal] = first.refused
    assert refusal["file"] == forged.name and "edited.top1.value: claimed 0.99, recomputed" in refusal["problems"][0]
    recomputed.clear()
    again = build(str(results), cache=cache)
    assert again.refused == first.refused and recomputed == []
    assert outcome(lambda: verify_results_cached(forged, cache)) == outcome(lambda: verify_results(forged))
    assert outcome(lambda: verify_results(forged))[0] == "ResultsError"


def test_a_refusal_of_the_predictions_file_is_kept_and_names_it(results, tmp_path, recomputed):
    path = next(results.glob("timm_vit*.json"))
    predictions = predictions_path(path)
    predictions.write_text(predictions.read_text().replace('"label": ', '"label": "', 1))  # not JSON any more
    tamper(path, lambda d: d["predictions"].update(sha256=hashlib.sha256(predictions.read_bytes()).hexdigest()))
    for _ in range(2):
        with pytest.raises(ResultsError) as caught:
            verify_results_cached(path, tmp_path / "cache")
        assert caught.value.source == str(predictions) and caught.value.problems[0].startswith("line 1: not ")
    assert recomputed == [path.name]


def test_a_changed_predictions_file_is_verified_again(results, tmp_path, recomputed):
    cache = tmp_path / "cache"
    build(str(results), cache=cache)
    path = next(results.glob("timm_convnext*.json"))
    predictions = predictions_path(path)
    records = read_predictions(predictions)
    right = next(r for r in records if r["top5"][0] == r["label"])
    right["top5"] = [(right["label"] + 1) % 1000] + right["top5"][1:]  # a right row made wrong: metrics change
    predictions.write_text("".join(json.dumps(r) + "\n" for r in records))
    recomputed.clear()
    board = build(str(results), cache=cache)
    assert recomputed == [path.name]
    [refusal] = board.refused
    assert "has sha256" in refusal["problems"][0] and "do not match" in refusal["problems"][1]

    # the same change, submitted honestly (the results rescored from it): checked, and kept as checked
    tamper(path, lambda d: d.update(metrics=metrics_from_predictions(records, resamples=100),
                                    predictions={**d["predictions"],
                                                 "sha256": hashlib.sha256(predictions.read_bytes()).hexdigest()}))
    recomputed.clear()
    assert build(str(results), cache=cache).refused == [] and recomputed == [path.name]
    recomputed.clear()
    assert verify_results_cached(path, cache)[1] == CHECKED and recomputed == []


@pytest.mark.parametrize("corrupt", [
    lambda text: text[: len(text) // 2],  # cut short
    lambda text: "",
    lambda text: "not json",
    lambda text: json.dumps([1, 2]),
    lambda text: text.replace('"status": "checked"', '"status": "refused"'),  # checksum no longer matches
    lambda text: text.replace('"numpy": "', '"numpy": "0'),  # other inputs
    lambda text: json.dumps({**json.loads(text), "extra": 1}),
])
def test_a_corrupt_entry_is_recomputed_and_rewritten(results, tmp_path, recomputed, corrupt):
    cache = tmp_path / "cache"
    first = board_json(build(str(results), cache=cache))
    for entry in entries(cache):
        entry.write_text(corrupt(entry.read_text()))
    recomputed.clear()
    assert board_json(build(str(results), cache=cache)) == first
    assert len(recomputed) == 3
    recomputed.clear()
    assert board_json(build(str(results), cache=cache)) == first and recomputed == []  # rewritten


def test_an_entry_forged_to_accept_a_refused_file_is_not_trusted(results, tmp_path):
    """An entry that says checked, with a valid checksum, but filed under another key, is not used."""
    cache = tmp_path / "cache"
    build(str(results), cache=cache)
    forged = next(results.glob("timm_resnet50*.json"))
    good = json.loads(next(iter(entries(cache))).read_text())
    tamper(forged, lambda d: d["metrics"]["clean"]["top1"].update(value=0.0))
    with pytest.raises(ResultsError):
        verify_results(forged)
    inputs = cache_entries._inputs(hashlib.sha256(forged.read_bytes()).hexdigest(),
                                   hashlib.sha256(predictions_path(forged).read_bytes()).hexdigest())
    target = entry_path(cache, inputs)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(next(iter(entries(cache))), target)  # another file's entry: its key and inputs are not these
    assert good["outcome"] == {"status": "checked"}
    with pytest.raises(ResultsError, match="clean.top1.value: claimed 0, recomputed"):
        verify_results_cached(forged, cache)


def test_the_statuses_and_errors_are_those_of_verify_results(tmp_path):
    folder = tmp_path / "r"
    older = write_results_file(folder, "timm:older", seed=3)
    tamper(older, lambda d: d["metrics"].update(metrics_version="0.9.0"))
    alone = write_results_file(folder, "timm:alone", seed=4)
    predictions_path(alone).unlink()
    broken = folder / "broken.json"
    broken.write_text('{"format": "imagenet-tc-results"')
    missing = write_results_file(folder, "timm:missing", seed=5)
    tamper(missing, lambda d: d.pop("dataset"))
    nan = write_results_file(folder, "timm:nan", seed=6)
    tamper(nan, lambda d: d["metrics"]["clean"]["top1"].update(value=math.nan))
    (folder / "folder.json").mkdir()
    assert verify_results_cached(older, tmp_path / "c")[1] == OTHER_METRICS_VERSION
    assert verify_results_cached(alone, tmp_path / "c")[1] == NO_PREDICTIONS
    for path in (broken, missing, nan, folder / "folder.json", folder / "absent.json"):
        expected = outcome(lambda: verify_results(path))
        assert expected[0] != "returned" and outcome(lambda: verify_results_cached(path, tmp_path / "c")) == expected
    assert entries(tmp_path / "c") == []  # nothing was recomputed, so nothing was kept


def test_without_a_cache_it_is_verify_results(results, tmp_path):
    path = next(results.glob("*.json"))
    assert verify_results_cached(path)[1] == CHECKED == verify_results_cached(path, None, [path])[1]
    assert not (tmp_path / "cache").exists()


def test_an_unwritable_cache_only_costs_time(results, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    assert board_json(build(str(results), cache=blocked)) == board_json(build(str(results)))


def test_verified_ahead_in_workers_as_in_order(tmp_path, monkeypatch):
    """With `upcoming` (what build passes), workers verify ahead: the same answers, refusals and unreadable files
    included; an answer whose file changed after its worker read it is not used."""
    folder = tmp_path / "results"
    for k in range(6):
        write_results_file(folder, f"timm:model{k}", seed=k)
    forged = next(folder.glob("timm_model2*.json"))
    tamper(forged, lambda d: d["metrics"]["edited"]["drop"].update(value=0.5))
    (folder / "notes.json").write_text('{"hello": 1}')
    (folder / "bad.json").write_text("{")
    sequential = board_json(build(str(folder)))
    monkeypatch.setattr(verify_ahead, "_AHEAD_MIN_BYTES", 0)
    monkeypatch.setattr(verify_ahead, "_workers", lambda: 2)
    started = []
    ahead = verify_ahead._Ahead
    monkeypatch.setattr(verify_ahead, "_Ahead", lambda *a: started.append(a) or ahead(*a))
    assert board_json(build(str(folder), cache=tmp_path / "c1")) == sequential
    assert len(started) == 1 and verify_ahead._AHEAD is None  # the workers are gone once the last file is asked for

    files = sorted(folder.glob("*.json"))
    changed = next(folder.glob("timm_model4*.json"))
    answers = []
    for path in files:
        if path == changed:  # after its worker read it: that answer is not used, it is verified again
            verify_ahead._AHEAD.futures[changed].result(timeout=120)
            tamper(changed, lambda d: d["metrics"]["clean"]["top1"].update(value=0.01))
        try:
            answers.append(verify_results_cached(path, tmp_path / "c2", files)[1])
        except ResultsError as error:
            answers.append(error.problems[0][:40])
    assert len(started) == 2
    with pytest.raises(ResultsError, match="clean.top1.value: claimed 0.01"):
        verify_results(changed)
    assert answers[files.index(changed)].startswith("the metrics do not match")
    assert answers[files.index(forged)].startswith("the metrics do not match")
    assert answers.count(CHECKED) == 4


# ---------------------------------------------------------------------------------- reading predictions fast
def columns_of(records: list[dict]) -> dict:
    return {k: [r[k] for r in records] for k in PREDICTION_FIELDS}


def lines_of(records: list[dict]) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) for r in records]


VARIANTS = {  # name: (how the file is changed, whether the fast reader takes it)
    "as written": (lambda lines: lines, True),
    "no newline at the end": (lambda lines: lines, False),
    "a blank line": (lambda lines: lines[:3] + [""] + lines[3:], False),
    "spaces around a record": (lambda lines: [" " + lines[0] + " "] + lines[1:], False),
    "CRLF": (lambda lines: [line + "\r" for line in lines], False),
    "a record over two lines": (lambda lines: [lines[0].replace(', "label"', ',\n"label"')] + lines[1:], False),
    "two records on a line": (lambda lines: [lines[0] + " " + lines[1]] + lines[2:], False),
    "a line separator in a template": (lambda lines: [lines[1].replace('template": "drawing template',
                                                                        'template": "drawing\u2028template')]
                                       + lines[2:], False),
    "NEL in an id": (lambda lines: [lines[1].replace('"id": "', '"id": "\x85')] + lines[1:], False),
    "a null group": (lambda lines: [lines[0].replace('"group": "animals"', '"group": null')] + lines[1:], True),
    "NaN": (lambda lines: [lines[0].replace("0.05]", "NaN]")] + lines[1:], False),
    "an integer probability": (lambda lines: [lines[0].replace("0.05]", "1]")] + lines[1:], False),
    "a boolean label": (lambda lines: [lines[0].replace('"label": ', '"label": true, "x": ')] + lines[1:], False),
    "a float severity": (lambda lines: [lines[0].replace('"severity": 0', '"severity": 0.0')] + lines[1:], False),
    "a huge label": (lambda lines: [lines[0].replace('"label": ', '"label": 1' + "0" * 30 + ', "y": ')]
                     + lines[1:], False),
    "a missing field": (lambda lines: [lines[0].replace('"group": "animals", ', "")] + lines[1:], False),
    "an extra field": (lambda lines: [lines[0].replace('{"id"', '{"extra": [1], "id"')] + lines[1:], True),
    "a list for a record": (lambda lines: ["[1, 2]"] + lines[1:], False),
    "a text id that is a list": (lambda lines: [lines[0].replace('"id": "src000"', '"id": ["src000"]')]
                                 + lines[1:], False),
    "ragged top5": (lambda lines: [lines[0].replace('"top5": [', '"top5": [7, ')] + lines[1:], False),
    "trailing garbage": (lambda lines: [lines[0] + "x"] + lines[1:], False),
    "a BOM": (lambda lines: ["\ufeff" + lines[0]] + lines[1:], False),
    "deep nesting": (lambda lines: ["[" * 5000 + "]" * 5000] + lines[1:], False),
    "empty": (lambda lines: [], False),
    "escapes in text": (lambda lines: [lines[0].replace('"group": "animals"', '"group": "a\\"n\\u00e9"')]
                        + lines[1:], True),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_fast_reader_reads_what_read_predictions_reads(tmp_path, name):
    change, fast = VARIANTS[name]
    lines = change(lines_of(make_records(0.8, 0.6, sources=4)))
    data = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
    if name == "no newline at the end":
        data = data.rstrip(b"\n")
    file = tmp_path / "p.predictions.jsonl"
    file.write_bytes(data)
    assert (verify._plain_columns(data) is not None) == fast
    expected = outcome(lambda: ("", columns_of(read_predictions(file))))
    if expected[0] != "returned":  # refused (or raised) as read_predictions does
        assert outcome(lambda: verify.prediction_columns(file, data)) == expected
        return
    expected = expected[1]
    columns, read_fast = verify.prediction_columns(file, data)
    if fast:  # the ranked classes as the metrics take them: an int64 array of the same values
        for name in ("top5", "top5_config"):
            assert columns[name].dtype == np.int64 and columns[name].tolist() == expected[name]
            columns[name] = expected[name]
    assert read_fast == fast and columns == expected
    assert all(type(a) is type(b) for k in columns for a, b in zip(columns[k], expected[k]))
