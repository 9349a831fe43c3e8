"""A small in-memory stand-in for the Hugging Face Hub HTTP API, for offline tests.

The real ``huggingface_hub`` client (``HfApi``, ``hf_hub_download``, ``snapshot_download``, ``HfFileSystem``) and
``datasets.load_dataset`` talk to it when the environment variable ``HF_ENDPOINT`` points at
:attr:`HubServer.endpoint` (and ``HF_HUB_DISABLE_XET=1``, so that uploads use the classic LFS protocol instead of
Xet storage). Only the standard library is used. It serves what the product calls, and refuses what the Hub
refuses, with the Hub's status codes and ``X-Error-Code``/``X-Error-Message`` headers, which the client turns into
its exception classes (``RepositoryNotFoundError``, ``GatedRepoError``, ``RevisionNotFoundError``,
``EntryNotFoundError``, ``BadRequestError``...).

What is modelled
----------------
* Users and tokens (:meth:`HubServer.add_user`): a request carries ``Authorization: Bearer <token>`` or nothing.
  An unknown token answers 401 "Invalid credentials in Authorization header", as on the Hub. A user may write to
  the namespaces it owns (its name and its organisations). Writing (creating a repo, committing to a branch,
  tagging, changing settings) takes a token: 401 without one, 403 with a token that cannot write there. Any
  logged-in user who can read a repo may open a pull request on it (``create_commit(create_pr=True)``).
* Visibility and gating, for every repo type (models included). A private repo answers 401 ``RepoNotFound`` to an
  anonymous request and 404 to a user outside its namespace. A gated repo's metadata (repo info, refs, tree,
  paths-info) stays public, but its files (``resolve``) answer 401 ``GatedRepo`` without a token ("Please log in")
  and 403 ``GatedRepo`` to a user who was not granted access (:meth:`HubServer.grant`); members of its namespace
  always have access.
* Repositories of type ``model``, ``dataset`` and ``space``, created with an initial commit that holds a
  ``.gitattributes`` file. Immutable commits (full snapshots ``{path: Blob}`` with a 40-hex id and a parent);
  branches and tags are names that point at commit ids; tags are never moved (409 on an existing one).
* Regular files (base64 inside the NDJSON commit payload) and LFS files (announced to the LFS batch endpoint, PUT
  to an upload URL served here, verified, then referenced by their sha256 in the commit).
* The read side: repo info, refs, tree listing, paths-info and ``resolve`` downloads with ``HEAD``,
  ``ETag``/``X-Repo-Commit``/``X-Linked-*`` headers and HTTP ``Range``; ``/api/validate-yaml``, which
  ``upload_folder`` asks about a README.md's YAML header before it sends it.
* Pull requests opened by ``create_commit(create_pr=True)`` (the client sends ``?create_pr=1`` on the preupload and
  commit endpoints): the operations apply on top of the target branch, the result is stored under ``refs/pr/N``
  (a revision everywhere), PR N is recorded in :attr:`Repo.discussions`, the branch stays, and the answer carries
  ``pullRequestUrl``.
* Repo settings (``update_repo_settings``): ``gated`` (``False``, ``"auto"``, ``"manual"``) and
  ``visibility``/``private``.
* Benchmarks. A commit that adds or changes a dataset's ``eval.yaml`` is validated as the Hub validates it at push
  time: the four keys of the spec (``name``, ``description``, ``evaluation_framework``, ``tasks``) and nothing
  else, each task an ``id`` with an optional ``config`` and ``split``, unique ids, and an ``evaluation_framework``
  from :attr:`HubServer.evaluation_frameworks` (a stand-in list; the Hub's own has none for image
  classification). A refused eval.yaml fails the whole commit with 400 ``Invalid eval.yaml: ...``. A dataset with
  an eval.yaml on main that is also on :attr:`HubServer.benchmark_allow_list` is a benchmark: its leaderboard
  (``GET /api/datasets/ID/leaderboard``, :meth:`HfApi.get_dataset_leaderboard`) ranks, by value, the entries of
  the model repos' ``.eval_results/*.yaml`` files on main for the benchmark's first task (the client's API takes
  no task). Any other dataset answers 404 there.

Test helpers
------------
* :meth:`HubServer.fail_next` makes the next N requests whose path contains a substring answer with an error
  status (to exercise client retries).
* :attr:`HubServer.requests` logs every request as ``(method, path)``; :attr:`HubServer.log` has the same entries
  with the query string, the user (or None) and the status that was answered.
* :attr:`HubServer.unhandled` lists requests no route matched (they answer 404 with a JSON ``{"error": ...}`` body
  and no ``X-Error-Code`` header), so a missing endpoint is easy to spot.
* :meth:`HubServer.files_at` is the ``{path: content}`` snapshot of any revision (``refs/pr/N`` included).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as _dt
import fnmatch
import functools
import hashlib
import http.server
import json
import logging
import re
import threading
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

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
# Frameworks this stand-in accepts in eval.yaml. The real Hub keeps its own list (of LLM evaluation harnesses so
# far); what matters for the tests is that a name outside the list is refused at push time.
EVALUATION_FRAMEWORKS = ("inspect-ai", "lighteval", "lm-evaluation-harness")

_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_SHORT_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The small text file git stores in place of an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------


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
class _Fault:
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


def _json_response(obj: Any, status: int = 200) -> Response:
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
        extra = sorted(set(task) - set(EVAL_TASK_KEYS))
        if extra:
            return f"unknown key 'tasks[{number}].{extra[0]}'"
        ids.append(task["id"])
    if len(set(ids)) != len(ids):
        return "task ids must be unique"
    return None


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


class HubServer:
    """An in-memory Hub on ``127.0.0.1``; use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, lfs_patterns: tuple[str, ...] = DEFAULT_LFS_PATTERNS):
        self.host = host
        self.port = port
        self.lfs_patterns = tuple(lfs_patterns)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.users: dict[str, User] = {}  # token -> user
        self.evaluation_frameworks: set[str] = set(EVALUATION_FRAMEWORKS)
        self.benchmark_allow_list: set[str] = set()  # dataset ids the Hub lists as benchmarks
        self.requests: list[tuple[str, str]] = []
        self.log: list[dict[str, Any]] = []
        self.unhandled: list[tuple[str, str]] = []
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._commit_counter = 0
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add_user(DEFAULT_TOKEN, USER, DEFAULT_ORGS)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "HubServer":
        if self._httpd is not None:
            return self
        handler = type("BoundHubHandler", (_HubHandler,), {"hub": self})
        self._httpd = http.server.ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- test helpers ------------------------------------------------------------------------

    def add_user(self, token: str, name: str, orgs: tuple[str, ...] | list[str] = ()) -> User:
        """A user who authenticates with ``token`` and may write to its own namespace and ``orgs``."""
        with self._lock:
            user = User(name, tuple(orgs))
            self.users[token] = user
            return user

    def grant(self, repo_id: str, user: str, repo_type: str = "dataset") -> None:
        """Give ``user`` access to a gated repo (as accepting its terms does)."""
        with self._lock:
            self.get_repo(repo_id, repo_type).granted.add(user)

    def fail_next(self, path_substring: str, status: int = 500, times: int = 1, method: str | None = None) -> None:
        """Answer ``status`` to the next ``times`` requests whose path contains ``path_substring``."""
        with self._lock:
            self._faults.append(_Fault(path_substring, status, times, method.upper() if method else None))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.log.clear()
            self.unhandled.clear()

    def get_repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def files_at(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        """The ``{path: content}`` snapshot of a revision."""
        commit = self.get_repo(repo_id, repo_type).resolve(revision)
        if commit is None:
            raise KeyError(revision)
        return {path: blob.data for path, blob in commit.files.items()}

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.substring in path and fault.method in (None, method):
                    fault.remaining -= 1
                    return fault
            self._faults = [f for f in self._faults if f.remaining > 0]
        return None

    # -- access control ----------------------------------------------------------------------

    def _user(self, headers: Any) -> User | None:
        """The user a request authenticates as; None when it carries no token."""
        auth = headers.get("Authorization")
        if not auth:
            return None
        scheme, _, token = auth.partition(" ")
        user = self.users.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HubError(401, INVALID_TOKEN)
        return user

    def _readable(self, repo_type: str, repo_id: str, user: User | None) -> Repo:
        """The repo, if the user may see it: private repos only for their namespace's members."""
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not (user and user.member_of(repo.namespace))):
            # the Hub does not say whether a private repo exists; anonymous requests get 401
            raise HubError(401 if user is None else 404, f"Repository Not Found for {repo_type} {repo_id}",
                           "RepoNotFound")
        return repo

    def _downloadable(self, repo_type: str, repo_id: str, user: User | None) -> Repo:
        """The repo, if the user may read its files: gated repos need access."""
        repo = self._readable(repo_type, repo_id, user)
        if repo.gated and not (user and (user.member_of(repo.namespace) or user.name in repo.granted)):
            kind = "model" if repo_type == "model" else repo_type
            if user is None:
                raise HubError(401, f"Access to {kind} {repo_id} is restricted. You must have access to it and be "
                                    f"authenticated to access it. Please log in.", "GatedRepo")
            raise HubError(403, f"Access to {kind} {repo_id} is restricted and you are not in the authorized list. "
                                f"Visit {self._repo_url(repo)} to ask for access.", "GatedRepo")
        return repo

    def _writer(self, namespace: str, user: User | None, what: str) -> User:
        """The user, if it may write to ``namespace``."""
        if user is None:
            raise HubError(401, f"You must be authenticated to {what} (no token was sent)")
        if not user.member_of(namespace):
            raise HubError(403, f"You don't have the rights to {what} in the namespace {namespace}")
        return user

    # -- helpers for handlers ----------------------------------------------------------------

    def _commit_at(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _new_commit(self, repo: Repo, parent: Commit | None, title: str, message: str, files: dict[str, Blob]) -> Commit:
        """Store a new commit; its id is derived from its content, its parent and a counter."""
        self._commit_counter += 1
        digest = hashlib.sha1()
        digest.update(f"{repo.repo_type}/{repo.repo_id}\n{parent.id if parent else ''}\n{title}\n{message}\n".encode())
        digest.update(str(self._commit_counter).encode())
        for path in sorted(files):
            digest.update(f"{path}\0{files[path].oid}\n".encode())
        commit = Commit(digest.hexdigest(), parent.id if parent else None, title, message, _now_iso(), dict(files))
        repo.commits[commit.id] = commit
        return commit

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.endpoint}/{URL_PREFIXES[repo.repo_type]}{repo.repo_id}"

    def _is_lfs_path(self, path: str, size: int, sample: bytes) -> bool:
        """The Hub's choice for a new file: big, matching an LFS pattern, or binary-looking."""
        if size == 0:
            return False
        if size >= LFS_THRESHOLD:
            return True
        name = path.rsplit("/", 1)[-1]
        if any(fnmatch.fnmatch(name, pattern) for pattern in self.lfs_patterns):
            return True
        return b"\0" in sample


