"""Inputs from strangers never crash us: whatever bytes a results file, a predictions file, a reviewer's verdict
file, a recipe, a review folder's index, a model repo's `.eval_results` file or its model card hold, the reader
gives a valid object or the project's own error (an ImageNetTCError) naming the file and the field or line; never
another exception, never a long wait.

Property-based (hypothesis), on arbitrary bytes and, more usefully, on a valid file with fields deleted or replaced
by values of other types (huge numbers, NaN, nested junk, long and odd strings), damaged bytes (truncated, not
UTF-8, a BOM, deep nesting) and, for YAML, aliases. Deterministic: derandomized, no example database. Sizes are
bounded and every example has a deadline. The crashes these properties found are pinned by the plain regression
tests at the end of the file, one per input.
"""

from __future__ import annotations

import copy
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from builder.planning.recipes import RECIPES_DIR, Recipe, load_recipe
from builder.review.folder import ReviewError, RowFolder, open_folder
from builder.review.verdicts import ANSWERS, append_verdict, latest, load_reviews, read_verdicts
from imagenet_textcorrupt.errors import DataFileError, ImageNetTCError
from imagenet_textcorrupt.results import (CHECKED, NO_PREDICTIONS, Results, ResultsError, load_results,
                                          predictions_path, read_predictions, verify_results, write_predictions)
from imagenet_textcorrupt.results.format import REQUIRED
from imagenet_textcorrupt.submission import (EVAL_RESULTS_FILE, SubmissionError, card_problem, merged_eval_results,
                                             merged_model_card)
from results_factory import make_records, write_results_file

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")  # hypothesis, of the fixtures
FUZZ = settings(max_examples=120, derandomize=True, database=None, deadline=timedelta(seconds=3),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ----------------------------------------------------------------------------------------------- strategies
NASTY_NUMBERS = [math.nan, math.inf, -math.inf, 2 ** 63, -(2 ** 63) - 1, 2 ** 64, 10 ** 400, -(10 ** 400), 1e308,
                 5e-324, -0.0, 0, -1, 1000]
NASTY_TEXT = ["", " ", "\ufeff", "\u2028", "\x85", "\x00", "é", "x" * 5000, "../../etc/passwd", "/etc/passwd", "NaN",
              "same", "all", "null", "{", "\n"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 6, 10 ** 6), st.sampled_from(NASTY_NUMBERS),
                    st.floats(), st.text(max_size=20), st.sampled_from(NASTY_TEXT))
junk = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids,
                                                                                        max_size=4), max_leaves=10)
DELETE = object()  # a mutation that deletes the field


