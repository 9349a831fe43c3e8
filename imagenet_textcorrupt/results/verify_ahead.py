"""Verifying ahead of the caller, for `verify_results_cached` (verify_cache.py): given the files the caller is
about to ask about (`upcoming`, in order, as the leaderboard's build does), the verifications run ahead of it in
worker processes, one per core, when there is enough to verify to repay starting them; each answer is used only if
neither file changed since its worker read it.
"""
from __future__ import annotations

import json
import os
import pickle
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.results.cache_entries import verify_with_cache
from imagenet_textcorrupt.results.format import Results, ResultsError
from imagenet_textcorrupt.results.predictions import predictions_path
from imagenet_textcorrupt.results.verify import unchecked_status

_AHEAD_MIN_BYTES = 32 * 2 ** 20  # predictions to verify before worker processes repay their start (about a second)
_AHEAD_MAX_WORKERS = 8
# each worker runs numpy's BLAS on one thread: the workers already take every core
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


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
            self.value = verify_with_cache(path, cache)
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
        code = "from imagenet_textcorrupt.results.verify_ahead import serve; serve()"
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


def answer_ahead(path: Path, cache: Path, upcoming: Sequence[str | Path]) -> _Answer | None:
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
