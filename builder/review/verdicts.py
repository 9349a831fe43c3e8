"""Reviewers' verdicts: one JSON line per answer in `reviews/<reviewer>.jsonl` inside the reviewed folder.

    {"id": "<row id>", "answer": "same" | "not" | "cant_tell", "time": "<UTC ISO 8601>", "reviewer": "<name>"}

Each answer is appended with one `write` on a file opened for appending and synced before the page is told it
was saved, so a crash loses at most the answer being written. A line cut short by a crash (no newline at the end
of the file) is dropped when the file is next appended to or read: it was never acknowledged. A reviewer who
changes an answer (going back) appends a new line; the latest line per row is the verdict.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.results.format import shown

from builder.review.folder import ReviewError

REVIEWS_DIR = "reviews"
# the answers and how the page labels them
ANSWERS = {"same": "same class, clearly", "not": "not that class", "cant_tell": "can't tell"}
_REVIEWER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_reviewer(name: str) -> str:
    """A reviewer name is a file name: letters, digits, '.', '_' and '-', at most 64, starting alphanumeric."""
    if not _REVIEWER.fullmatch(name or ""):
        raise ReviewError(f"reviewer name {name!r}: use letters, digits, '.', '_' or '-' (at most 64, starting with "
                          "a letter or digit); it names the file reviews/<reviewer>.jsonl")
    return name


def verdict_file(root: Path, reviewer: str) -> Path:
    return root / REVIEWS_DIR / f"{check_reviewer(reviewer)}.jsonl"


def _drop_torn_tail(handle: int) -> None:
    """Truncate a last line that has no newline (a write cut short) so the next append starts a fresh line."""
    size = os.lseek(handle, 0, os.SEEK_END)
    if size == 0 or os.pread(handle, 1, size - 1) == b"\n":
        return
    start = max(0, size - 65536)
    tail = os.pread(handle, size - start, start)
    keep = start + tail.rfind(b"\n") + 1 if b"\n" in tail else start
    os.ftruncate(handle, keep)


def append_verdict(path: Path, row_id: str, answer: str, reviewer: str,
                   now: _dt.datetime | None = None) -> dict[str, Any]:
    """Append one verdict durably; returns the record written."""
    if answer not in ANSWERS:
        raise ReviewError(f"answer {answer!r}: use one of {', '.join(ANSWERS)}")
    moment = (now or _dt.datetime.now(_dt.timezone.utc)).isoformat(timespec="milliseconds")
    record = {"id": row_id, "answer": answer, "time": moment, "reviewer": reviewer}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        _drop_torn_tail(handle)
        os.write(handle, (json.dumps(record, sort_keys=True) + "\n").encode())
        os.fsync(handle)
    finally:
        os.close(handle)
    return record


def read_verdicts(path: Path, known_ids: Collection[str] | None = None) -> list[dict[str, Any]]:
    """The records of one reviewer's file, checked: each line a record with a known answer and this file's
    reviewer, and (given `known_ids`) a row id of the folder. A torn last line is skipped. Anything else (not a
    regular file, not UTF-8, a line that is not such a record) is a ReviewError naming the file and the line."""
    try:
        if not path.is_file():
            raise ReviewError(f"{path}: not a regular file")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        line = error.object[:error.start].count(b"\n") + 1
        raise ReviewError(f"{path}, line {line}: not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise ReviewError(f"{path}: cannot be read ({error.strerror or error})") from None
    lines = text.split("\n")
    if lines and not text.endswith("\n"):
        lines = lines[:-1]  # a line cut short by a crash: never acknowledged
    reviewer = path.stem
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except RecursionError:
            raise ReviewError(f"{path}, line {number}: not a JSON record (nested too deeply)") from None
        except ValueError as error:  # JSONDecodeError, or an integer of thousands of digits
            raise ReviewError(f"{path}, line {number}: not a JSON record "
                              f"({getattr(error, 'msg', None) or error})") from None
        problem = _problem(record, reviewer, known_ids)
        if problem:
            raise ReviewError(f"{path}, line {number}: {problem}")
        records.append(record)
    return records


def _problem(record: Any, reviewer: str, known_ids: Collection[str] | None) -> str | None:
    if not isinstance(record, dict) or not {"id", "answer", "time", "reviewer"} <= set(record):
        return "a verdict needs id, answer, time and reviewer"
    for key in ("id", "answer", "time", "reviewer"):
        if not isinstance(record[key], str):
            return f"{key} is {shown(record[key])}, expected text"
    if record["answer"] not in ANSWERS:
        return f"answer {shown(record['answer'])} is not one of {', '.join(ANSWERS)}"
    if record["reviewer"] != reviewer:
        return f"reviewer {shown(record['reviewer'])} in the file of {reviewer!r}"
    if known_ids is not None and record["id"] not in known_ids:
        return f"row id {shown(record['id'])} is not in this folder (only text-guided edits are reviewed)"
    return None


def latest(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Row id -> the reviewer's latest answer."""
    return {record["id"]: record["answer"] for record in records}


def load_reviews(root: Path, known_ids: Collection[str] | None = None) -> dict[str, dict[str, str]]:
    """Every reviewer's latest verdicts in `root/reviews/`: row id -> {reviewer: answer}."""
    verdicts: dict[str, dict[str, str]] = {}
    folder = root / REVIEWS_DIR
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        check_reviewer(path.stem)
        for row_id, answer in latest(read_verdicts(path, known_ids)).items():
            verdicts.setdefault(row_id, {})[path.stem] = answer
    return verdicts