def json_paths(doc: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path to a value in a JSON or YAML document, the root first."""
    yield prefix
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield from json_paths(value, prefix + (key,))


def mutate(doc: Any, path: tuple, value: Any) -> Any:
    """A copy of `doc` with the value at `path` replaced by `value` (or deleted, for DELETE)."""
    if not path:
        return None if value is DELETE else copy.deepcopy(value)
    doc = copy.deepcopy(doc)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(value)
    return doc


@st.composite
def mutations(draw: st.DrawFn, doc: Any, values: st.SearchStrategy = junk) -> tuple[Any, list[tuple]]:
    """`doc` with one to three of its values deleted or replaced; returns it with the paths changed."""
    changed = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(json_paths(doc))))
        doc = mutate(doc, path, draw(st.just(DELETE) | values) if path else draw(values))
        changed.append(path)
        if not isinstance(doc, (dict, list)):
            break
    return doc, changed


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """The bytes of a file, whole or damaged: cut short, a byte changed, not UTF-8, a BOM, nested very deep."""
    kind = draw(st.sampled_from(["whole", "whole", "truncated", "byte", "latin-1", "bom", "deep", "bytes"]))
    at = draw(st.integers(0, max(len(data) - 1, 0)))
    if kind == "truncated":
        return data[:at]
    if kind == "byte":
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    if kind == "latin-1":
        return data[:at] + b"\xe9\xff" + data[at:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "deep":
        depth = draw(st.sampled_from([50, 900, 5000, 100_000]))
        return b"[" * depth + data + b"]" * depth
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    return data


def dumped(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A valid results file and its predictions (as tests/results_factory.py writes them), read once."""
    path = write_results_file(tmp_path_factory.mktemp("valid"))
    return {"path": path, "results": load_results(path), "doc": json.loads(path.read_text()),
            "lines": predictions_path(path).read_text().splitlines()}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def estimates(results: Results) -> Iterator[Any]:
    m = results.metrics
    for block in (m.clean, m.edited, m.imagenet_c, *m.by_domain.values(), *m.by_severity.values()):
        yield from block.values()


def beside(doc: dict[str, Any], stem: str) -> dict[str, Any]:
    """A results document that names `stem`.predictions.jsonl as its predictions, with no digest: verification
    then recomputes the metrics from whatever that file holds."""
    return mutate(doc, ("predictions",), {"file": f"{stem}.predictions.jsonl", "sha256": None, "rows": 100})


def assert_results_outcome(path: Path) -> Results | ResultsError:
    """load_results gives typed results whose figures are finite floats (or None), or a ResultsError that starts
    with the file's path and lists its problems; anything else fails the test."""
    try:
        results = load_results(path)
    except ResultsError as error:
        assert str(error).startswith(f"{path}: ") and error.source == str(path)
        assert error.problems and all(isinstance(p, str) and p for p in error.problems)
        return error
    assert isinstance(results, Results)
    assert isinstance(results.dataset.rows, int) and isinstance(results.model.id, str)
    assert results.metrics.edited["top1"].value is not None
    for estimate in estimates(results):
        for figure in (estimate.value, estimate.ci_low, estimate.ci_high):
            assert figure is None or isinstance(figure, float) and math.isfinite(figure)
    return results


# -------------------------------------------------------------------------------------------- results files
@FUZZ
@given(data=st.binary(max_size=500))
def test_any_bytes_as_a_results_file(scratch, data):
    assert isinstance(assert_results_outcome(write(scratch / "bytes.json", data)), ResultsError)


@FUZZ
@given(st.data())
def test_a_results_file_with_fields_deleted_or_retyped(scratch, valid, data):
    doc, _ = data.draw(mutations(valid["doc"]))
    assert_results_outcome(write(scratch / "mutated.json", data.draw(damaged(dumped(doc)))))


def _of_kind(value: Any, kind: str) -> bool:
    """Whether `value` is a valid value of a REQUIRED field's kind (written here apart from format.py)."""
    if kind == "int":
        return type(value) is int and -(2 ** 63) <= value < 2 ** 63
    if kind == "number":
        return type(value) is float and math.isfinite(value) or type(value) is int and abs(value) <= sys.float_info.max
    return type(value) is {"str": str, "bool": bool, "dict": dict}[kind]


@FUZZ
@given(field=st.sampled_from(REQUIRED), value=st.just(DELETE) | junk)
def test_a_required_field_missing_or_of_another_kind_is_named(scratch, valid, field, value):
    dotted, kind = field
    assume(value is DELETE or not _of_kind(value, kind))
    path = write(scratch / "required.json", dumped(mutate(valid["doc"], tuple(dotted.split(".")), value)))
    error = assert_results_outcome(path)
    assert isinstance(error, ResultsError) and any(dotted in problem for problem in error.problems), error


# --------------------------------------------------------------------------------------- predictions files
PREDICTION_PROBLEM = re.compile(r"(line \d+: .+|no predictions|not UTF-8 text .+)")


@st.composite
def damaged_predictions(draw: st.DrawFn, lines: list[str]) -> bytes:
    """A predictions file with records dropped, repeated or changed (one record, or one field in every record)."""
    records = [json.loads(line) for line in lines]
    kind = draw(st.sampled_from(["record", "record", "every record", "drop", "repeat", "junk line"]))
    at = draw(st.integers(0, len(records) - 1))
    field = draw(st.sampled_from(sorted(records[0])))
    value = draw(st.just(DELETE) | junk)
    if kind == "record":
        records[at] = mutate(records[at], (field,), value)
    elif kind == "every record":
        records = [mutate(r, (field,), value) for r in records]
    elif kind == "drop":
        del records[at]
    elif kind == "repeat":
        records.insert(at, records[at])
    text = [dumped(r) for r in records]
    if kind == "junk line":
        text.insert(at, draw(st.binary(max_size=40)).replace(b"\n", b""))
    return draw(damaged(b"\n".join(text) + b"\n"))


def assert_predictions_outcome(path: Path) -> list[dict[str, Any]] | None:
    try:
        records = read_predictions(path)
    except ResultsError as error:
        assert error.source == str(path) and len(error.problems) == 1, error
        assert PREDICTION_PROBLEM.fullmatch(error.problems[0]), error
        return None
    for record in records:
        assert all(isinstance(record[k], str) for k in ("id", "source_id", "domain"))
        assert all(type(record[k]) is int for k in ("label", "severity"))
        assert all(type(v) is int for k in ("top5", "top5_config") for v in record[k])
        assert all(type(v) in (int, float) and math.isfinite(v) for v in record["top5_probs"])
    return records


@FUZZ
@given(data=st.binary(max_size=500))
def test_any_bytes_as_a_predictions_file(scratch, data):
    assert_predictions_outcome(write(scratch / "bytes.predictions.jsonl", data))


@FUZZ
@given(st.data())
def test_a_predictions_file_with_records_changed(scratch, valid, data):
    assert_predictions_outcome(write(scratch / "changed.predictions.jsonl",
                                     data.draw(damaged_predictions(valid["lines"]))))


@FUZZ
@given(st.data())
def test_verification_against_changed_predictions(scratch, valid, data):
    """What the leaderboard and `submit` do with a results file: check it against its predictions, which every
    change here makes disagree with it (or fail to read)."""
    results = write(scratch / "verify" / "r.json", dumped(beside(valid["doc"], "r")))
    write(predictions_path(results), data.draw(damaged_predictions(valid["lines"])))
    try:
        _, status = verify_results(results)
    except ResultsError as error:
        assert error.source in (str(results), str(predictions_path(results))) and error.problems
        return
    assert status == CHECKED  # a change the metrics cannot see (a probability changed) leaves a valid file


@FUZZ
@given(texts=st.lists(st.text(max_size=12), min_size=3, max_size=3), at=st.integers(0, 99))
def test_predictions_read_back_as_written(scratch, texts, at):
    """Whatever text the id, group and template hold (U+2028, U+0085, a lone CR...), a written predictions file
    reads back as it was written."""
    records = make_records(0.8, 0.6)
    records[at] = {**records[at], "id": records[at]["id"] + texts[0], "group": texts[1], "template": texts[2]}
    path = scratch / "roundtrip.predictions.jsonl"
    write_predictions(path, records)
    assert read_predictions(path) == sorted(records, key=lambda r: r["id"])


# --------------------------------------------------------------------------------------------- verdict lines
KNOWN_IDS = {"a", "b", "sample-x-color-p000-s1"}
VALID_VERDICT = {"id": "a", "answer": "same", "time": "2026-12-01T00:00:00.000+00:00", "reviewer": "alice"}


@st.composite
def verdict_lines(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["valid", "changed", "changed", "bytes"]))
        record = {**VALID_VERDICT, "id": draw(st.sampled_from(sorted(KNOWN_IDS))),
                  "answer": draw(st.sampled_from(sorted(ANSWERS)))}
        if kind == "changed":
            record, _ = draw(mutations(record))
        lines.append(draw(st.binary(max_size=40)).replace(b"\n", b"") if kind == "bytes" else dumped(record))
    return draw(damaged(b"\n".join(lines) + draw(st.sampled_from([b"\n", b""]))))


