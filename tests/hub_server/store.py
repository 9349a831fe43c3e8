"""The loopback Hub's state and its vocabulary: blobs, commits, pull requests, users, repositories, the errors and
responses it answers with, and the Hub's eval.yaml check.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import hashlib
import json
import logging
import re
from typing import Any


logger = logging.getLogger(__name__)

REPO_TYPES = ("model", "dataset", "space")

# URL prefix of each repo type on the "git" side of the Hub (resolve, LFS batch): models have none.
URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}

LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub stores any file of 10 MiB or more in LFS

# Suffixes the Hub's default .gitattributes tracks with LFS (a subset, enough for tests).
DEFAULT_LFS_PATTERNS = (
    "*.arrow", "*.bin", "*.parquet", "*.pt", "*.pth", "*.safetensors", "*.npy", "*.npz",
    "*.zip", "*.gz", "*.tar", "*.zst", "*.png", "*.jpg", "*.jpeg", "*.webp",
)

DEFAULT_GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in DEFAULT_LFS_PATTERNS)

USER = "test-user"  # the default user

DEFAULT_TOKEN = "hf_secret_test_token"  # its token, which client_environment() sets

DEFAULT_ORGS = ("org", "user")  # the namespaces the default user may write to besides its own

INVALID_TOKEN = "Invalid credentials in Authorization header"  # the Hub's words; the client checks for them

EVAL_YAML = "eval.yaml"

EVAL_YAML_KEYS = ("name", "description", "evaluation_framework", "tasks")

EVAL_TASK_KEYS = ("id", "config", "split")

# hub-docs eval-results.md: with `evaluation_framework: inspect-ai` a task also carries these
INSPECT_AI_TASK_KEYS = ("field_spec", "solvers", "scorers")

# The keys of EVALUATION_FRAMEWORKS in huggingface.js packages/tasks/src/eval.ts (main at fe42e680, 2026-08-21),
# which the Hub checks eval.yaml's evaluation_framework against at push time; benchmark authors add theirs there
# by pull request. None is for image classification.
EVALUATION_FRAMEWORKS = (
    "exgentic", "inspect-ai", "math-arena", "mteb", "olmocr-bench", "harbor", "ifstruct", "pier", "redline-bench",
    "archipelago", "benchflow", "apex-evals", "screenspot-pro", "swe-bench", "swe-bench-pro", "nemo-evaluator",
    "yc-bench", "open-asr-leaderboard", "mdpbench", "real5-omnidocbench", "parsebench", "video-mme-v2", "claw-eval",
    "researchclawbench", "pbench", "wildclawbench", "wbench", "nanofold", "mmmu", "extractbench",
)

_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

_SHORT_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")

def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

def lfs_pointer(sha256: str, size: int) -> bytes:
    """The small text file git stores in place of an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()

def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

@dataclasses.dataclass(frozen=True)
class Blob:
    """One file's content in a commit; ``lfs`` says whether git holds it as an LFS pointer."""

    data: bytes
    lfs: bool

    @property
    def size(self) -> int:
        return len(self.data)

    # cached: listings and downloads ask for these often (cached_property writes the instance
    # __dict__ directly, so it works on a frozen dataclass)
    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @functools.cached_property
    def pointer(self) -> bytes:
        return lfs_pointer(self.sha256, self.size)

    @functools.cached_property
    def oid(self) -> str:
        """Git blob id, as the Hub reports it: the id of the pointer file for an LFS file."""
        return git_blob_sha1(self.pointer if self.lfs else self.data)

    @property
    def etag(self) -> str:
        """What ``resolve`` answers as ETag: the sha256 for LFS files, the git blob id otherwise."""
        return self.sha256 if self.lfs else self.oid

    def entry(self, path: str) -> dict[str, Any]:
        """The JSON shape of this file in tree and paths-info listings."""
        out: dict[str, Any] = {"type": "file", "oid": self.oid, "size": self.size, "path": path}
        if self.lfs:
            out["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": len(self.pointer)}
        return out

@dataclasses.dataclass(frozen=True)
class Commit:
    """An immutable snapshot of the whole repository."""

    id: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, Blob]

