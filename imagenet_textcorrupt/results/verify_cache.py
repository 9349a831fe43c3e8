"""`verify_results` with a cache, for the leaderboard: a rebuild that finds nothing new recomputes nothing.

Recomputing every metric of a results file from its predictions file is the costly part of `verify_results` (about
a tenth of a second for 10,000 rows). Its outcome, checked or refused with the problems found, depends only on the
bytes of the two files, on the formulas (`METRICS_VERSION`), on numpy (its random streams draw the bootstrap
resamples) and on the code that checks: an entry keeps it under the sha256 of all of them (the code as the sha256 of
the source of the modules that decide, `_CODE`), with this cache's format and the package's version. Both files are
read and hashed on every call, the results parsed and typed and their status decided (another metrics version, no
predictions file) as verify_results does, so `verify_results_cached` returns the same (Results, status) and raises
the same ResultsError: a forged file stays refused on a rebuild, and a changed file is verified again. (An entry is
only written for results bytes that passed Results.parse, so on a hit they are typed without its checks.)

An entry is a small JSON file, written atomically, that repeats its key and what the key was made of and carries a
checksum of its own content; one that cannot be read, does not parse, belongs to other inputs or fails its checksum
is ignored, and the verification is run again and the entry rewritten. The folder is trusted as the user's own: the
checksum finds damage, not forgery by someone who can write there.

Given the files the caller is about to ask about (`upcoming`, in order, as the leaderboard's build does), the
verifications run ahead of it in worker processes, one per core, when there is enough to verify to repay starting
them; each answer is used only if neither file changed since its worker read it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.results.format import Results, ResultsError
from imagenet_textcorrupt.results.predictions import predictions_path
from imagenet_textcorrupt.results.verify import CHECKED, check_predictions, unchecked_status, verify_results

CACHE_FORMAT = 1  # bump when an entry's layout or the meaning of its outcome changes
REFUSED = "refused"
_SOURCES = ("results", "predictions")  # which file a refusal names (ResultsError.source)
_AHEAD_MIN_BYTES = 32 * 2 ** 20  # predictions to verify before worker processes repay their start (about a second)
_AHEAD_MAX_WORKERS = 8
# each worker runs numpy's BLAS on one thread: the workers already take every core
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# the modules whose code decides a verification's outcome: what the files must hold, how they are read, the formulas
_CODE = ("imagenet_textcorrupt.results.format", "imagenet_textcorrupt.results.predictions",
         "imagenet_textcorrupt.results.verify", "imagenet_textcorrupt.metrics.paired",
         "imagenet_textcorrupt.metrics.inputs", "imagenet_textcorrupt.metrics.bootstrap", "imagenet_textcorrupt.classes",
         "imagenet_textcorrupt.schema", "imagenet_textcorrupt.estimate", "imagenet_textcorrupt.study_protocol",
         __name__)
_code_digest: str | None = None


def _code() -> str:
    """sha256 over the source of the modules in _CODE (read once): a changed rule or formula is another key, even
    within one version of the package."""
    global _code_digest
    if _code_digest is None:
        import importlib

        digest = hashlib.sha256()
        for name in _CODE:
            try:
                digest.update(Path(importlib.import_module(name).__file__ or "").read_bytes())
            except (OSError, ImportError):
                digest.update(f"{name}: unreadable".encode())
        _code_digest = digest.hexdigest()
    return _code_digest


def _inputs(results: str, predictions: str) -> dict[str, Any]:
    """What a verification's outcome depends on."""
    import numpy

    from imagenet_textcorrupt import __version__
    from imagenet_textcorrupt.metrics.paired import METRICS_VERSION

    return {"cache_format": CACHE_FORMAT, "results_sha256": results, "predictions_sha256": predictions,
            "metrics_version": METRICS_VERSION, "numpy": numpy.__version__, "imagenet_textcorrupt": __version__,
            "code_sha256": _code()}


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def entry_path(cache: str | Path, inputs: dict[str, Any]) -> Path:
    """Where the entry of these inputs is kept: <cache>/<2 hex digits>/<sha256 of the inputs>.json."""
    key = _sha256(_canonical(inputs))
    return Path(cache) / key[:2] / f"{key}.json"