@FUZZ
@given(data=verdict_lines(), known=st.sampled_from([KNOWN_IDS, None]))
def test_a_verdict_file_of_any_content(scratch, data, known):
    path = write(scratch / "reviews" / "alice.jsonl", data)
    try:
        records = read_verdicts(path, known_ids=known)
    except ReviewError as error:
        assert re.match(rf"{re.escape(str(path))}(, line \d+)?: .+", str(error)), error
        return
    for record in records:
        assert all(isinstance(record[k], str) for k in ("id", "answer", "time", "reviewer"))
        assert record["answer"] in ANSWERS and record["reviewer"] == "alice"
        assert known is None or record["id"] in known
    assert load_reviews(scratch, known) == {row: {"alice": answer} for row, answer in latest(records).items()}


@FUZZ
@given(row_ids=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=4),
       answers=st.lists(st.sampled_from(sorted(ANSWERS)), min_size=4, max_size=4))
def test_verdicts_read_back_as_appended(scratch, row_ids, answers):
    path = scratch / "roundtrip" / "bob.jsonl"
    path.unlink(missing_ok=True)
    for row_id, answer in zip(row_ids, answers):
        append_verdict(path, row_id, answer, "bob")
    assert [(r["id"], r["answer"]) for r in read_verdicts(path)] == list(zip(row_ids, answers))


