"""The review's files: the stratified seeded sample every reviewer sees (allocation, determinism, nesting, its
record in reviews/sample.json) and the verdicts appended durably to reviews/<reviewer>.jsonl (the latest answer
wins, a torn last line is dropped, bad lines are named)."""

from __future__ import annotations

import json

import pytest

from builder.review.folder import ReviewError
from builder.review.sample import allocate, draw, load_or_draw, sample_key
from builder.review.verdicts import (append_verdict, check_reviewer, latest, load_reviews, read_verdicts,
                                     verdict_file)


def _rows(spec: dict[tuple[str, int, bool], int]) -> list[tuple[str, tuple[str, int, bool]]]:
    return [(f"{d}-{s}-{p}-{i}", (d, s, p)) for (d, s, p), n in spec.items() for i in range(n)]


# ------------------------------------------------------------------------------------------------------ sample
def test_allocation_is_equal_capped_and_nested():
    sizes = {("color", 1, False): 2, ("color", 1, True): 50, ("drawing", 1, True): 30}
    assert allocate(sizes, 10) == {("color", 1, False): 2, ("color", 1, True): 4, ("drawing", 1, True): 4}
    assert allocate(sizes, 11) == {("color", 1, False): 2, ("color", 1, True): 5, ("drawing", 1, True): 4}
    assert allocate(sizes, 1000) == sizes  # everything, no more
    previous = allocate(sizes, 0)
    for size in range(1, 83):
        now = allocate(sizes, size)
        assert sum(now.values()) == size and all(now[s] >= previous[s] for s in sizes)
        previous = now


def test_draw_is_seeded_stratified_nested_and_order_free():
    rows = _rows({("color", 1, True): 40, ("color", 1, False): 3, ("weather", 3, True): 40})
    sample = draw(rows, 12, seed=7)
    assert len(sample.ids) == 12 and len(set(sample.ids)) == 12
    assert sample.strata == {("color", 1, False): (3, 3), ("color", 1, True): (40, 5), ("weather", 3, True): (40, 4)}
    assert draw(list(reversed(rows)), 12, seed=7).ids == sample.ids  # file order does not matter
    assert draw(rows, 12, seed=8).ids != sample.ids
    assert set(draw(rows, 30, seed=7).ids) >= set(sample.ids)  # a larger sample keeps the smaller one's rows
    assert list(sample.ids) == sorted(sample.ids, key=lambda i: sample_key(7, i))  # strata interleave
    # within a stratum the rows with the smallest keys are taken
    color = sorted((i for i, s in rows if s == ("color", 1, True)), key=lambda i: sample_key(7, i))
    assert {i for i in sample.ids if i.startswith("color-1-True")} == set(color[:5])


def test_draw_refuses_nothing_to_review():
    with pytest.raises(ReviewError, match=r"^there are no text-guided edits to review \(only originals or ImageNet-C "
                                          r"rows\)$"):
        draw([], 5)
    with pytest.raises(ReviewError, match="--sample must be at least 1"):
        draw(_rows({("color", 1, True): 3}), 0)


def test_sample_file_is_reused_and_redrawn(tmp_path):
    rows = _rows({("color", 1, True): 20, ("drawing", 2, False): 20})
    first, note = load_or_draw(tmp_path, rows, 6, 3)
    assert note == f"drew a sample of 6 rows (seed 3) into {tmp_path / 'sample.json'}"
    assert first.ids == draw(rows, 6, 3).ids != draw(rows, 6, 0).ids
    text = (tmp_path / "sample.json").read_text()
    assert text.startswith('{\n "seed": 3,\n "size": 6,\n "ids": [\n')  # one id per line: diffs stay readable
    assert json.loads(text) == {"seed": 3, "size": 6, "ids": list(first.ids), "strata": [
        {"domain": "color", "severity": 1, "passed_qc": True, "rows": 20, "drawn": 3},
        {"domain": "drawing", "severity": 2, "passed_qc": False, "rows": 20, "drawn": 3}]}
    again, note = load_or_draw(tmp_path, rows, None, None)  # the recorded size and seed
    assert again.ids == first.ids and note == f"the sample in {tmp_path / 'sample.json'}: 6 rows, seed 3"
    bigger, note = load_or_draw(tmp_path, rows, 10, None)  # a new size keeps the seed: every earlier row stays
    assert note.endswith("10 rows, seed 3 (was 6 rows, seed 3; 6 of them are still in it)")
    assert set(bigger.ids) > set(first.ids) and load_or_draw(tmp_path, rows, 10, 3)[0].ids == bigger.ids
    grown, note = load_or_draw(tmp_path, rows, 10, 0)  # a new seed: another sample
    overlap = len(set(bigger.ids) & set(draw(rows, 10, 0).ids))
    assert note.endswith(f"10 rows, seed 0 (was 10 rows, seed 3; {overlap} of them are still in it)") and overlap < 10
    assert grown.ids == draw(rows, 10, 0).ids
    with pytest.raises(ReviewError, match=r"no longer give the sample recorded there \(the build changed since\); "
                                          "move the reviews folder away to start a new review$"):
        load_or_draw(tmp_path, [r for r in rows if r[0] != grown.ids[0]], None, None)
    fresh, note = load_or_draw(tmp_path / "fresh", rows, None, None)  # the defaults: 200 rows (all 40 here), seed 0
    assert (fresh.seed, fresh.size, len(fresh.ids)) == (0, 200, 40) and note.startswith("drew a sample of 40 rows (seed 0)")