@dataclasses.dataclass
class PullRequest:
    """A pull request opened by a commit; number ``num`` owns the git ref ``refs/pr/{num}``."""

    num: int
    title: str
    description: str
    author: str
    target_branch: str
    status: str = "open"
    is_pull_request: bool = True

    @property
    def ref(self) -> str:
        return f"refs/pr/{self.num}"

@dataclasses.dataclass(frozen=True)
class User:
    name: str
    orgs: tuple[str, ...] = ()

    def member_of(self, namespace: str) -> bool:
        return namespace == self.name or namespace in self.orgs

@dataclasses.dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: dict[str, Commit] = dataclasses.field(default_factory=dict)
    branches: dict[str, str] = dataclasses.field(default_factory=dict)
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    lfs_objects: dict[str, bytes] = dataclasses.field(default_factory=dict)  # sha256 -> content
    gated: str | bool = False  # False, "auto" or "manual"
    granted: set[str] = dataclasses.field(default_factory=set)  # users given access to a gated repo
    discussions: list[PullRequest] = dataclasses.field(default_factory=list)  # PR N at index N-1
    pr_refs: dict[str, str] = dataclasses.field(default_factory=dict)  # "refs/pr/N" -> commit id

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]

    def get_discussion(self, num: int) -> PullRequest:
        """Pull request ``num``; KeyError if there is none."""
        if 1 <= num <= len(self.discussions):
            return self.discussions[num - 1]
        raise KeyError(num)

    def resolve(self, revision: str) -> Commit | None:
        """A branch, a tag, ``refs/heads/X``, ``refs/tags/X``, ``refs/pr/N``, a full or short (7+) commit id."""
        if revision in self.pr_refs:
            return self.commits[self.pr_refs[revision]]
        for prefix, table in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix) and revision[len(prefix):] in table:
                return self.commits[table[revision[len(prefix):]]]
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        if revision in self.tags:
            return self.commits[self.tags[revision]]
        if revision in self.commits:
            return self.commits[revision]
        if _SHORT_SHA_RE.match(revision):
            matches = [c for cid, c in self.commits.items() if cid.startswith(revision)]
            if len(matches) == 1:
                return matches[0]
        return None

    def history(self, head: Commit) -> list[Commit]:
        """``head`` and its ancestors, newest first."""
        out = [head]
        while out[-1].parent is not None:
            out.append(self.commits[out[-1].parent])
        return out

class HubError(Exception):
    """Raised by route handlers; becomes a JSON error response."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code  # value of the X-Error-Code header, which the client maps to an exception

@dataclasses.dataclass
class Fault:
    substring: str
    status: int
    remaining: int
    method: str | None

@dataclasses.dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    content_type: str = "application/json"

def json_response(obj: Any, status: int = 200) -> Response:
    return Response(status=status, body=json.dumps(obj).encode())

def eval_yaml_problem(data: bytes, frameworks: tuple[str, ...] | set[str]) -> str | None:
    """Why the Hub would refuse this eval.yaml at push time, or None."""
    import yaml  # PyYAML: the Hub parses YAML; the standard library cannot

    try:
        spec = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        return f"not valid YAML ({exc})"
    if not isinstance(spec, dict):
        return "expected a mapping"
    for key in EVAL_YAML_KEYS:
        if key not in spec:
            return f"missing required key '{key}'"
    extra = sorted(set(spec) - set(EVAL_YAML_KEYS))
    if extra:
        return f"unknown key '{extra[0]}'"
    if spec["evaluation_framework"] not in frameworks:
        return (f"evaluation_framework '{spec['evaluation_framework']}' is not supported "
                f"(supported: {', '.join(sorted(frameworks))})")
    tasks = spec["tasks"]
    if not isinstance(tasks, list) or not tasks:
        return "tasks must be a non-empty list"
    ids = []
    for number, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("id"), str):
            return f"tasks[{number}] must have an id"
        allowed = EVAL_TASK_KEYS + (INSPECT_AI_TASK_KEYS if spec["evaluation_framework"] == "inspect-ai" else ())
        extra = sorted(set(task) - set(allowed))
        if extra:
            return f"unknown key 'tasks[{number}].{extra[0]}'"
        ids.append(task["id"])
    if len(set(ids)) != len(ids):
        return "task ids must be unique"
    return None