# ---------------------------------------------------------------------------------------------------- recipes
SMOKE = yaml.safe_load((RECIPES_DIR / "smoke.yaml").read_text(encoding="utf-8"))
YAML_TOKENS = ["- ", ": ", "\n", "  ", "[", "]", "{", "}", ", ", "&a ", "*a", "&b ", "*b", "!!set ", "!!binary ",
               "!!python/object/apply:os.system ", "? ", "'", '"', "9" * 5000, "null", ".nan", "-.inf",
               "2026-01-01", "0x1F", "1_000", "190:20:30", "<<: *a", "x", "name", "dataset", "model-index", "---",
               "%YAML 1.1\n", "\t", "|\n", ">-\n", "\x00", "é"]
yaml_soup = st.lists(st.sampled_from(YAML_TOKENS), max_size=40).map("".join)


def alias_bomb(levels: int) -> str:
    """YAML whose every level holds ten aliases of the level below: a few hundred bytes, 10**levels values."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i + 1}: &a{i + 1} [" + ", ".join([f"*a{i}"] * 10) + "]" for i in range(levels)]
    return "\n".join(lines)


def with_bomb(text: str, key: str, levels: int) -> str:
    """A recipe whose editor params hold an alias bomb and whose `key` (top level) refers to it."""
    raw = yaml.safe_load(text)
    raw.pop(key, None)
    raw.setdefault("editor", {}).setdefault("params", {})["bomb"] = "BOMB"
    body = yaml.safe_dump(raw, sort_keys=False)
    nested = "\n".join("      " + line for line in alias_bomb(levels).splitlines())
    return body.replace("bomb: BOMB", "bomb:\n" + nested) + f"{key}: *a{levels}\n"


def assert_recipe_outcome(path: Path, changed: list[tuple]) -> Recipe | DataFileError:
    """A Recipe, or a DataFileError naming this file and, when one value was changed, that value's section."""
    try:
        return load_recipe(path)
    except DataFileError as error:
        assert error.file == str(path) and str(error).startswith(f"{path}: "), error
        if len(changed) == 1 and changed[0] and error.key:
            assert re.split(r"[.\[]", error.key)[0] == str(changed[0][0]), (changed, error)
        return error


@FUZZ
@given(st.data())
def test_a_recipe_with_values_deleted_or_retyped(scratch, data):
    doc, changed = data.draw(mutations(SMOKE))
    text = yaml.safe_dump(doc, allow_unicode=data.draw(st.booleans()))
    assert_recipe_outcome(write(scratch / "recipe.yaml", text.encode("utf-8", "surrogatepass")), changed)


@FUZZ
@given(data=st.one_of(st.binary(max_size=400), yaml_soup.map(lambda t: t.encode())))
def test_any_bytes_or_yaml_as_a_recipe(scratch, data):
    assert_recipe_outcome(write(scratch / "any.yaml", data), [])


