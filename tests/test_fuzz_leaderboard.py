"""A leaderboard of 50 submissions, one of them malformed: whatever is wrong with it (each way the reader fuzzing
in tests/test_fuzz_readers.py found, and the obvious ones), the build ranks the 49 others and refuses that one
with a reason that names the problem; the written tables come out too.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imagenet_textcorrupt.leaderboard import build, to_csv, to_json, to_markdown
from imagenet_textcorrupt.results import metrics_from_predictions, predictions_path, read_predictions
from results_factory import write_results_file

GOOD = 49
BAD = "timm_bad-all-2026-11-01T00_00_00Z.json"  # the file name write_results_file gives model timm:bad


@pytest.fixture(scope="module")
def good_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """49 valid submissions of distinct models (each with its predictions), written once."""
    folder = tmp_path_factory.mktemp("good") / "results"
    for i in range(GOOD):
        write_results_file(folder, f"timm:model{i:02d}", clean=0.5 + i / 200, edited=0.3 + i / 200, seed=i)
    return folder


# ------------------------------------------------------------------------------------------- the malformations
def _doc(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _save(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc))


def _results(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    """A malformation of the results JSON (its predictions left as they are)."""
    def apply(path: Path) -> None:
        doc = _doc(path)
        change(doc)
        _save(path, doc)
    return apply


def _set(*where: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in where[:-1]:
            target = target[key]
        target[where[-1]] = value
    return change


def _predictions(change: Callable[[list[bytes]], list[bytes]], digest: bool = False) -> Callable[[Path], None]:
    """A malformation of the predictions file's lines; with `digest` the results record the new file's sha256 (so
    that the problem found is the lines', not the digest's)."""
    def apply(path: Path) -> None:
        file = predictions_path(path)
        file.write_bytes(b"\n".join(change(file.read_bytes().splitlines())) + b"\n")
        if digest:
            _results(_set("predictions", "sha256", value=hashlib.sha256(file.read_bytes()).hexdigest()))(path)
    return apply


def _field_in_every_row(field: str, value: Callable[[Any], Any]) -> Callable[[list[bytes]], list[bytes]]:
    def change(lines: list[bytes]) -> list[bytes]:
        return [json.dumps({**(record := json.loads(line)), field: value(record[field])}, ensure_ascii=False).encode()
                for line in lines]
    return change


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _not_utf8(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b'"timm:bad"', b'"timm:b\xe4d"'))


def _digits(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b'"parameters": 25557032', b'"parameters": ' + b"9" * 5000))


def _deep(path: Path) -> None:
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)


def _results_is_a_folder(path: Path) -> None:
    predictions_path(path).unlink()
    path.unlink()
    path.mkdir()


def _predictions_are_a_folder(path: Path) -> None:
    predictions_path(path).unlink()
    predictions_path(path).mkdir()


def _link_outside(which: Callable[[Path], Path], target: bytes | None) -> Callable[[Path], None]:
    """The results or predictions file replaced by a symbolic link to a file outside the folder (None: to nothing)."""
    def apply(path: Path) -> None:
        outside = path.parent.parent / "outside" / "elsewhere.txt"
        outside.parent.mkdir(exist_ok=True)
        if target is not None:
            outside.write_bytes(target)
        which(path).unlink()
        which(path).symlink_to(outside)
    return apply


def _consistent_but_partial(path: Path) -> None:
    """Half the rows, re-scored consistently: a valid file of another size than everyone else's."""
    file = predictions_path(path)
    file.write_text("\n".join(file.read_text().splitlines()[:50]) + "\n")
    doc = _doc(path)
    doc["dataset"]["rows"] = doc["predictions"]["rows"] = 50
    doc["predictions"]["sha256"] = hashlib.sha256(file.read_bytes()).hexdigest()
    doc["metrics"] = metrics_from_predictions(read_predictions(file), resamples=100)
    _save(path, doc)


def _forged(doc: dict[str, Any]) -> None:
    doc["metrics"]["edited"]["top1"]["value"] = 0.99