def test_a_sample_of_one():
    rows = _rows({("color", 1, True): 3, ("weather", 2, True): 3})
    assert len(draw(rows, 1).ids) == 1


# ---------------------------------------------------------------------------------------------------- verdicts
def test_verdicts_append_and_the_latest_wins(tmp_path):
    path = verdict_file(tmp_path, "alice")
    assert path == tmp_path / "reviews" / "alice.jsonl"
    append_verdict(path, "a", "same", "alice")
    append_verdict(path, "b", "not", "alice")
    append_verdict(path, "a", "cant_tell", "alice")
    records = read_verdicts(path, known_ids={"a", "b"})
    assert [(r["id"], r["answer"], r["reviewer"]) for r in records] == [
        ("a", "same", "alice"), ("b", "not", "alice"), ("a", "cant_tell", "alice")]
    assert all(r["time"].endswith("+00:00") for r in records)
    assert latest(records) == {"a": "cant_tell", "b": "not"}
    append_verdict(verdict_file(tmp_path, "bob"), "a", "same", "bob")
    assert load_reviews(tmp_path, {"a", "b"}) == {"a": {"alice": "cant_tell", "bob": "same"}, "b": {"alice": "not"}}


def test_a_torn_last_line_is_dropped_never_glued(tmp_path):
    path = verdict_file(tmp_path, "alice")
    append_verdict(path, "a", "same", "alice")
    with open(path, "a") as handle:
        handle.write('{"id": "b", "answ')  # a crash in the middle of a write
    assert [r["id"] for r in read_verdicts(path)] == ["a"]
    append_verdict(path, "c", "not", "alice")
    assert path.read_text().count("\n") == 2 and [r["id"] for r in read_verdicts(path)] == ["a", "c"]


@pytest.mark.parametrize("line, message", [
    ('{"id": "zz", "answer": "same", "time": "t", "reviewer": "alice"}', "line 2: row id 'zz' is not in this folder"),
    ('{"id": "a", "answer": "yes", "time": "t", "reviewer": "alice"}', "line 2: answer 'yes' is not one of same"),
    ('{"id": "a", "answer": "same", "time": "t", "reviewer": "bob"}', "line 2: reviewer 'bob' in the file of 'alice'"),
    ('{"id": "a"}', "line 2: a verdict needs id, answer, time and reviewer"),
    ("not json", "line 2: not a JSON record"),
])
def test_bad_verdict_lines_are_named(tmp_path, line, message):
    path = verdict_file(tmp_path, "alice")
    append_verdict(path, "a", "same", "alice")
    with open(path, "a") as handle:
        handle.write(line + "\n")
    with pytest.raises(ReviewError, match="alice.jsonl, " + message.replace("(", r"\(")):
        read_verdicts(path, known_ids={"a"})


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "a b", "x" * 65])
def test_reviewer_names_are_file_names(name):
    with pytest.raises(ReviewError, match="use letters, digits"):
        check_reviewer(name)


def test_an_unknown_answer_is_refused(tmp_path):
    with pytest.raises(ReviewError, match="answer 'maybe': use one of same, not, cant_tell"):
        append_verdict(tmp_path / "r.jsonl", "a", "maybe", "r")
    assert not (tmp_path / "r.jsonl").exists()