@FUZZ
@given(key=st.sampled_from(["seed", "name", "severities", "qc", "imagenet_c"]), levels=st.integers(1, 8))
def test_a_recipe_with_an_alias_bomb_is_answered_at_once(scratch, key, levels):
    text = with_bomb((RECIPES_DIR / "smoke.yaml").read_text(encoding="utf-8"), key, levels)
    outcome = assert_recipe_outcome(write(scratch / "bomb.yaml", text.encode()), [])
    assert isinstance(outcome, DataFileError) and len(str(outcome)) < 2000


# ----------------------------------------------------------------------------------------- review folders
@st.composite
def folder_index(draw: st.DrawFn) -> tuple[str, bytes]:
    names = ["data/shard-00000.parquet", "data/shard-00001.parquet"]
    if draw(st.booleans()):
        doc = {"complete": True, "shards_total": 2, "shards": [{"shard": i, "file": n} for i, n in enumerate(names)]}
        index = "manifest.json"
    else:
        doc, index = {"version": "1.0.0", "configs": {"all": {"files": names, "rows": 10}}}, "release.json"
    doc, _ = draw(mutations(doc, junk | st.sampled_from(["/etc/passwd", "../outside.parquet", "data/../../x",
                                                          "data/shard-00001.parquet", "data"])))
    return index, draw(damaged(dumped(doc)))


@FUZZ
@given(index=folder_index())
def test_a_review_folder_index_of_any_content(scratch, index):
    root = scratch / "folder"
    for name in ("manifest.json", "release.json"):
        (root / name).unlink(missing_ok=True)
    for name in ("data/shard-00000.parquet", "data/shard-00001.parquet"):
        write(root / name, b"")
    write(root / index[0], index[1])
    try:
        folder = open_folder(root)
    except ReviewError as error:
        assert str(error).startswith(str(root)), error
        return
    assert isinstance(folder, RowFolder)
    assert all(f.resolve().is_relative_to(root.resolve()) and f.is_file() for f in folder.files)


# ---------------------------------------------------------------------- a model repo's .eval_results and card
@pytest.fixture(scope="module")
def ours(valid) -> dict[str, Any]:
    """Our results, and the entries and card a submission of them writes into an empty model repo."""
    results = valid["results"]
    card = merged_model_card(None, [results], "org/model")
    return {"results": results, "entries": yaml.safe_load(merged_eval_results(None, [results])),
            "header": yaml.safe_load(card.split("---")[1]), "card": card}


@st.composite
def eval_results_texts(draw: st.DrawFn, entries: list[dict]) -> str:
    kind = draw(st.sampled_from(["entries", "entries", "soup", "text"]))
    if kind == "entries":
        others = [{**copy.deepcopy(entries[0]), "dataset": {"id": "other/set", "task_id": "x"}}]
        doc, _ = draw(mutations(entries + others))
        return yaml.safe_dump(doc, allow_unicode=True)
    return draw(yaml_soup if kind == "soup" else st.text(max_size=300))


@FUZZ
@given(st.data())
def test_an_eval_results_file_of_any_content(ours, data):
    text = data.draw(eval_results_texts(ours["entries"]))
    try:
        merged = merged_eval_results(text, [ours["results"]])
    except SubmissionError as error:
        assert str(error).startswith(EVAL_RESULTS_FILE), error
        return
    entries = yaml.safe_load(merged)
    mine = ours["entries"][0]
    assert [e for e in entries if isinstance(e, dict) and e.get("dataset") == mine["dataset"]] == [mine]


@st.composite
def model_cards(draw: st.DrawFn, header: dict) -> str:
    kind = draw(st.sampled_from(["header", "header", "header", "soup", "text"]))
    if kind == "header":
        doc, _ = draw(mutations({**header, "license": "mit", "tags": ["a"]}))
        top = yaml.safe_dump(doc, allow_unicode=True)
    else:
        top = draw(yaml_soup if kind == "soup" else st.text(max_size=200))
    body = draw(st.sampled_from(["\n# model\n", "", "---\n", "\n---\nmore"]))
    return draw(st.sampled_from(["---\n", "---", "--- \n", ""])) + top + draw(st.sampled_from(["---\n", "\n---\n",
                                                                                                "..."])) + body


