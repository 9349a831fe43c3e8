"""Publish a validated release folder to the Hugging Face Hub as a tagged version.

    python -m builder publish releases/v1.0.0 --repo-id ORG/imagenet-tc --version v1.0.0 [--dry-run]
                                              [--private] [--gated auto|manual]

The repo is created if needed; the files go up in several commits when the release is large, and files already on
the Hub with the same content are skipped, so an interrupted publish resumes; files of an older version that the
release no longer has are deleted in the last commit. Only then is the tag made, on that last commit: a tag never
points at a half-made release, and an existing tag is refused (versions never move). Transient errors (5xx,
connection failures) are retried with exponential backoff. The token comes from HF_TOKEN or `hf auth login` and
is never printed or written.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from imagenet_textcorrupt.errors import ImageNetTCError

from builder.card import REPO_PLACEHOLDER

TAG = re.compile(r"^v\d+\.\d+\.\d+$")
COMMIT_BYTES = 2 * 1024**3  # at most this much per commit
COMMIT_FILES = 200
T = TypeVar("T")


class PublishError(ImageNetTCError):
    """The release, the version or the repo does not allow publishing."""


@dataclass
class PublishPlan:
    repo_id: str
    tag: str
    files: list[tuple[str, int]]  # (path in the repo, bytes)
    commits: list[list[str]] = field(default_factory=list)
    message: str = ""

    def describe(self) -> str:
        total = sum(size for _, size in self.files)
        lines = [f"publish {len(self.files)} files ({total / 1e6:.1f} MB) to datasets/{self.repo_id} in "
                 f"{len(self.commits)} commit(s), then tag {self.tag}", f"commit message: {self.message}"]
        lines += [f"  {path}  {size:,} bytes" for path, size in self.files]
        return "\n".join(lines)


def _is_transient(error: Exception) -> bool:
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status is not None:
        return status >= 500 or status == 429
    return isinstance(error, (ConnectionError, TimeoutError, OSError)) or type(error).__name__ in {
        "ConnectError", "ReadTimeout", "RemoteProtocolError", "ConnectTimeout"}


def with_retries(action: Callable[[], T], what: str, attempts: int = 5, base_delay: float = 1.0,
                 log: Callable[[str], None] = print) -> T:
    """Run `action`, retrying transient failures with exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as error:  # only transient errors are retried; the rest propagate
            if attempt == attempts or not _is_transient(error):
                raise
            delay = base_delay * 2 ** (attempt - 1)
            log(f"{what}: {type(error).__name__} (attempt {attempt} of {attempts}); retrying in {delay:.0f} s")
            time.sleep(delay)
    raise AssertionError("unreachable")


def make_plan(release: Path, repo_id: str, tag: str) -> PublishPlan:
    files = sorted((str(p.relative_to(release)), p.stat().st_size) for p in release.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(release).parts))
    plan = PublishPlan(repo_id, tag, files, message=f"ImageNet-TC {tag}")
    batch: list[str] = []
    size = 0
    data_last = sorted(files, key=lambda f: (not f[0].startswith("data/"), f[0]))  # the card goes in last
    for path, nbytes in data_last:
        if batch and (size + nbytes > COMMIT_BYTES or len(batch) >= COMMIT_FILES):
            plan.commits.append(batch)
            batch, size = [], 0
        batch.append(path)
        size += nbytes
    if batch:
        plan.commits.append(batch)
    return plan


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _remote_files(api: Any, repo_id: str) -> dict[str, str]:
    """Files on the main branch with their content id (sha256 for LFS files, git blob sha1 otherwise)."""
    remote = {}
    for entry in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True):
        if hasattr(entry, "size") and not hasattr(entry, "tree_id"):
            lfs = getattr(entry, "lfs", None)
            remote[entry.path] = lfs.sha256 if lfs is not None else entry.blob_id
    return remote


def _content(release: Path, path: str, repo_id: str) -> bytes:
    data = (release / path).read_bytes()
    if path == "README.md":  # the card's loading examples name the repo only now
        data = data.replace(REPO_PLACEHOLDER.encode(), repo_id.encode())
    return data


def publish(release: str | Path, repo_id: str, tag: str, *, private: bool = False, gated: str | None = None,
            dry_run: bool = False, token: str | None = None, log: Callable[[str], None] = print,
            retry_delay: float = 1.0) -> PublishPlan:
    """Validate, upload and tag a release; with `dry_run`, only print what would happen."""
    from builder.validate import validate

    release = Path(release)
    if not TAG.match(tag):
        raise PublishError(f"--version {tag!r} must look like v1.0.0")
    summary = json.loads((release / "release.json").read_text())
    if tag != f"v{summary['version']}":
        raise PublishError(f"--version {tag} does not match the release's version {summary['version']}")
    if gated not in (None, "auto", "manual"):
        raise PublishError(f"--gated must be auto or manual, not {gated!r}")
    problems = validate(release)
    if problems:
        raise PublishError(f"{release} fails validation ({len(problems)} problems), e.g. {problems[0]}")
    plan = make_plan(release, repo_id, tag)
    if dry_run:
        log(plan.describe())
        return plan

    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(token=token)
    with_retries(lambda: api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True),
                 "create repo", log=log, base_delay=retry_delay)
    refs = with_retries(lambda: api.list_repo_refs(repo_id, repo_type="dataset"), "list refs", log=log,
                        base_delay=retry_delay)
    if any(t.name == tag for t in refs.tags):
        raise PublishError(f"datasets/{repo_id} already has the tag {tag}: versions never move; publish a new one")
    if gated:
        with_retries(lambda: api.update_repo_settings(repo_id, gated=gated, repo_type="dataset"), "gating",
                     log=log, base_delay=retry_delay)
    remote = with_retries(lambda: _remote_files(api, repo_id), "list files", log=log, base_delay=retry_delay)
    wanted = {path for path, _ in plan.files}
    last_commit = None
    for number, paths in enumerate(plan.commits, start=1):
        operations: list[Any] = []
        for path in paths:
            data = _content(release, path, repo_id)
            if remote.get(path) in (hashlib.sha256(data).hexdigest(), _git_sha1(data)):
                continue  # already there with this content: an earlier, interrupted publish sent it
            operations.append(CommitOperationAdd(path_in_repo=path, path_or_fileobj=data))
        if number == len(plan.commits):
            operations += [CommitOperationDelete(path_in_repo=p) for p in sorted(set(remote) - wanted)
                           if p != ".gitattributes"]
        if not operations:
            continue
        message = f"{plan.message} ({number}/{len(plan.commits)})"
        info = with_retries(lambda ops=operations, msg=message: api.create_commit(
            repo_id, operations=ops, commit_message=msg, repo_type="dataset"), f"commit {number}", log=log,
            base_delay=retry_delay)
        last_commit = info.oid
        log(f"committed {len(operations)} changes ({number}/{len(plan.commits)}): {info.oid[:10]}")
    if last_commit is None:  # everything was already there: tag the current head
        last_commit = with_retries(lambda: api.repo_info(repo_id, repo_type="dataset").sha, "repo info", log=log,
                                   base_delay=retry_delay)
    with_retries(lambda: api.create_tag(repo_id, tag=tag, revision=last_commit, repo_type="dataset",
                                        exist_ok=False), "tag", log=log, base_delay=retry_delay)
    log(f"tagged {tag} at {last_commit[:10]} on datasets/{repo_id}")
    return plan