NOT_RESULTS = 'not an ImageNet-TC results file (no "format": "imagenet-tc-results")'
UNVERIFIED = "not verified: no predictions file"
# (id, malformation, verified_only, the text the refusal's reason must hold)
CASES: list[tuple[str, Callable[[Path], None], bool, str]] = [
    # the results file
    ("truncated JSON", _truncated, False, NOT_RESULTS),
    ("results not UTF-8", _not_utf8, False, NOT_RESULTS),
    ("results a 5000-digit integer", _digits, False, NOT_RESULTS),
    ("results a folder", _results_is_a_folder, False, NOT_RESULTS),
    ("results a link outside the folder", _link_outside(lambda p: p, b"hello"), False, NOT_RESULTS),
    ("forged metric", _results(_forged), False,
     ("the metrics do not match those recomputed from timm_bad-all-2026-11-01T00_00_00Z.predictions.jsonl: "
      "edited.top1.value: claimed 0.99, recomputed")),
    ("wrong type", _results(_set("dataset", "rows", value="100")), False,
     "dataset.rows is '100', expected an integer"),
    ("a bool for an integer", _results(_set("run", "limit", value=True)), False,
     "run.limit is True, expected an integer"),
    ("missing field", _results(lambda d: d["model"].pop("id")), False, "missing model.id"),
    ("NaN", _results(_set("metrics", "clean", "top1", "value", value=float("nan"))), False,
     "metrics.clean.top1.value is not a finite number"),
    ("newer format", _results(_set("format_version", value=2)), False,
     "format_version 2 is newer than this tool reads (1)"),
    # numbers the reader took and something later choked on (OverflowError, MemoryError)
    ("an integer too large for a float", _results(_set("metrics", "clean", "top1", "value", value=10 ** 400)),
     False, "metrics.clean.top1.value is 1000"),
    ("an error cell too large", _results(_set("metrics", "errors", "drawing", "1", value=-(10 ** 400))), False,
     "metrics.errors.drawing.1 is -1000"),
    ("parameters beyond 64 bits", _results(_set("model", "parameters", value=10 ** 400)), False,
     "model.parameters is 1000"),
    ("a trillion resamples", _results(_set("metrics", "bootstrap", "resamples", value=10 ** 12)), False,
     "metrics.bootstrap.resamples is 1000000000000, expected an integer >= 0 and <= 100000"),
    # the predictions file
    ("predictions missing rows", _predictions(lambda lines: lines[:-5]), False,
     "timm_bad-all-2026-11-01T00_00_00Z.predictions.jsonl has 95 predictions for 100 dataset rows"),
    ("predictions another digest", _predictions(lambda lines: lines[::-1]), False,
     "timm_bad-all-2026-11-01T00_00_00Z.predictions.jsonl has sha256"),
    ("predictions not UTF-8", _predictions(lambda lines: [b"\xff\xfe"] + lines), False, "not UTF-8 text"),
    ("predictions a line not JSON", _predictions(lambda lines: lines[:3] + [b"{oops"] + lines[3:], True), False,
     "line 4: not valid JSON"),
    ("predictions a row missing a field", _predictions(
        lambda lines: [json.dumps({k: v for k, v in json.loads(lines[0]).items() if k != "top5"}).encode()]
        + lines[1:], True), False, "line 1: missing top5"),
    ("predictions a list for a severity", _predictions(_field_in_every_row("severity", lambda v: [v]), True), False,
     "line 1: severity is [0], expected integer"),
    ("predictions a string for a label", _predictions(_field_in_every_row("label", str), True), False,
     "expected integer"),
    ("predictions an id that is a list", _predictions(_field_in_every_row("id", lambda v: [v]), True), False,
     "expected text"),
    ("predictions a 5000-digit label", _predictions(
        lambda lines: [lines[0].replace(b'"label": ', b'"label": ' + b"9" * 5000 + b", \"x\": ")] + lines[1:], True),
     False, "line 1: not valid JSON (Exceeds the limit (4300 digits)"),
    ("predictions nested too deeply", _predictions(lambda lines: [b"[" * 100_000 + b"]" * 100_000] + lines, True),
     False, "line 1: not valid JSON (nested too deeply)"),
    ("predictions a link outside the folder", _link_outside(predictions_path, b"root:x:0:0\n"), False,
     "line 1: not valid JSON"),
    ("a consistent partial submission", _consistent_but_partial, False,
     "it covers 50 rows of config all; the other results on this revision cover 100"),
    ("random weights", _results(_set("model", "pretrained", value=False)), False,
     "the model has random weights (--no-pretrained)"),
    # no predictions to check: ranked as unverified by default, refused by a leaderboard of verified entries
    ("predictions a folder", _predictions_are_a_folder, True, UNVERIFIED),
    ("predictions a dangling link", _link_outside(predictions_path, None), True, UNVERIFIED),
    ("predictions named outside the folder", _results(_set("predictions", "file", value="../../etc/passwd")), True,
     UNVERIFIED),
]


def _board_of_fifty(good_folder: Path, tmp_path: Path, malform: Callable[[Path], None], verified_only: bool) -> Any:
    folder = tmp_path / "results"
    shutil.copytree(good_folder, folder)
    malform(write_results_file(folder, "timm:bad", clean=0.9, edited=0.9, seed=99))
    return build(str(folder), verified_only=verified_only)


@pytest.mark.parametrize("malform, verified_only, reason", [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_one_malformed_submission_of_fifty_is_refused_with_its_reason(good_folder, tmp_path, malform, verified_only,
                                                                      reason):
    board = _board_of_fifty(good_folder, tmp_path, malform, verified_only)
    assert len(board.sections) == 1 and len(board.sections[0]["overall"]) == GOOD
    assert {row["model"] for row in board.sections[0]["overall"]} == {f"timm:model{i:02d}" for i in range(GOOD)}
    assert [r["file"] for r in board.refused] == [BAD], board.refused
    assert reason in " ".join(board.refused[0]["problems"]), board.refused[0]
    assert BAD in to_markdown(board) and to_csv(board).count("\n") == GOOD + 1
    json.dumps(to_json(board), allow_nan=False)  # what leaderboard.json holds is JSON


def test_a_results_file_nested_too_deeply(good_folder, tmp_path):
    board = _board_of_fifty(good_folder, tmp_path, _deep, False)
    assert len(board.sections[0]["overall"]) == GOOD and [r["file"] for r in board.refused] == [BAD]


def test_a_template_with_a_line_separator_is_ranked(good_folder, tmp_path):
    """Not a malformation: a template holding U+2028 (written raw) was read as two lines and the submission
    refused as "not JSON"; now all fifty are ranked and verified."""
    def template(path: Path) -> None:
        _predictions(_field_in_every_row("template", lambda t: t + "\u2028" if t else t), True)(path)
        doc = _doc(path)
        doc["metrics"] = metrics_from_predictions(read_predictions(predictions_path(path)), resamples=100)
        _save(path, doc)

    board = _board_of_fifty(good_folder, tmp_path, template, True)
    assert len(board.sections[0]["overall"]) == GOOD + 1 and board.refused == []
    assert all(row["verified"] for row in board.sections[0]["overall"])


def test_the_fifty_are_ranked_when_none_is_malformed(good_folder, tmp_path):
    board = _board_of_fifty(good_folder, tmp_path, lambda path: None, True)
    assert len(board.sections[0]["overall"]) == GOOD + 1 and board.refused == []
    assert os.path.isfile(tmp_path / "results" / BAD)