@FUZZ
@given(st.data())
def test_a_model_card_of_any_content(ours, data):
    """Either the card is left as it is, with the reason, or ours is merged into a card that huggingface_hub reads
    back with our two entries (and merging again changes nothing)."""
    from huggingface_hub import ModelCard

    text = data.draw(model_cards(ours["header"]))
    problem = card_problem(text)
    if problem is not None:
        assert isinstance(problem, str) and problem
        return
    merged = merged_model_card(text, [ours["results"]], "org/model")
    assert card_problem(merged) is None
    expected = {(e.metric_name, e.metric_value) for e in ModelCard(ours["card"]).data.eval_results}
    names = {name for name, _ in expected}
    mine = [(e.metric_name, e.metric_value) for e in ModelCard(merged).data.eval_results
            if e.dataset_type == "org/imagenet-tc" and e.dataset_config == "all" and e.metric_name in names]
    assert len(mine) == len(expected) and set(mine) == expected
    assert merged_model_card(merged, [ours["results"]], "org/model") == merged


# ======================================================================================= regression tests
# Each crash the properties above found, with its exact input; the comment says what the reader raised before.
def _raises(error: type[ImageNetTCError], match: str, call: Callable[[], Any]) -> None:
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("name, data, message", [
    ("folder", None, "not a regular file"),  # IsADirectoryError
    ("digits.json", b'{"format": "imagenet-tc-results", "x": ' + b"9" * 5000 + b"}",
     r"not valid JSON \(Exceeds the limit \(4300 digits\)"),  # ValueError from int()
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, r"not valid JSON \(nested too deeply\)"),  # RecursionError
])
def test_results_file_regressions(tmp_path, name, data, message):
    path = tmp_path / name
    path.mkdir() if data is None else path.write_bytes(data)
    _raises(ResultsError, f"^{re.escape(str(path))}: {message}", lambda: load_results(path))


@pytest.mark.parametrize("where, value, message", [
    # OverflowError: int too large to convert to float (in Estimate.from_json, and float() of an error cell)
    (("metrics", "clean", "top1", "value"), 10 ** 400, "metrics.clean.top1.value is 1000.*, expected a number"),
    (("metrics", "errors", "drawing", "1"), 10 ** 400, r"metrics.errors.drawing.1 is 1000.*, expected a number"),
    # MemoryError in numpy (or hours of resampling) when verify_results recomputes the metrics
    (("metrics", "bootstrap", "resamples"), 10 ** 12,
     r"metrics.bootstrap.resamples is 1000000000000, expected an integer >= 0 and <= 100000"),
    # accepted, then OverflowError in the leaderboard's parameters / 1e6
    (("model", "parameters"), 10 ** 400, "model.parameters is 1000.*, expected a 64-bit integer"),
])
def test_results_number_regressions(tmp_path, valid, where, value, message):
    path = write(tmp_path / "r.json", dumped(mutate(valid["doc"], where, value)))
    _raises(ResultsError, message, lambda: verify_results(path))


@pytest.mark.parametrize("line, message", [
    (None, "not a regular file"),  # IsADirectoryError
    ('{"id": ' + "9" * 5000 + "}", r"line 1: not valid JSON \(Exceeds the limit"),  # ValueError
    ("[" * 100_000 + "]" * 100_000, r"line 1: not valid JSON \(nested too deeply\)"),  # RecursionError
])
def test_predictions_file_regressions(tmp_path, line, message):
    path = tmp_path / "p.predictions.jsonl"
    path.mkdir() if line is None else path.write_text(line + "\n")
    _raises(ResultsError, f"^{re.escape(str(path))}: {message}", lambda: read_predictions(path))


def test_a_template_with_a_line_separator_reads_back(tmp_path):
    """U+2028 in a template (written raw by ensure_ascii=False) was read as two lines: "not JSON", a false
    refusal of a valid file."""
    records = make_records(0.8, 0.6)
    records[1]["template"] = "drawing\u2028template"
    write_predictions(tmp_path / "p.predictions.jsonl", records)
    assert read_predictions(tmp_path / "p.predictions.jsonl")[1]["template"] == "drawing\u2028template"


