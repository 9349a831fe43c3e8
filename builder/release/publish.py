"""Publish a validated release folder to the Hugging Face Hub as a tagged, gated version.

    python -m builder publish releases/v1.0.0 --repo-id ORG/imagenet-tc --version v1.0.0 [--dry-run]
                                              [--private] [--gated auto|manual | --ungated]

What goes up is exactly what was validated: the release is staged as it will be on the Hub (the card's loading
examples get the repo id, every other file is linked, not copied), the staged folder is hashed and then validated,
and before the tag is made every file on the Hub is compared with those hashes. The repo is gated ("auto") unless
`--gated manual` or, for a release that is not ImageNet-derived, `--ungated` (which warns): the images are under
ImageNet's terms.

The files go up in several commits when the release is large, and files already on the Hub with the same content
are skipped, so an interrupted publish resumes; files of an older version that the release no longer has are
deleted in the last commit. Only then is the tag made, on that last commit: a tag never points at a half-made
release, and an existing tag is refused (versions never move). eval.yaml, which the Hub validates against its
benchmark spec and may refuse, goes up alone after the tag, so a refusal costs neither the card nor the tag.
Transient errors (connection failures and timeouts, HTTP 429 and 5xx) are retried with exponential backoff;
anything else (a missing file, a refused permission, a 4xx) stops at once. The token comes from HF_TOKEN or
`hf auth login` and is never printed or written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.hub import VERSION_TAG, is_transient, with_retries

from builder.release.benchmark import EVAL_YAML
from builder.release.card import REPO_PLACEHOLDER

COMMIT_BYTES = 2 * 1024**3  # at most this much per commit
COMMIT_FILES = 200
GATED = ("auto", "manual")
READ_BYTES = 16 * 1024 * 1024
UNGATED_WARNING = ("warning: publishing ungated: anyone can download these images without accepting the ImageNet "
                   "terms of access; do this only for a release whose images are not derived from ImageNet")


class PublishError(ImageNetTCError):
    """The release, the version or the repo does not allow publishing."""


@dataclass(frozen=True)
class FileDigest:
    size: int
    sha256: str
    git_sha1: str  # the git blob id, which the Hub reports for files it does not keep in LFS


@dataclass
class PublishPlan:
    repo_id: str
    tag: str
    files: list[tuple[str, int]]  # (path in the repo, bytes)
    commits: list[list[str]] = field(default_factory=list)
    benchmark: str | None = None  # eval.yaml, committed alone after the tag
    message: str = ""
    digests: dict[str, FileDigest] = field(default_factory=dict)
    release: Path | None = None  # the release folder it was made from

    def describe(self) -> str:
        total = sum(size for _, size in self.files)
        lines = [f"publish {len(self.files)} files ({total / 1e6:.1f} MB) to datasets/{self.repo_id} in "
                 f"{len(self.commits)} commit(s), then tag {self.tag}"
                 + (f", then {self.benchmark} alone" if self.benchmark else ""),
                 f"commit message: {self.message}"]
        lines += [f"  {path}  {size:,} bytes" for path, size in self.files]
        return "\n".join(lines)


def _published_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def digest_file(path: Path) -> FileDigest:
    size = path.stat().st_size
    sha256, sha1 = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_BYTES):
            sha256.update(chunk)
            sha1.update(chunk)
    return FileDigest(size, sha256.hexdigest(), sha1.hexdigest())


def stage(release: Path, repo_id: str) -> Path:
    """The release as it will be on the Hub, in a new folder beside it: README.md with the repo id in place of
    the placeholder, every other file hard-linked (symlinked where the filesystem cannot link)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{release.name}.publish-", dir=release.parent))
    try:
        for source in _published_files(release):
            path = source.relative_to(release)
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.as_posix() == "README.md":
                text = source.read_text(encoding="utf-8")
                target.write_text(text.replace(REPO_PLACEHOLDER, repo_id), encoding="utf-8")
                continue
            try:
                os.link(source, target)
            except OSError:
                os.symlink(source.resolve(), target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def make_plan(release: Path, repo_id: str, tag: str) -> PublishPlan:
    """Files and commits: data first, the card last, eval.yaml on its own; with each file's digest."""
    digests = {p.relative_to(release).as_posix(): digest_file(p) for p in _published_files(release)}
    files = sorted((path, d.size) for path, d in digests.items())
    plan = PublishPlan(repo_id, tag, files, message=f"ImageNet-TC {tag}", digests=digests)
    batch: list[str] = []
    size = 0
    data_first = sorted(files, key=lambda f: (not f[0].startswith("data/"), f[0]))  # the card goes in last
    for path, nbytes in data_first:
        if path == EVAL_YAML:
            plan.benchmark = path
            continue
        if batch and (size + nbytes > COMMIT_BYTES or len(batch) >= COMMIT_FILES):
            plan.commits.append(batch)
            batch, size = [], 0
        batch.append(path)
        size += nbytes
    if batch:
        plan.commits.append(batch)
    return plan


def _remote_files(api: Any, repo_id: str, revision: str | None = None) -> dict[str, str]:
    """Files at a revision (main by default) with their content id: sha256 for LFS files, git blob sha1 otherwise."""
    remote = {}
    for entry in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True, revision=revision):
        if hasattr(entry, "size") and not hasattr(entry, "tree_id"):
            lfs = getattr(entry, "lfs", None)
            remote[entry.path] = lfs.sha256 if lfs is not None else entry.blob_id
    return remote