# --------------------------------------------------------------------------------------------
# Directory helpers (trees are flat {path: Blob} maps; folders are implied by the paths)
# --------------------------------------------------------------------------------------------


def _folders(files: dict[str, Blob]) -> set[str]:
    out: set[str] = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def _folder_oid(files: dict[str, Blob], folder: str) -> str:
    """A stable id for a folder: a hash over the paths and blob ids below it."""
    digest = hashlib.sha1(b"tree\0")
    for path in sorted(p for p in files if p.startswith(folder + "/")):
        digest.update(f"{path}\0{files[path].oid}\n".encode())
    return digest.hexdigest()


def _folder_entry(files: dict[str, Blob], folder: str) -> dict[str, Any]:
    return {"type": "directory", "oid": _folder_oid(files, folder), "size": 0, "path": folder}


def _last_commit(repo: Repo, head: Commit, path: str) -> dict[str, Any]:
    """The newest commit of ``head``'s history that changed ``path`` (a file or a folder)."""

    def state(commit: Commit) -> Any:
        if path in commit.files:
            return commit.files[path].oid
        return tuple(sorted((p, b.oid) for p, b in commit.files.items() if p.startswith(path + "/")))

    history = repo.history(head)
    found = history[0]
    for older in history[1:]:
        if state(older) != state(found):
            break
        found = older
    return {"id": found.id, "title": found.title, "date": found.date}


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Parse one ``bytes=a-b`` range into inclusive bounds; None if it cannot be satisfied."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or (match.group(1) == "" and match.group(2) == ""):
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return None
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