@pytest.mark.parametrize("field, value, message", [
    ("severity", lambda r: [r["severity"]], r"line 1: severity is \[0\], expected integer"),  # TypeError in compute
    ("id", lambda r: [r["id"]], r"line 1: id is \['src000'\], expected text"),  # accepted: an id that is a list
    ("top5_probs", lambda r: "x", "line 1: top5_probs is 'x', expected list of numbers"),  # accepted
])
def test_verify_regressions(tmp_path, valid, field, value, message):
    results = write(tmp_path / "r.json", dumped(beside(valid["doc"], "r")))
    assert verify_results(results)[1] == NO_PREDICTIONS
    records = [json.loads(line) for line in valid["lines"]]
    write(predictions_path(results), b"\n".join(dumped({**r, field: value(r)}) for r in records) + b"\n")
    _raises(ResultsError, message, lambda: verify_results(results))


@pytest.mark.parametrize("data, known, message", [
    (None, None, "not a regular file"),  # IsADirectoryError
    (b'{"id": "\xff"}\n', None, r"line 1: not UTF-8 text"),  # UnicodeDecodeError
    (b'{"id": "a", "answer": ["same"], "time": "t", "reviewer": "alice"}\n', None,
     r"line 1: answer is \['same'\], expected text"),  # TypeError: unhashable type: 'list'
    (b'{"id": ["a"], "answer": "same", "time": "t", "reviewer": "alice"}\n', {"a"},
     r"line 1: id is \['a'\], expected text"),  # TypeError: unhashable type: 'list'
    (b'{"id": ' + b"9" * 5000 + b"}\n", None, r"line 1: not a JSON record \(Exceeds the limit"),  # ValueError
    (b"[" * 100_000 + b"]" * 100_000 + b"\n", None, r"line 1: not a JSON record \(nested too deeply\)"),
])
def test_verdict_regressions(tmp_path, data, known, message):
    path = tmp_path / "reviews" / "alice.jsonl"
    path.mkdir(parents=True) if data is None else write(path, data)
    _raises(ReviewError, f"^{re.escape(str(path))}(, )?{message}" if data else f"{re.escape(str(path))}: {message}",
            lambda: read_verdicts(path, known_ids=known))


@pytest.mark.parametrize("data, message", [
    (None, "not a regular file"),  # IsADirectoryError
    (b"name: \xff\n", r"not UTF-8 text \(invalid start byte at byte 6\)"),  # UnicodeDecodeError
    (b"seed: " + b"9" * 5000 + b"\n", r"not valid YAML: Exceeds the limit \(4300 digits\)"),  # ValueError
    (b"[" * 5000 + b"]" * 5000, "not valid YAML: nested too deeply"),  # RecursionError
])
def test_recipe_regressions(tmp_path, data, message):
    path = tmp_path / "r.yaml"
    path.mkdir() if data is None else path.write_bytes(data)
    _raises(DataFileError, f"^{re.escape(str(path))}: {message}", lambda: load_recipe(path))


def test_a_recipe_alias_bomb_regression(tmp_path):
    """`seed: *a7`, seven levels of aliases below it: a 522 MB error message built in 7 s (eight levels: 5 GB); an
    error now quotes a few values of what it names. And editor.params of 10**7 values (counting each use of an
    alias), which Recipe.to_dict would copy one by one, is refused."""
    smoke = (RECIPES_DIR / "smoke.yaml").read_text(encoding="utf-8")
    path = write(tmp_path / "r.yaml", with_bomb(smoke, "seed", 7).encode())
    with pytest.raises(DataFileError, match=r": seed: expected int, got \[\[\[\.\.\.\], ") as error:
        load_recipe(path)
    assert len(str(error.value)) < 500
    path = write(tmp_path / "r.yaml", with_bomb(smoke, "imagenet_c", 7).encode())
    _raises(DataFileError, r": editor.params: holds more than 10000 values", lambda: load_recipe(path))