def _read_entry(path: Path, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The outcome kept for these inputs, or None when there is none that can be trusted."""
    try:
        if not path.is_file():
            return None
        entry = json.loads(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - unreadable, not UTF-8, not JSON, too deep: recomputed
        return None
    if not isinstance(entry, dict) or set(entry) != {"key", "inputs", "outcome", "checksum"}:
        return None
    body = {k: entry[k] for k in ("key", "inputs", "outcome")}
    outcome = entry["outcome"]
    if entry["checksum"] != _sha256(_canonical(body)) or entry["inputs"] != inputs or \
            entry["key"] != path.stem or not isinstance(outcome, dict):
        return None
    if outcome.get("status") == CHECKED and set(outcome) == {"status"}:
        return outcome
    problems = outcome.get("problems")
    if outcome.get("status") == REFUSED and set(outcome) == {"status", "source", "problems"} and \
            outcome["source"] in _SOURCES and isinstance(problems, list) and problems and \
            all(isinstance(p, str) for p in problems):
        return outcome
    return None


def _write_entry(path: Path, inputs: dict[str, Any], outcome: dict[str, Any]) -> None:
    body = {"key": path.stem, "inputs": inputs, "outcome": outcome}
    try:
        atomic_write_text(path, json.dumps(body | {"checksum": _sha256(_canonical(body))}, indent=1) + "\n")
    except OSError:  # a cache that cannot be written only costs time
        pass


def _file_sha256(path: Path) -> str | None:
    try:
        return _sha256(path.read_bytes())
    except OSError:
        return None


def _predictions_named(path: Path, tree: Any) -> Path | None:
    """The predictions file verification reads for a results file, from its JSON before it is validated (the rule
    of verify.unchecked_status); None when the JSON is not shaped for the rule."""
    recorded = tree.get("predictions") if isinstance(tree, dict) else None
    recorded = {} if recorded is None else recorded
    if not isinstance(recorded, dict):
        return None
    return path.parent / Path(str(recorded.get("file") or predictions_path(path).name)).name


def _verify(path: Path, cache: Path) -> tuple[Results, str]:
    """verify_results(path), with the outcome of the recomputation from the cache when it has it."""
    try:
        if not path.is_file():
            return verify_results(path)
        data = path.read_bytes()
        tree = json.loads(data.decode("utf-8"))
    except Exception:  # noqa: BLE001 - whatever load_results refuses: verify_results raises it the same way
        return verify_results(path)
    file = _predictions_named(path, tree)
    try:
        predictions = file.read_bytes() if file is not None and file.is_file() else None
    except Exception:  # noqa: BLE001 - unreadable, a name no file can have: left to verify_results below
        predictions = None
    inputs = where = None
    if predictions is not None:
        inputs = _inputs(_sha256(data), _sha256(predictions))
        where = entry_path(cache, inputs)
        kept = _read_entry(where, inputs)
        if kept is not None:
            # an entry is only written for bytes that were valid results, of this metrics version, with this
            # predictions file beside them: they need not be checked again
            results = _typed(tree)
            if kept["status"] == CHECKED:
                return results, CHECKED
            raise ResultsError(str(path) if kept["source"] == "results" else str(file), list(kept["problems"]))
    try:
        results = Results.parse(tree, str(path))
    except Exception:  # noqa: BLE001 - raised by verify_results the same way
        return verify_results(path)
    status, named = unchecked_status(path, results)
    if status is not None:
        return results, status
    if predictions is None or named != file or inputs is None or where is None:
        return verify_results(path)  # the predictions file could not be read just before: read as it does
    try:
        read_from_data = check_predictions(path, results, file, predictions, inputs["predictions_sha256"])
    except ResultsError as error:
        source = {str(path): "results", str(file): "predictions"}.get(error.source)
        # kept only when the predictions file still holds the bytes it is keyed by (read_predictions reads it again)
        if source and error.problems and _file_sha256(file) == inputs["predictions_sha256"]:
            _write_entry(where, inputs, {"status": REFUSED, "source": source, "problems": list(error.problems)})
        raise
    if read_from_data or _file_sha256(file) == inputs["predictions_sha256"]:
        _write_entry(where, inputs, {"status": CHECKED})
    return results, CHECKED


def _typed(tree: dict[str, Any]) -> Results:
    """Results.parse without its checks, for bytes that passed them before."""
    from imagenet_textcorrupt.results.format import _build

    return _build(tree)


def verify_results_cached(path: str | Path, cache: str | Path | None = None,
                          upcoming: Sequence[str | Path] | None = None) -> tuple[Results, str]:
    """`verify_results(path)`, keeping the outcome of the recomputation of its metrics in the folder `cache`
    (None: no cache, verify_results itself). `upcoming`: the files the caller will ask about, in order, this one
    among them: they are verified ahead in worker processes when that pays (many or large predictions files)."""
    if cache is None:
        return verify_results(path)
    path = Path(path)
    if upcoming is not None:
        answer = _answer_ahead(path, Path(cache), upcoming)
        if answer is not None:
            return answer.give()
    return _verify(path, Path(cache))


# ----------------------------------------------------------------------------------- verifying ahead, in workers
def _stamp(path: Path | None) -> tuple[int, ...] | None:
    """What changes whenever a file's bytes change (its inode, size and times): an answer is used only if both files
    are as they were when the worker read them."""
    try:
        found = path.stat() if path is not None else None
    except OSError:
        return None
    return None if found is None else (found.st_ino, found.st_dev, found.st_size, found.st_mtime_ns,
                                       found.st_ctime_ns)


class _Answer:
    """A worker's verification of one file: (Results, status), a refusal, or another exception; and the stamps of
    the two files it read, taken before and after (None when either changed meanwhile)."""

    def __init__(self, path: Path, cache: Path):
        usual = predictions_path(path)
        before = [_stamp(path), _stamp(usual)]
        self.files = [path, usual]
        self.value: tuple[Results, str] | None = None
        self.refusal: tuple[str, list[str]] | None = None
        self.error: Exception | None = None
        try:
            self.value = _verify(path, cache)
            self.files[1] = unchecked_status(path, self.value[0])[1]
        except ResultsError as error:
            self.refusal = (error.source, list(error.problems))
            self.files[1] = _recorded_predictions(path)
        except Exception as error:  # noqa: BLE001 - given back to the caller, as verify_results would raise it
            self.error = error
            pickle.loads(pickle.dumps(error))  # one that cannot travel back fails the task: the caller verifies
        after = [_stamp(path), _stamp(self.files[1])]
        # trusted only when the predictions file read is the one stamped before, and neither changed meanwhile
        self.stamps = after if after == before and self.files[1] == usual and after[0] is not None else None

    def current(self) -> bool:
        """Whether both files are still as the worker read them."""
        return self.stamps is not None and [_stamp(f) for f in self.files] == self.stamps

    def give(self) -> tuple[Results, str]:
        if self.refusal is not None:
            raise ResultsError(*self.refusal)
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value


def _recorded_predictions(path: Path) -> Path:
    """The predictions file verification reads for a results file it refused."""
    try:
        return unchecked_status(path, Results.parse(json.loads(path.read_bytes().decode("utf-8"))))[1]
    except Exception:  # noqa: BLE001 - a results file that cannot be read: no predictions file is read either
        return predictions_path(path)


def serve() -> None:
    """A worker: reads lines [results path, cache folder] (JSON) from stdin and writes, for each, its _Answer
    pickled and preceded by its length (8 bytes, big-endian) to stdout, until stdin ends. Anything else printed goes
    to stderr."""
    import sys

    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        path, cache = json.loads(line)
        data = pickle.dumps(_Answer(Path(path), Path(cache)), protocol=pickle.HIGHEST_PROTOCOL)
        answers.write(len(data).to_bytes(8, "big") + data)
        answers.flush()


class _Ahead:
    """The verifications of one caller's upcoming files, handed out one at a time to worker processes (plain
    `python -c` subprocesses: nothing of the caller's script runs in them, and each runs numpy on one thread)."""

    def __init__(self, upcoming: Sequence[str | Path], cache: Path, workers: int):
        import subprocess
        import sys
        from collections import deque

        self.upcoming = upcoming  # the caller's sequence: asked again with the same one, it is the same caller
        self.files, self.cache = [Path(p) for p in upcoming], cache
        self.order = {path: index for index, path in enumerate(self.files)}
        self.position = -1
        self.futures: dict[Path, Future] = {path: Future() for path in self.files}
        self.jobs = deque(self.futures.items())  # the caller may take a future before a worker starts on it
        self.lock = threading.Lock()
        self.alive = workers
        env = {**os.environ, **{name: "1" for name in _ONE_THREAD},
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # the modules this process imports
        code = "from imagenet_textcorrupt.results.verify_cache import serve; serve()"
        self.processes = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, env=env) for _ in range(workers)]
        for process in self.processes:
            threading.Thread(target=self._feed, args=(process,), daemon=True).start()

    def _feed(self, process: Any) -> None:
        """Gives one worker the next file until none is left, and sets each answer."""
        future = None
        try:
            while True:
                with self.lock:
                    if not self.jobs:
                        break
                    path, future = self.jobs.popleft()
                if not future.set_running_or_notify_cancel():  # a file the caller passed over
                    future = None
                    continue
                process.stdin.write(json.dumps([str(path), str(self.cache)]).encode() + b"\n")
                process.stdin.flush()
                size = int.from_bytes(_read_exactly(process.stdout, 8), "big")
                future.set_result(pickle.loads(_read_exactly(process.stdout, size)))
                future = None
        except Exception as error:  # noqa: BLE001 - a worker that died or answered nonsense: the caller verifies
            if future is not None:
                future.set_exception(error)
        finally:
            try:
                process.stdin.close()
            except OSError:
                pass
            process.wait()
            with self.lock:
                self.alive -= 1
                orphans = []
                if self.alive == 0:
                    orphans = [f for _, f in self.jobs]
                    self.jobs.clear()
            for orphan in orphans:  # no worker left: the caller verifies these itself
                if orphan.set_running_or_notify_cancel():
                    orphan.set_exception(RuntimeError("no verification worker left"))

    def take(self, path: Path) -> _Answer | None:
        """The worker's answer for the next file the caller asks about; None when the caller is elsewhere (another
        build), or the answer cannot be used (a worker failed, a file changed since)."""
        index = self.order.get(path)
        if index is None or index <= self.position:
            return None
        with self.lock:
            for skipped in self.files[self.position + 1:index]:  # files the caller passed over: theirs are dropped
                dropped = self.futures.pop(skipped, None)
                if dropped is not None:
                    dropped.cancel()
            future = self.futures.pop(path)
        self.position = index
        try:
            answer = future.result()
        except Exception:  # noqa: BLE001 - a worker that died, an answer that could not travel back
            return None
        return answer if answer.current() else None

    def close(self) -> None:
        with self.lock:
            self.jobs.clear()
            for future in self.futures.values():
                future.cancel()
            self.futures.clear()
        for process in self.processes:
            if process.poll() is None:
                process.kill()