# --------------------------------------------------------------------------------------------
# Request handling
# --------------------------------------------------------------------------------------------


class _HubHandler(http.server.BaseHTTPRequestHandler):
    """Parses a request, applies fault injection, dispatches it to a route, writes the response."""

    hub: HubServer  # set on the per-server subclass
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries a Content-Length
    server_version = "TestHub/1.0"

    # Quiet: the request log is kept on the HubServer instead of stderr.
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    # -- plumbing ----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        """The request body, with or without chunked transfer encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline().strip()
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self, method: str) -> None:
        hub = self.hub
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        entry = {"method": method, "path": path, "query": split.query, "user": None, "status": None}
        with hub._lock:
            hub.requests.append((method, path))
            hub.log.append(entry)
        try:
            body = self._read_body()
        except (ValueError, OSError) as exc:
            entry["status"] = 400
            self._send(Response(400, json.dumps({"error": f"unreadable body: {exc}"}).encode()), method)
            return

        fault = hub._take_fault(method, path)
        if fault is not None:
            response = _json_response({"error": f"injected failure ({fault.status})"}, fault.status)
        else:
            try:
                response = _route(hub, method, path, query, self.headers, body, entry)
            except HubError as err:
                response = _json_response({"error": err.message}, err.status)
                if err.code:
                    response.headers["X-Error-Code"] = err.code
                response.headers["X-Error-Message"] = err.message
            except Exception as exc:  # a bug in this server: answer 500 and keep serving
                logger.exception("hub server error on %s %s", method, path)
                response = _json_response({"error": f"server error: {exc!r}"}, 500)
        entry["status"] = response.status
        self._send(response, method)

    def _send(self, response: Response, method: str) -> None:
        self.send_response(response.status)
        headers = {"Content-Type": response.content_type, **response.headers}
        headers.setdefault("Content-Length", str(len(response.body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if method != "HEAD" and response.body:
            self.wfile.write(response.body)


# Route table: (method, compiled regex, handler).  Regexes match the raw (still-quoted) path;
# named groups are unquoted before they reach the handler.
_RepoPart = r"(?P<repo_id>[^/]+/[^/]+)"
_Routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = []


def _route_def(method: str, pattern: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    def register(func: Callable[..., Response]) -> Callable[..., Response]:
        _Routes.append((method, re.compile("^" + pattern + "$"), func))
        return func

    return register


def _route(hub: HubServer, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes,
           entry: dict[str, Any]) -> Response:
    for route_method, regex, func in _Routes:
        if route_method != method and not (route_method == "GET" and method == "HEAD"):
            continue
        match = regex.match(path)
        if match is None:
            continue
        params = {k: unquote(v) if v is not None else None for k, v in match.groupdict().items()}
        if "repo_type" in params:
            params["repo_type"] = _repo_type_from(params["repo_type"])
        with hub._lock:
            user = hub._user(headers)
            entry["user"] = user.name if user else None
            return func(hub, query=query, headers=headers, body=body, method=method, user=user, **params)
    with hub._lock:
        hub.unhandled.append((method, path))
    logger.warning("hub server: no route for %s %s", method, path)
    return _json_response({"error": f"no route for {method} {path}"}, 404)


def _repo_type_from(token: str) -> str:
    """``datasets``/``datasets/`` -> ``dataset``; empty (model URLs on the git side) -> ``model``."""
    token = token.strip("/")
    if token == "":
        return "model"
    singular = token[:-1] if token.endswith("s") else token
    if singular not in REPO_TYPES:
        raise HubError(400, f"unknown repo type {token!r}")
    return singular


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise HubError(400, f"invalid JSON body: {exc}") from None


# -- repositories -----------------------------------------------------------------------------


@_route_def("POST", r"/api/repos/create")
def _create_repo(hub: HubServer, body: bytes, user: User | None, **_: Any) -> Response:
    payload = _json_body(body)
    name, repo_type = payload.get("name"), payload.get("type") or "model"
    if repo_type not in REPO_TYPES or not name:
        raise HubError(400, "invalid repo type or name")
    namespace = payload.get("organization") or (user.name if user else "")
    writer = hub._writer(namespace, user, f"create a {repo_type} repository")
    repo_id = f"{namespace or writer.name}/{name}"
    key = (repo_type, repo_id)
    if key in hub.repos:
        # The client reads "url" from the body even on 409 when exist_ok=True.
        repo = hub.repos[key]
        return _json_response({"error": "You already created this repo", "url": hub._repo_url(repo)}, 409)
    private = payload.get("private") or payload.get("visibility") == "private"
    repo = Repo(repo_type, repo_id, bool(private), _now_iso())
    initial = hub._new_commit(repo, None, "initial commit", "", {".gitattributes": Blob(DEFAULT_GITATTRIBUTES.encode(), False)})
    repo.branches["main"] = initial.id
    hub.repos[key] = repo
    return _json_response({"url": hub._repo_url(repo), "name": repo_id, "id": hashlib.md5(repo_id.encode()).hexdigest()[:24]})


@_route_def("POST", r"/api/validate-yaml")
def _validate_yaml(hub: HubServer, body: bytes, **_: Any) -> Response:
    """What upload_folder asks before it sends a README.md: does its YAML header parse into a mapping?"""
    import yaml

    content = str((_json_body(body) or {}).get("content") or "")
    if content.startswith("---"):
        try:
            header = yaml.safe_load(content.split("---", 2)[1]) if content.count("---") >= 2 else None
        except yaml.YAMLError as exc:
            return _json_response({"errors": [{"message": f"Invalid YAML: {exc}"}], "warnings": []}, 400)
        if header is not None and not isinstance(header, dict):
            return _json_response({"errors": [{"message": "The YAML header must be a mapping"}], "warnings": []}, 400)
    return _json_response({"errors": [], "warnings": []})


@_route_def("GET", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"(?:/revision/(?P<revision>[^/]+))?")
def _repo_info(hub: HubServer, repo_type: str, repo_id: str, revision: str | None, query: dict, user: User | None,
               **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)  # public for gated repos too
    commit = hub._commit_at(repo, revision or "main")
    blobs = _truthy((query.get("blobs") or [None])[0])
    siblings = []
    for path in sorted(commit.files):
        sibling: dict[str, Any] = {"rfilename": path}
        if blobs:
            blob = commit.files[path]
            sibling.update(size=blob.size, blobId=blob.oid)
            if blob.lfs:
                sibling["lfs"] = {"size": blob.size, "sha256": blob.sha256, "pointerSize": len(blob.pointer)}
        siblings.append(sibling)
    return _json_response(
        {
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo.namespace,
            "sha": commit.id,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
        }
    )


@_route_def("GET", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/refs")
def _list_refs(hub: HubServer, repo_type: str, repo_id: str, user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)

    def refs(table: dict[str, str], kind: str) -> list[dict[str, str]]:
        return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": c} for n, c in sorted(table.items())]

    return _json_response({"branches": refs(repo.branches, "heads"), "tags": refs(repo.tags, "tags"), "converts": []})


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/tag/(?P<revision>[^/]+)")
def _create_tag(hub: HubServer, repo_type: str, repo_id: str, revision: str, body: bytes, user: User | None,
                **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)
    hub._writer(repo.namespace, user, "create a tag")
    commit = hub._commit_at(repo, revision)
    tag = _json_body(body).get("tag")
    if not tag or not isinstance(tag, str):
        raise HubError(400, "missing tag name")
    if tag in repo.tags:
        raise HubError(409, f"Tag {tag} already exists")
    repo.tags[tag] = commit.id
    return _json_response({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": commit.id})


@_route_def("PUT", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/settings")
def _update_settings(hub: HubServer, repo_type: str, repo_id: str, body: bytes, user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)
    hub._writer(repo.namespace, user, "change the settings of a repository")
    payload = _json_body(body) or {}
    if not isinstance(payload, dict):
        raise HubError(400, "settings must be a JSON object")
    unknown = sorted(set(payload) - {"gated", "private", "visibility"})
    if unknown:
        raise HubError(400, f"unknown setting {unknown[0]!r}")
    if "gated" in payload and payload["gated"] not in ("auto", "manual", False):
        raise HubError(400, f"invalid gated value {payload['gated']!r}: must be 'auto', 'manual' or false")
    if "visibility" in payload and payload["visibility"] not in ("public", "private"):
        raise HubError(400, f"invalid visibility {payload['visibility']!r}")
    if "private" in payload and not isinstance(payload["private"], bool):
        raise HubError(400, "private must be a boolean")
    if "gated" in payload:
        repo.gated = payload["gated"]
    if "visibility" in payload:
        repo.private = payload["visibility"] == "private"
    if "private" in payload:  # what older clients send
        repo.private = payload["private"]
    return _json_response({})


# -- listing ----------------------------------------------------------------------------------


@_route_def("GET", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/tree/(?P<revision>[^/]+)(?:/(?P<path>.*))?")
def _list_tree(hub: HubServer, repo_type: str, repo_id: str, revision: str, path: str | None, query: dict,
               user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)  # the file list of a gated repo is public
    commit = hub._commit_at(repo, revision)
    files = commit.files
    folder = (path or "").strip("/")
    recursive = _truthy((query.get("recursive") or [None])[0])
    expand = _truthy((query.get("expand") or [None])[0])
    folders = _folders(files)
    if folder and folder not in folders:
        raise HubError(404, f"{folder} does not exist on {revision}", "EntryNotFound")
    prefix = folder + "/" if folder else ""

    def below(p: str) -> bool:
        if not p.startswith(prefix):
            return False
        return recursive or "/" not in p[len(prefix):]

    entries = [_folder_entry(files, d) for d in sorted(folders) if below(d)]
    entries += [files[p].entry(p) for p in sorted(files) if below(p)]
    if expand:
        for e in entries:
            e["lastCommit"] = _last_commit(repo, commit, e["path"])
    return _json_response(entries)


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/paths-info/(?P<revision>[^/]+)")
def _paths_info(hub: HubServer, repo_type: str, repo_id: str, revision: str, headers: Any, body: bytes,
                user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)
    commit = hub._commit_at(repo, revision)
    # The client sends a form (paths=a&paths=b&expand=False); accept JSON as well.
    if "json" in headers.get("Content-Type", ""):
        payload = _json_body(body)
        paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        paths = [paths] if isinstance(paths, str) else paths
    else:
        form = parse_qs(body.decode(), keep_blank_values=True)
        paths, expand = form.get("paths", []), _truthy((form.get("expand") or [None])[0])
    folders = _folders(commit.files)
    out = []
    for raw in paths:
        p = raw.strip("/")
        if p in commit.files:
            entry = commit.files[p].entry(p)
        elif p in folders:
            entry = _folder_entry(commit.files, p)
        else:
            continue  # missing paths are simply left out, as on the Hub
        if expand:
            entry["lastCommit"] = _last_commit(repo, commit, p)
        out.append(entry)
    return _json_response(out)


# -- uploads: preupload, LFS batch/upload/verify, commit ---------------------------------------


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/preupload/(?P<revision>[^/]+)")
def _preupload(hub: HubServer, repo_type: str, repo_id: str, revision: str, body: bytes, query: dict,
               user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)
    if not _truthy((query.get("create_pr") or [None])[0]):
        hub._writer(repo.namespace, user, "upload files")
    elif user is None:
        raise HubError(401, "You must be authenticated to open a pull request (no token was sent)")
    commit = repo.resolve(revision)  # a branch that does not exist yet is fine (the commit will say)
    out = []
    for item in _json_body(body).get("files", []):
        path, size = item["path"], int(item.get("size", 0))
        sample = base64.b64decode(item.get("sample", ""))
        existing = commit.files.get(path) if commit else None
        mode = "lfs" if hub._is_lfs_path(path, size, sample) else "regular"
        # "oid" lets the client skip unchanged files: sha256 for LFS, git blob id otherwise.
        oid = None
        if existing is not None:
            oid = existing.sha256 if existing.lfs else existing.oid
        out.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
    return _json_response({"files": out, "commitOid": commit.id if commit else None})


@_route_def("POST", r"/(?P<repo_type>datasets/|spaces/|)" + _RepoPart + r"\.git/info/lfs/objects/batch")
def _lfs_batch(hub: HubServer, repo_type: str, repo_id: str, body: bytes, user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)
    if user is None:  # uploads need a token; the commit decides between a branch (write access) and a PR
        raise HubError(401, "You must be authenticated to upload files (no token was sent)")
    payload = _json_body(body)
    if payload.get("operation") != "upload":
        raise HubError(400, "only the upload operation is supported")
    objects = []
    for obj in payload.get("objects", []):
        oid, size = obj.get("oid"), obj.get("size")
        if not isinstance(oid, str) or not _SHA256_RE.match(oid) or not isinstance(size, int):
            objects.append({"oid": str(oid), "size": int(size or 0), "error": {"code": 422, "message": "invalid oid or size"}})
            continue
        entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
        if oid not in repo.lfs_objects:  # no "actions" means "already present upstream"
            base = f"{hub.endpoint}/__lfs/{repo_type}s/{repo_id}/{oid}"
            entry["actions"] = {
                "upload": {"href": f"{base}?size={size}", "header": {}},
                "verify": {"href": f"{base}/verify", "header": {}},
            }
        objects.append(entry)
    body_out = {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}
    return Response(body=json.dumps(body_out).encode(), content_type="application/vnd.git-lfs+json")


@_route_def("PUT", r"/__lfs/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/(?P<oid>[0-9a-f]{64})")
def _lfs_upload(hub: HubServer, repo_type: str, repo_id: str, oid: str, body: bytes, query: dict, **_: Any) -> Response:
    # a pre-signed storage URL on the Hub: no token is sent to it
    repo = hub.repos.get((repo_type, repo_id))
    if repo is None:
        raise HubError(404, "no such upload URL")
    expected_size = (query.get("size") or [None])[0]
    if expected_size is not None and int(expected_size) != len(body):
        raise HubError(400, f"size mismatch: expected {expected_size}, got {len(body)}")
    if hashlib.sha256(body).hexdigest() != oid:
        raise HubError(400, "sha256 of the uploaded content does not match the oid")
    repo.lfs_objects[oid] = body
    return Response(status=200, body=b"", headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})


@_route_def("POST", r"/__lfs/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/(?P<oid>[0-9a-f]{64})/verify")
def _lfs_verify(hub: HubServer, repo_type: str, repo_id: str, oid: str, body: bytes, **_: Any) -> Response:
    repo = hub.repos.get((repo_type, repo_id))
    if repo is None:
        raise HubError(404, "no such upload URL")
    payload = _json_body(body)
    data = repo.lfs_objects.get(oid)
    if data is None or payload.get("oid") != oid or payload.get("size") != len(data):
        raise HubError(404, f"LFS object {oid} not found or size mismatch")
    return _json_response({"success": True})


def _parse_commit_payload(body: bytes) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The NDJSON commit payload as its header value and its ``(key, value)`` operations."""
    header: dict[str, Any] = {}
    operations = []
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HubError(400, f"invalid NDJSON line: {exc}") from None
        key, value = item.get("key"), item.get("value") or {}
        if key == "header":
            header = value
        elif key in ("file", "lfsFile", "deletedFile", "deletedFolder"):
            operations.append((key, value))
        else:
            raise HubError(400, f"unknown commit operation {key!r}")
    if not header.get("summary"):
        raise HubError(400, "missing commit header/summary")
    return header, operations


def _apply_operations(repo: Repo, files: dict[str, Blob], operations: list[tuple[str, dict[str, Any]]]) -> dict[str, Blob]:
    """``files`` with the commit operations applied (a new dict)."""
    files = dict(files)
    for key, value in operations:
        if key == "file":
            if value.get("encoding", "base64") != "base64":
                raise HubError(400, f"unsupported encoding {value.get('encoding')!r}")
            try:
                data = base64.b64decode(value["content"], validate=True)
            except (binascii.Error, KeyError) as exc:
                raise HubError(400, f"bad file content for {value.get('path')}: {exc}") from None
            files[value["path"]] = Blob(data, False)
        elif key == "lfsFile":
            oid = value.get("oid")
            if oid not in repo.lfs_objects:
                raise HubError(400, f"LFS object {oid} for {value.get('path')} was never uploaded")
            data = repo.lfs_objects[oid]
            if "size" in value and value["size"] != len(data):
                raise HubError(400, f"size mismatch for {value.get('path')}")
            files[value["path"]] = Blob(data, True)
        elif key == "deletedFile":
            if value.get("path") not in files:
                raise HubError(404, f"{value.get('path')} does not exist", "EntryNotFound")
            del files[value["path"]]
        elif key == "deletedFolder":
            prefix = value.get("path", "").rstrip("/") + "/"
            doomed = [p for p in files if p.startswith(prefix)]
            if not doomed:
                raise HubError(404, f"folder {prefix} does not exist", "EntryNotFound")
            for p in doomed:
                del files[p]
    return files


def _check_benchmark(hub: HubServer, repo: Repo, before: dict[str, Blob], after: dict[str, Blob]) -> None:
    """The Hub validates a dataset's eval.yaml when it is pushed: a bad one fails the whole commit."""
    blob = after.get(EVAL_YAML)
    if repo.repo_type != "dataset" or blob is None or before.get(EVAL_YAML) == blob:
        return
    problem = eval_yaml_problem(blob.data, hub.evaluation_frameworks)
    if problem:
        raise HubError(400, f"Invalid {EVAL_YAML}: {problem}")


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/commit/(?P<revision>[^/]+)")
def _commit(hub: HubServer, repo_type: str, repo_id: str, revision: str, body: bytes, query: dict,
            user: User | None, **_: Any) -> Response:
    """A commit to a branch; with ``?create_pr=1`` a new pull request against the branch instead."""
    repo = hub._readable(repo_type, repo_id, user)
    create_pr = _truthy((query.get("create_pr") or [None])[0])
    if create_pr:
        if user is None:
            raise HubError(401, "You must be authenticated to open a pull request (no token was sent)")
        hub._downloadable(repo_type, repo_id, user)  # a PR on a gated repo needs access to it
    else:
        hub._writer(repo.namespace, user, "commit")
    if revision not in repo.branches:
        if repo.resolve(revision) is not None:
            raise HubError(400, f"Cannot commit to {revision}: not a branch")
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
    head = repo.commits[repo.branches[revision]]
    header, operations = _parse_commit_payload(body)
    title, description = header.get("summary", ""), header.get("description", "")
    parent = header.get("parentCommit")
    if parent and not head.id.startswith(parent):
        raise HubError(412, f"A commit has happened since {parent}: head is {head.id}")
    files = _apply_operations(repo, head.files, operations)
    _check_benchmark(hub, repo, head.files, files)
    commit = hub._new_commit(repo, head, title, description, files)
    pr_url = None
    if create_pr:
        pull = PullRequest(len(repo.discussions) + 1, title, description, user.name if user else "", revision)
        repo.discussions.append(pull)
        repo.pr_refs[pull.ref] = commit.id
        pr_url = f"{hub._repo_url(repo)}/discussions/{pull.num}"
    else:
        repo.branches[revision] = commit.id
    return _json_response(
        {
            "success": True,
            "commitOid": commit.id,
            "commitUrl": f"{hub._repo_url(repo)}/commit/{commit.id}",
            "commitMessage": title,
            "pullRequestUrl": pr_url,
        }
    )


# -- benchmarks -------------------------------------------------------------------------------


def _benchmark_task(hub: HubServer, repo: Repo) -> str | None:
    """The first task id of a registered benchmark (allow-listed, with an eval.yaml on main), or None."""
    import yaml

    blob = hub._commit_at(repo, "main").files.get(EVAL_YAML)
    if repo.repo_id not in hub.benchmark_allow_list or blob is None:
        return None
    return yaml.safe_load(blob.data)["tasks"][0]["id"]


@_route_def("GET", r"/api/datasets/" + _RepoPart + r"/leaderboard")
def _leaderboard(hub: HubServer, repo_id: str, query: dict, user: User | None, **_: Any) -> Response:
    import yaml

    repo = hub._readable("dataset", repo_id, user)
    task = _benchmark_task(hub, repo)
    if task is None:
        raise HubError(404, f"Dataset {repo_id} has no leaderboard: it is not a registered benchmark")
    entries = []
    for (kind, model_id), model in sorted(hub.repos.items()):
        if kind != "model" or model.private:
            continue
        for path, blob in sorted(hub._commit_at(model, "main").files.items()):
            if not (path.startswith(".eval_results/") and path.endswith((".yaml", ".yml"))):
                continue
            try:
                items = yaml.safe_load(blob.data) or []
            except yaml.YAMLError:
                continue  # the Hub reports such a file as invalid and leaves it out
            for item in items if isinstance(items, list) else []:
                dataset = item.get("dataset") if isinstance(item, dict) else None
                if isinstance(dataset, dict) and dataset.get("id") == repo_id and dataset.get("task_id") == task:
                    entries.append((model_id, path, item))
    entries.sort(key=lambda e: -float(e[2].get("value") or 0))
    return _json_response([
        {"rank": rank, "modelId": model_id, "value": item.get("value"), "filename": path, "verified": False,
         "source": item.get("source"), "notes": item.get("notes"), "pullRequest": None,
         "author": {"name": model_id.split("/")[0], "type": "user", "avatarUrl": ""}}
        for rank, (model_id, path, item) in enumerate(entries, start=1)])


# -- downloads --------------------------------------------------------------------------------


@_route_def("GET", r"/(?P<repo_type>datasets/|spaces/|)" + _RepoPart + r"/resolve/(?P<revision>[^/]+)/(?P<path>.+)")
def _resolve(hub: HubServer, repo_type: str, repo_id: str, revision: str, path: str, headers: Any,
             user: User | None, **_: Any) -> Response:
    repo = hub._downloadable(repo_type, repo_id, user)
    commit = hub._commit_at(repo, revision)
    blob = commit.files.get(path)
    if blob is None:
        raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
    common = {
        "X-Repo-Commit": commit.id,
        "ETag": f'"{blob.etag}"',
        "Accept-Ranges": "bytes",
    }
    if blob.lfs:
        # On the Hub these describe the LFS object behind the (redirected) pointer.
        common["X-Linked-Etag"] = f'"{blob.sha256}"'
        common["X-Linked-Size"] = str(blob.size)
    range_header = headers.get("Range")
    if range_header:
        bounds = _parse_range(range_header, blob.size)
        if bounds is None:
            return Response(416, b"", {**common, "Content-Range": f"bytes */{blob.size}"}, "application/octet-stream")
        start, end = bounds
        return Response(
            206,
            blob.data[start : end + 1],
            {**common, "Content-Range": f"bytes {start}-{end}/{blob.size}"},
            "application/octet-stream",
        )
    return Response(200, blob.data, common, "application/octet-stream")


__all__ = ["HubServer", "HubError", "Blob", "Commit", "PullRequest", "Repo", "User", "USER", "DEFAULT_TOKEN",
           "client_environment", "eval_yaml_problem", "git_blob_sha1", "lfs_pointer"]


def client_environment(endpoint: str, home: str, token: str | None = DEFAULT_TOKEN) -> dict[str, str]:
    """The environment of a client process pointed at a server: the test session's offline switches and proxies
    removed, classic LFS uploads (no Xet), its own HF_HOME, and a token (none with `token=None`: anonymous)."""
    import os

    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "HF_TOKEN",
                        "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH")
           and not k.lower().endswith("_proxy")}
    env.update(HF_ENDPOINT=endpoint, HF_HUB_DISABLE_XET="1", HF_HOME=home, HF_HUB_DISABLE_TELEMETRY="1",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    if token is not None:
        env["HF_TOKEN"] = token
    return env