@pytest.mark.parametrize("text, message", [
    ("- dataset: {id: [1], task_id: all}\n", None),  # TypeError: unhashable type: 'list'
    ("[" * 5000 + "]" * 5000, r"not valid YAML \(nested too deeply\)"),  # RecursionError
    ("- " + "9" * 5000, r"not valid YAML \(Exceeds the limit"),  # ValueError
])
def test_eval_results_regressions(ours, text, message):
    if message is None:
        assert yaml.safe_load(merged_eval_results(text, [ours["results"]]))[0] == {"dataset": {"id": [1],
                                                                                               "task_id": "all"}}
    else:
        _raises(SubmissionError, f"^{re.escape(EVAL_RESULTS_FILE)} in the model repo is {message}",
                lambda: merged_eval_results(text, [ours["results"]]))


@pytest.mark.parametrize("header, problem", [
    ("a: " + "[" * 5000 + "]" * 5000, r"its YAML header is not valid YAML \(nested too deeply\)"),  # RecursionError
    ("a: " + "9" * 5000, r"its YAML header is not valid YAML \(Exceeds the limit"),  # ValueError
    # TypeError: unhashable type: 'list', in merged_model_card (card_problem said the card was fine)
    (("model-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: n, config: [1]}\n"
      "    metrics: [{type: accuracy, value: 1}]"),
     r"model-index\[0\].results\[0\].dataset.config is a list or mapping, not a single value"),
    (("model-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: {type: d, name: n}\n"
      "    metrics: [{type: accuracy, value: 1, name: {a: 1}}]"),
     r"model-index\[0\].results\[0\].metrics\[0\].name is a list or mapping, not a single value"),
])
def test_model_card_regressions(header, problem):
    assert re.fullmatch(problem + ".*", card_problem(f"---\n{header}\n---\n# m\n"))


def test_a_model_card_alias_bomb_is_refused_at_once():
    """model-index results repeated by aliases: huggingface_hub would build every metric of every repeat."""
    lines = ["x: &m {type: accuracy, value: 1}", "y: &ms [" + ", ".join(["*m"] * 200) + "]",
             "z: &r {task: {type: t}, dataset: {type: d, name: n}, metrics: *ms}",
             "w: &rs [" + ", ".join(["*r"] * 200) + "]", "model-index: [{name: m, results: *rs}]"]
    assert card_problem("---\n" + "\n".join(lines) + "\n---\n") == "model-index holds more than 10000 metrics"


def test_a_model_repo_file_that_is_not_utf8_is_named(tmp_path):
    """UnicodeDecodeError, which `prepare` reported as "cannot reach the Hub: UnicodeDecodeError"."""
    from imagenet_textcorrupt.submission import _read_remote

    class Api:
        endpoint = "https://hub.example"

        def hf_hub_download(self, repo_id: str, path: str, **kwargs: Any) -> str:
            return str(write(tmp_path / "README.md", b"---\nlicense: \xff\n---\n"))

    _raises(SubmissionError, r"^README.md in the model repository org/model is not UTF-8 text",
            lambda: _read_remote(Api(), "org/model", "README.md"))


@pytest.mark.parametrize("index, data, message", [
    ("manifest.json", b"{", r"manifest.json: not valid JSON"),  # JSONDecodeError
    ("manifest.json", b"[]", r"manifest.json: \(top level\) is \[\], expected an object"),  # AttributeError
    ("manifest.json", b'{"complete": true, "shards": [{"shard": 0}]}',
     r"manifest.json: shards\[0\].file is None, expected the name of a file inside"),  # KeyError
    ("manifest.json", b'{"complete": true, "shards": [{"file": "/etc/hostname"}]}',
     r"manifest.json: shards\[0\].file is '/etc/hostname', expected the name of a file inside"),  # one outside
    ("release.json", b'{"configs": {"all": {"files": ["../../x.parquet"]}}}',
     r"release.json: configs.all.files\[0\] is '../../x.parquet', expected the name of a file inside"),  # outside
    ("release.json", b'{"configs": []}', r"release.json: configs is \[\], expected an object"),  # TypeError
])
def test_review_folder_regressions(tmp_path, index, data, message):
    write(tmp_path / index, data)
    _raises(ReviewError, f"^{re.escape(str(tmp_path))}/{message}", lambda: open_folder(tmp_path))