def _read_exactly(stream: Any, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the verification worker stopped")
    return data


_AHEAD: _Ahead | None = None
_AHEAD_LOCK = threading.Lock()


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(cores, _AHEAD_MAX_WORKERS)


def _worth_ahead(files: list[Path], workers: int) -> bool:
    if workers < 2 or len(files) < 2 * workers:
        return False
    size = 0
    for file in files:
        try:
            size += predictions_path(file).stat().st_size
        except OSError:
            pass
    return size >= _AHEAD_MIN_BYTES


def _answer_ahead(path: Path, cache: Path, upcoming: Sequence[str | Path]) -> _Answer | None:
    """The answer verified ahead for `path`, starting the workers on `upcoming` when this is a new caller."""
    global _AHEAD
    with _AHEAD_LOCK:
        if _AHEAD is not None and (_AHEAD.upcoming is not upcoming or _AHEAD.cache != cache or
                                   _AHEAD.order.get(path, -1) <= _AHEAD.position):
            _AHEAD.close()  # another caller, or the same one starting over
            _AHEAD = None
        if _AHEAD is None:
            files, workers = [Path(p) for p in upcoming], _workers()
            if path not in files or not _worth_ahead(files, workers):
                return None
            _AHEAD = _Ahead(upcoming, cache, workers)
        answer = _AHEAD.take(path)
        if _AHEAD.position == len(_AHEAD.files) - 1:
            _AHEAD.close()
            _AHEAD = None
        return answer


def default_cache() -> Path:
    """Where `imagenet-tc leaderboard` keeps verification outcomes unless told otherwise: <cache root>/leaderboard
    ($IMAGENET_TC_CACHE, else $XDG_CACHE_HOME/imagenet-tc, else ~/.cache/imagenet-tc)."""
    from imagenet_textcorrupt.cache import cache_root

    return cache_root() / "leaderboard"