def _same(remote_id: str | None, digest: FileDigest) -> bool:
    return remote_id in (digest.sha256, digest.git_sha1)


def _check_gating(gated: str | bool | None) -> str | bool:
    if gated is None:
        return "auto"
    if gated is False or gated in GATED:
        return gated
    raise PublishError(f"--gated must be auto or manual, not {gated!r}")


def publish(release: str | Path, repo_id: str, tag: str, *, private: bool = False,
            gated: str | bool | None = "auto", dry_run: bool = False, token: str | None = None,
            log: Callable[[str], None] = print, warn: Callable[[str], None] | None = None,
            retry_delay: float = 1.0) -> PublishPlan:
    """Validate, upload and tag a release; with `dry_run`, only print what would happen. `gated` is "auto"
    (the default), "manual", or False (ungated, with a warning)."""
    from builder.release.validate import validate

    warn = warn or log
    release = Path(release)
    if not VERSION_TAG.match(tag):
        raise PublishError(f"--version {tag!r} must look like v1.0.0")
    try:
        summary = json.loads((release / "release.json").read_text())
    except (OSError, ValueError) as error:
        raise PublishError(f"{release} is not a release folder ({error})") from None
    if tag != f"v{summary['version']}":
        raise PublishError(f"--version {tag} does not match the release's version {summary['version']}")
    gating = _check_gating(gated)
    if gating is False:
        warn(UNGATED_WARNING)
    staged = stage(release, repo_id)
    try:
        plan = make_plan(staged, repo_id, tag)  # hashed before validation: what is checked is what is sent
        plan.release = release
        problems = validate(staged)
        if problems:
            raise PublishError(f"{release} fails validation ({len(problems)} problems), e.g. {problems[0]}")
        if dry_run:
            log(plan.describe())
            log(f"gating: {gating or 'none (public)'}")
            return plan
        _upload(staged, plan, private, gating, token, log, warn, retry_delay)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return plan


def _upload(staged: Path, plan: PublishPlan, private: bool, gating: str | bool, token: str | None,
            log: Callable[[str], None], warn: Callable[[str], None], retry_delay: float) -> None:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    repo_id, tag = plan.repo_id, plan.tag

    def retried(action: Callable[[], Any], what: str) -> Any:
        return with_retries(action, what, log=log, base_delay=retry_delay)

    api = HfApi(token=token)
    retried(lambda: api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True), "create repo")
    refs = retried(lambda: api.list_repo_refs(repo_id, repo_type="dataset"), "list refs")
    if any(t.name == tag for t in refs.tags):
        raise PublishError(f"datasets/{repo_id} already has the tag {tag}: versions never move; publish a new one")
    # gate before any image goes up; also on an existing repo, so a version never lands on an ungated repo
    retried(lambda: api.update_repo_settings(repo_id, gated=gating, repo_type="dataset"), "gating")
    remote = retried(lambda: _remote_files(api, repo_id), "list files")
    wanted = {path for path, _ in plan.files}
    last_commit = None
    for number, paths in enumerate(plan.commits, start=1):
        operations: list[Any] = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(staged / path))
                                 for path in paths if not _same(remote.get(path), plan.digests[path])]
        if number == len(plan.commits):
            operations += [CommitOperationDelete(path_in_repo=p) for p in sorted(set(remote) - wanted)
                           if p != ".gitattributes"]
        if not operations:
            continue  # already there with this content: an earlier, interrupted publish sent it
        message = f"{plan.message} ({number}/{len(plan.commits)})"
        info = retried(lambda ops=operations, msg=message: api.create_commit(
            repo_id, operations=ops, commit_message=msg, repo_type="dataset"), f"commit {number}")
        last_commit = info.oid
        log(f"committed {len(operations)} changes ({number}/{len(plan.commits)}): {info.oid[:10]}")
    if last_commit is None:  # everything was already there: tag the current head
        last_commit = retried(lambda: api.repo_info(repo_id, repo_type="dataset").sha, "repo info")
    on_hub = retried(lambda: _remote_files(api, repo_id, last_commit), "list files")
    differ = [p for p in sorted(wanted - {plan.benchmark}) if not _same(on_hub.get(p), plan.digests[p])]
    if differ:
        raise PublishError(f"datasets/{repo_id}@{last_commit[:10]} does not hold the validated bytes of "
                           f"{len(differ)} file(s), e.g. {differ[0]}; no tag was made")
    retried(lambda: api.create_tag(repo_id, tag=tag, revision=last_commit, repo_type="dataset", exist_ok=False),
            "tag")
    log(f"tagged {tag} at {last_commit[:10]} on datasets/{repo_id}")
    if plan.benchmark:
        _publish_benchmark(api, staged, plan, on_hub, log, warn, retried)


def _publish_benchmark(api: Any, staged: Path, plan: PublishPlan, remote: dict[str, str],
                       log: Callable[[str], None], warn: Callable[[str], None],
                       retried: Callable[[Callable[[], Any], str], Any]) -> None:
    """eval.yaml alone on main; the Hub checks it against its benchmark spec and may refuse it."""
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    path = plan.benchmark or EVAL_YAML
    if _same(remote.get(path), plan.digests[path]):
        log(f"{path} is already on datasets/{plan.repo_id}")
        return
    done = f"The release is complete: its data, card and tag {plan.tag} are on datasets/{plan.repo_id}."
    try:
        info = retried(lambda: api.create_commit(
            plan.repo_id, operations=[CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(staged / path))],
            commit_message=f"Benchmark description ({path}) for {plan.tag}", repo_type="dataset"), "eval.yaml")
    except Exception as error:
        if isinstance(error, HfHubHTTPError) and not is_transient(error):
            status = getattr(error.response, "status_code", "?")
            reason = (getattr(error, "server_message", None) or str(error).splitlines()[0]).strip()
            warn(f"warning: the Hub refused {path} (HTTP {status}: {reason}). {done} Registering it as a benchmark "
                 f"takes the steps in docs/maintainers/release.md, section \"Registering the benchmark\"")
            return
        if not is_transient(error):
            raise
        warn(f"warning: {path} could not be sent ({type(error).__name__}). {done} Send {path} later with: hf upload "
             f"{plan.repo_id} {(plan.release or Path('.')) / path} {path} --repo-type dataset")
        return
    log(f"committed {path}: {info.oid[:10]} (the Hub lists the benchmark once datasets/{plan.repo_id} is on its "
        f"benchmark allow-list)")
