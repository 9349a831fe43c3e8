"""A small in-memory stand-in for the Hugging Face Hub HTTP API, for offline tests.

The real ``huggingface_hub`` client (``HfApi``, ``hf_hub_download``, ``HfFileSystem``) and
``datasets.load_dataset`` talk to it when the environment variable ``HF_ENDPOINT`` points at
:attr:`HubServer.endpoint` (and ``HF_HUB_DISABLE_XET=1``, so that uploads use the classic LFS
protocol instead of Xet storage).  Only the standard library is used.

What is modelled
----------------
* Repositories of type ``model``, ``dataset`` and ``space``, created with an initial commit
  that holds a ``.gitattributes`` file, as on the Hub.
* Immutable commits: each commit is a full snapshot ``{path: Blob}`` with a 40-hex id, a parent,
  a title, a message and a date.  Branches and tags are names that point at commit ids.
* Regular files (sent base64-encoded inside the NDJSON commit payload) and LFS files (announced
  to the LFS batch endpoint, PUT to an upload URL served here, verified, then referenced by
  their sha256 in the commit).
* The read side: repo info, refs, tree listing, paths-info, commit listing, and ``resolve``
  downloads with ``HEAD``, ``ETag``/``X-Repo-Commit``/``X-Linked-*`` headers and HTTP ``Range``.
* Pull requests and discussions, numbered from 1 per repo (one sequence for both kinds).
  ``create_commit(create_pr=True)`` (the client sends ``?create_pr=1`` on the commit and
  preupload endpoints) applies the operations on top of the branch it targets (or of the
  header's ``parentCommit``), stores the result under the git ref ``refs/pr/N``, opens PR N with
  the commit's title and description, leaves the branch where it was, and answers
  ``pullRequestUrl``.  ``refs/pr/N`` works as a revision everywhere (URL-encoded as
  ``refs%2Fpr%2FN`` by the client), a commit to ``revision="refs/pr/N"`` appends to the PR,
  and ``list_repo_refs(include_pull_requests=True)`` lists the PR refs.  Listing (filters
  ``type``/``status``/``author``, pages of 50), details (events, a unified ``diff``, conflicting
  files), ``create_discussion``/``create_pull_request`` (an empty PR is a ``draft`` whose ref
  points at the branch head until a commit lands on it), comments, renames, status changes and
  ``merge_pull_request``: a fast-forward when the target branch has not moved since the PR was
  opened, otherwise a file-level three-way merge (409 when both sides changed a file
  differently); the PR then reads ``merged`` with the merge commit's id.
* Repo settings (``update_repo_settings``): ``gated`` (``False``, ``"auto"``, ``"manual"``) and
  ``visibility``/``private`` are stored on :class:`Repo` and reported by repo info; any other
  setting sent is kept in :attr:`Repo.settings`.

Test helpers
------------
* :meth:`HubServer.fail_next` makes the next N requests whose path contains a substring answer
  with an error status (to exercise client retries).
* :attr:`HubServer.requests` logs every request as ``(method, path)``; :attr:`HubServer.log`
  has the same entries with the query string and the status that was answered.
* :attr:`HubServer.unhandled` lists requests no route matched (they answer 404 with a JSON
  ``{"error": ...}`` body and no ``X-Error-Code`` header), so missing endpoints are easy to spot.
* ``hub.get_repo(repo_id, repo_type).discussions`` is the repo's list of :class:`Discussion`
  objects (``num``, ``title``, ``is_pull_request``, ``status``, ``ref``, ``description``,
  ``target_branch``, ``events``...), :meth:`Repo.get_discussion` picks one by number,
  :attr:`Repo.pr_refs` maps ``refs/pr/N`` to commit ids, and :meth:`HubServer.files_at` accepts
  ``refs/pr/N`` like any other revision.

Errors use the Hub's ``X-Error-Code`` header (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``) so that the client raises its specific exception classes.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as _dt
import difflib
import fnmatch
import functools
import hashlib
import html
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

USER = "test-user"  # the author of every commit, discussion and event

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
class Discussion:
    """A discussion or a pull request; pull request ``num`` owns the git ref ``refs/pr/{num}``."""

    num: int
    title: str
    is_pull_request: bool
    status: str  # "open" or "closed"; PRs also "draft" (no commit yet) and "merged"
    description: str
    author: str
    created_at: str
    target_branch: str | None = None  # PRs: the branch they merge into
    base_commit: str | None = None  # PRs: the commit they were opened from
    merge_commit: str | None = None  # merged PRs: where the target branch moved to
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # as the API shows them

    @property
    def ref(self) -> str | None:
        return f"refs/pr/{self.num}" if self.is_pull_request else None


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
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)  # other settings, as sent
    discussions: list[Discussion] = dataclasses.field(default_factory=list)  # discussion N at index N-1
    pr_refs: dict[str, str] = dataclasses.field(default_factory=dict)  # "refs/pr/N" -> commit id

    def get_discussion(self, num: int) -> Discussion:
        """Discussion or pull request ``num``; KeyError if there is none."""
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
        self.requests: list[tuple[str, str]] = []
        self.log: list[dict[str, Any]] = []
        self.unhandled: list[tuple[str, str]] = []
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._commit_counter = 0
        self._event_counter = 0
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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

    def fail_next(self, path_substring: str, status: int = 500, times: int = 1, method: str | None = None) -> None:
        """Answer ``status`` to the next ``times`` requests whose path contains ``path_substring``."""
        with self._lock:
            self._faults.append(_Fault(path_substring, status, times, method.upper() if method else None))

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

    # -- helpers for handlers ----------------------------------------------------------------

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, f"Repository Not Found: {repo_type} {repo_id}", "RepoNotFound")
        return repo

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

    def _discussion(self, repo: Repo, num: str | int) -> Discussion:
        try:
            return repo.get_discussion(int(num))
        except (KeyError, ValueError):
            raise HubError(404, f"Discussion {num} not found on {repo.repo_id}") from None

    def _event(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """One entry of a discussion's ``events``, in the API's shape."""
        self._event_counter += 1
        event_id = hashlib.md5(f"event-{self._event_counter}".encode()).hexdigest()[:24]
        return {"id": event_id, "type": kind, "createdAt": _now_iso(), "author": _author_json(), "data": data}

    def _comment_event(self, text: str) -> dict[str, Any]:
        latest = {"raw": text, "html": f"<p>{html.escape(text)}</p>", "updatedAt": _now_iso(), "author": _author_json()}
        return self._event(
            "comment",
            {"edited": False, "hidden": False, "latest": latest, "numEdits": 0, "editors": [USER], "reactions": [],
             "isReport": False},
        )

    def _open_discussion(self, repo: Repo, title: str, description: str, pull_request: bool, **pr_fields: Any) -> Discussion:
        """Append discussion number len+1; its first event is the description as a comment."""
        discussion = Discussion(
            num=len(repo.discussions) + 1,
            title=title,
            is_pull_request=pull_request,
            status=pr_fields.pop("status", "open"),
            description=description,
            author=USER,
            created_at=_now_iso(),
            **pr_fields,
        )
        discussion.events.append(self._comment_event(description))
        repo.discussions.append(discussion)
        return discussion

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


def _three_way_merge(
    base: dict[str, Blob], ours: dict[str, Blob], theirs: dict[str, Blob]
) -> tuple[dict[str, Blob], list[str]]:
    """Merge ``theirs`` into ``ours`` (both descend from ``base``) file by file: the merged tree
    and the paths both sides changed differently."""
    merged: dict[str, Blob] = {}
    conflicts: list[str] = []
    for path in sorted(set(base) | set(ours) | set(theirs)):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if t == b:
            result = o
        elif o == b or o == t:
            result = t
        else:
            conflicts.append(path)
            continue
        if result is not None:
            merged[path] = result
    return merged, conflicts


def _diff(old: dict[str, Blob], new: dict[str, Blob]) -> str:
    """A ``git diff``-like text between two trees; LFS files show as their pointer files."""
    out: list[str] = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        out.append(f"diff --git a/{path} b/{path}\n")
        if a is None:
            out.append("new file mode 100644\n")
        elif b is None:
            out.append("deleted file mode 100644\n")
        name_a, name_b = (f"a/{path}" if a else "/dev/null"), (f"b/{path}" if b else "/dev/null")
        try:
            texts = [
                [] if blob is None else (blob.pointer if blob.lfs else blob.data).decode().splitlines(keepends=True)
                for blob in (a, b)
            ]
        except UnicodeDecodeError:
            out.append(f"Binary files {name_a} and {name_b} differ\n")
            continue
        for line in difflib.unified_diff(texts[0], texts[1], name_a, name_b):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


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

    def do_DELETE(self) -> None:
        self._handle("DELETE")

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
        entry = {"method": method, "path": path, "query": split.query, "status": None}
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
                response = _route(hub, method, path, query, self.headers, body)
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


def _route(hub: HubServer, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes) -> Response:
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
            return func(hub, query=query, headers=headers, body=body, method=method, **params)
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
def _create_repo(hub: HubServer, body: bytes, **_: Any) -> Response:
    payload = _json_body(body)
    name, organization = payload.get("name"), payload.get("organization")
    repo_type = payload.get("type") or "model"
    if repo_type not in REPO_TYPES or not name:
        raise HubError(400, "invalid repo type or name")
    repo_id = f"{organization or 'user'}/{name}"
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


@_route_def("DELETE", r"/api/repos/delete")
def _delete_repo(hub: HubServer, body: bytes, **_: Any) -> Response:
    payload = _json_body(body)
    repo_id = f"{payload.get('organization') or 'user'}/{payload.get('name')}"
    key = (payload.get("type") or "model", repo_id)
    if key not in hub.repos:
        raise HubError(404, f"Repository Not Found: {repo_id}", "RepoNotFound")
    del hub.repos[key]
    return _json_response({})


@_route_def("POST", r"/api/validate-yaml")
def _validate_yaml(hub: HubServer, **_: Any) -> Response:
    return _json_response({"errors": [], "warnings": []})


@_route_def("GET", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"(?:/revision/(?P<revision>[^/]+))?")
def _repo_info(hub: HubServer, repo_type: str, repo_id: str, revision: str | None, query: dict, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
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
            "author": repo_id.split("/")[0],
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
def _list_refs(hub: HubServer, repo_type: str, repo_id: str, query: dict, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)

    def refs(table: dict[str, str], kind: str) -> list[dict[str, str]]:
        return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": c} for n, c in sorted(table.items())]

    pulls = []
    if _truthy((query.get("include_prs") or [None])[0]):
        ordered = sorted(repo.pr_refs.items(), key=lambda item: int(item[0].rsplit("/", 1)[1]))
        pulls = [{"name": ref, "ref": ref, "targetCommit": c} for ref, c in ordered]
    return _json_response(
        {"branches": refs(repo.branches, "heads"), "tags": refs(repo.tags, "tags"), "converts": [], "pullRequests": pulls}
    )


@_route_def("GET", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/commits/(?P<revision>[^/]+)")
def _list_commits(hub: HubServer, repo_type: str, repo_id: str, revision: str, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
    head = hub._commit_at(repo, revision)
    return _json_response(
        [
            {"id": c.id, "authors": [{"user": USER}], "date": c.date, "title": c.title, "message": c.message}
            for c in repo.history(head)
        ]
    )


# -- tags and branches ------------------------------------------------------------------------


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/tag/(?P<revision>[^/]+)")
def _create_tag(hub: HubServer, repo_type: str, repo_id: str, revision: str, body: bytes, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
    commit = hub._commit_at(repo, revision)
    tag = _json_body(body).get("tag")
    if not tag or not isinstance(tag, str):
        raise HubError(400, "missing tag name")
    if tag in repo.tags:
        raise HubError(409, f"Tag {tag} already exists")
    repo.tags[tag] = commit.id
    return _json_response({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": commit.id})


@_route_def("DELETE", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/tag/(?P<tag>[^/]+)")
def _delete_tag(hub: HubServer, repo_type: str, repo_id: str, tag: str, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
    if tag not in repo.tags:
        raise HubError(404, f"Tag {tag} not found", "RevisionNotFound")
    del repo.tags[tag]
    return _json_response({})


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/branch/(?P<branch>[^/]+)")
def _create_branch(hub: HubServer, repo_type: str, repo_id: str, branch: str, body: bytes, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
    if branch.startswith("refs/"):
        raise HubError(400, f"Invalid reference for a branch: {branch}")
    if branch in repo.branches:
        raise HubError(409, f"Branch {branch} already exists")
    start = _json_body(body).get("startingPoint") or "main"
    repo.branches[branch] = hub._commit_at(repo, start).id
    return _json_response({})


@_route_def("DELETE", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/branch/(?P<branch>[^/]+)")
def _delete_branch(hub: HubServer, repo_type: str, repo_id: str, branch: str, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
    if branch not in repo.branches:
        raise HubError(404, f"Branch {branch} not found", "RevisionNotFound")
    if branch == "main":
        raise HubError(403, "Cannot delete the default branch")
    del repo.branches[branch]
    return _json_response({})


# -- listing ----------------------------------------------------------------------------------


@_route_def("GET", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/tree/(?P<revision>[^/]+)(?:/(?P<path>.*))?")
def _list_tree(hub: HubServer, repo_type: str, repo_id: str, revision: str, path: str | None, query: dict, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
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
def _paths_info(hub: HubServer, repo_type: str, repo_id: str, revision: str, headers: Any, body: bytes, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
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
def _preupload(hub: HubServer, repo_type: str, repo_id: str, revision: str, body: bytes, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
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
def _lfs_batch(hub: HubServer, repo_type: str, repo_id: str, body: bytes, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
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
    repo = hub._repo(repo_type, repo_id)
    expected_size = (query.get("size") or [None])[0]
    if expected_size is not None and int(expected_size) != len(body):
        raise HubError(400, f"size mismatch: expected {expected_size}, got {len(body)}")
    if hashlib.sha256(body).hexdigest() != oid:
        raise HubError(400, "sha256 of the uploaded content does not match the oid")
    repo.lfs_objects[oid] = body
    return Response(status=200, body=b"", headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})


@_route_def("POST", r"/__lfs/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/(?P<oid>[0-9a-f]{64})/verify")
def _lfs_verify(hub: HubServer, repo_type: str, repo_id: str, oid: str, body: bytes, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
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


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/commit/(?P<revision>[^/]+)")
def _commit(hub: HubServer, repo_type: str, repo_id: str, revision: str, body: bytes, query: dict, **_: Any) -> Response:
    """A commit to a branch or to ``refs/pr/N``; with ``?create_pr=1`` a new PR against the branch."""
    repo = hub._repo(repo_type, repo_id)
    create_pr = _truthy((query.get("create_pr") or [None])[0])
    pull: Discussion | None = None  # the PR a commit to refs/pr/N appends to
    if revision in repo.pr_refs:
        if create_pr:
            raise HubError(400, f"Cannot open a pull request against {revision}: not a branch")
        pull = hub._discussion(repo, revision.rsplit("/", 1)[1])
        if pull.status == "merged":
            raise HubError(400, f"Pull request #{pull.num} is merged: it takes no more commits")
        head = repo.commits[repo.pr_refs[revision]]
    elif revision in repo.branches:
        head = repo.commits[repo.branches[revision]]
    elif repo.resolve(revision) is not None:
        raise HubError(400, f"Cannot commit to {revision}: not a branch")
    else:
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
    header, operations = _parse_commit_payload(body)
    title, description = header.get("summary", ""), header.get("description", "")
    parent = header.get("parentCommit")
    if parent and create_pr:
        # The PR is opened from that commit rather than from the branch head.
        head = repo.resolve(parent) if _SHORT_SHA_RE.match(parent) else None
        if head is None:
            raise HubError(404, f"Invalid parent commit: {parent}", "RevisionNotFound")
    elif parent and not head.id.startswith(parent):
        raise HubError(412, f"A commit has happened since {parent}: head is {head.id}")
    files = _apply_operations(repo, head.files, operations)
    commit = hub._new_commit(repo, head, title, description, files)
    pr_url = None
    if create_pr:
        pull = hub._open_discussion(repo, title, description, True, target_branch=revision, base_commit=head.id)
        repo.pr_refs[pull.ref] = commit.id
        pr_url = f"{hub._repo_url(repo)}/discussions/{pull.num}"
    elif pull is not None:
        repo.pr_refs[revision] = commit.id
        if pull.status == "draft":
            pull.status = "open"
    else:
        repo.branches[revision] = commit.id
    if pull is not None:
        pull.events.append(hub._event("commit", {"subject": title, "oid": commit.id}))
    return _json_response(
        {
            "success": True,
            "commitOid": commit.id,
            "commitUrl": f"{hub._repo_url(repo)}/commit/{commit.id}",
            "commitMessage": title,
            "pullRequestUrl": pr_url,
        }
    )


# -- discussions and pull requests -------------------------------------------------------------

_DISCUSSIONS_PAGE = 50  # discussions per page of the listing, as on the Hub
_DiscussionPart = _RepoPart + r"/discussions/(?P<num>[0-9]+)"


def _author_json() -> dict[str, Any]:
    return {"_id": hashlib.md5(USER.encode()).hexdigest()[:24], "name": USER, "fullname": USER, "type": "user",
            "avatarUrl": "", "isPro": False, "isHf": False, "isMod": False, "isOwner": True}


def _discussion_json(hub: HubServer, repo: Repo, discussion: Discussion) -> dict[str, Any]:
    """A discussion as the listing shows it (details add events, changes, diff...)."""
    web = f"{hub._repo_url(repo)}/discussions/{discussion.num}"
    return {
        "num": discussion.num,
        "title": discussion.title,
        "status": discussion.status,
        "createdAt": discussion.created_at,
        "author": _author_json(),
        "isPullRequest": discussion.is_pull_request,
        "repo": {"name": repo.repo_id, "type": repo.repo_type},
        "url": {"web": web, "api": f"{hub.endpoint}/api/{repo.repo_type}s/{repo.repo_id}/discussions/{discussion.num}"},
        "numComments": sum(1 for e in discussion.events if e["type"] == "comment"),
        "pinned": False,
        "topReactions": [],
    }


def _pr_trees(repo: Repo, pull: Discussion) -> tuple[Commit, Commit, Commit]:
    """(base, target branch head, PR head) of a pull request."""
    base = repo.commits[pull.base_commit or ""]
    target = repo.commits[repo.branches[pull.target_branch]] if pull.target_branch in repo.branches else base
    return base, target, repo.commits[repo.pr_refs[pull.ref or ""]]


@_route_def("GET", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/discussions")
def _list_discussions(hub: HubServer, repo_type: str, repo_id: str, query: dict, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
    kind = (query.get("type") or ["all"])[0]
    status = (query.get("status") or ["all"])[0]
    author = (query.get("author") or [None])[0]
    try:
        page = int((query.get("p") or ["0"])[0])
    except ValueError:
        raise HubError(400, "invalid page number") from None
    selected = [
        d
        for d in reversed(repo.discussions)  # newest first
        if (kind in ("all", "") or (kind == "pull_request") == d.is_pull_request)
        and (status in ("all", "") or (d.status in ("open", "draft")) == (status == "open"))
        and (author is None or d.author == author)
    ]
    start = page * _DISCUSSIONS_PAGE
    return _json_response(
        {
            "discussions": [_discussion_json(hub, repo, d) for d in selected[start : start + _DISCUSSIONS_PAGE]],
            "count": len(selected),
            "start": start,
            "numClosedDiscussions": sum(1 for d in repo.discussions if d.status in ("closed", "merged")),
        }
    )


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/discussions")
def _create_discussion(hub: HubServer, repo_type: str, repo_id: str, body: bytes, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
    payload = _json_body(body) or {}
    title = str(payload.get("title") or "").strip()
    if not 3 <= len(title) <= 200:
        raise HubError(400, "The title must be between 3 and 200 characters long")
    description = str(payload.get("description") or "")
    if payload.get("pullRequest"):
        # An empty (draft) PR: its ref points at the head of main until a commit lands on it.
        head = hub._commit_at(repo, "main")
        discussion = hub._open_discussion(
            repo, title, description, True, status="draft", target_branch="main", base_commit=head.id
        )
        repo.pr_refs[discussion.ref or ""] = head.id
    else:
        discussion = hub._open_discussion(repo, title, description, False)
    out = _discussion_json(hub, repo, discussion)
    return _json_response({"num": discussion.num, "pullRequest": discussion.is_pull_request, "url": out["url"]})


@_route_def("GET", r"/api/(?P<repo_type>models|datasets|spaces)/" + _DiscussionPart)
def _discussion_details(hub: HubServer, repo_type: str, repo_id: str, num: str, query: dict, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
    discussion = hub._discussion(repo, num)
    out = _discussion_json(hub, repo, discussion)
    out.update(events=discussion.events, locked=False, isReport=False, pinned=False)
    if discussion.is_pull_request:
        base, target, head = _pr_trees(repo, discussion)
        changes: dict[str, Any] = {"base": f"refs/heads/{discussion.target_branch}"}
        conflicts: list[str] = []
        if discussion.merge_commit is not None:
            changes["mergeCommitId"] = discussion.merge_commit
        elif discussion.status in ("open", "draft"):
            conflicts = _three_way_merge(base.files, target.files, head.files)[1]
        out.update(changes=changes, filesWithConflicts=conflicts)
        if _truthy((query.get("diff") or [None])[0]):
            out["diff"] = _diff(base.files, head.files)
    return _json_response(out)


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _DiscussionPart + r"/comment")
def _comment_discussion(hub: HubServer, repo_type: str, repo_id: str, num: str, body: bytes, **_: Any) -> Response:
    discussion = hub._discussion(hub._repo(repo_type, repo_id), num)
    text = str((_json_body(body) or {}).get("comment") or "").strip()
    if not text:
        raise HubError(400, "empty comment")
    event = hub._comment_event(text)
    discussion.events.append(event)
    return _json_response({"newMessage": event})


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _DiscussionPart + r"/title")
def _rename_discussion(hub: HubServer, repo_type: str, repo_id: str, num: str, body: bytes, **_: Any) -> Response:
    discussion = hub._discussion(hub._repo(repo_type, repo_id), num)
    title = str((_json_body(body) or {}).get("title") or "").strip()
    if not 3 <= len(title) <= 200:
        raise HubError(400, "The title must be between 3 and 200 characters long")
    event = hub._event("title-change", {"from": discussion.title, "to": title})
    discussion.title = title
    discussion.events.append(event)
    return _json_response({"newTitle": event})


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _DiscussionPart + r"/status")
def _discussion_status(hub: HubServer, repo_type: str, repo_id: str, num: str, body: bytes, **_: Any) -> Response:
    discussion = hub._discussion(hub._repo(repo_type, repo_id), num)
    payload = _json_body(body) or {}
    status = payload.get("status")
    if status not in ("open", "closed"):
        raise HubError(400, f"invalid status {status!r}: must be 'open' or 'closed'")
    if discussion.status == "merged":
        raise HubError(400, f"Pull request #{discussion.num} is merged")
    if payload.get("comment"):
        discussion.events.append(hub._comment_event(str(payload["comment"])))
    discussion.status = status
    event = hub._event("status-change", {"status": status})
    discussion.events.append(event)
    return _json_response({"newStatus": event})


@_route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + _DiscussionPart + r"/merge")
def _merge_pull_request(hub: HubServer, repo_type: str, repo_id: str, num: str, body: bytes, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
    pull = hub._discussion(repo, num)
    if not pull.is_pull_request:
        raise HubError(400, f"#{pull.num} is a discussion, not a pull request")
    if pull.status != "open":
        raise HubError(400, f"Pull request #{pull.num} is {pull.status}: only open pull requests can be merged")
    if pull.target_branch not in repo.branches:
        raise HubError(404, f"Target branch {pull.target_branch} not found", "RevisionNotFound")
    base, target, head = _pr_trees(repo, pull)
    if target.id in {c.id for c in repo.history(head)}:
        merged = head  # the branch has not moved since: fast-forward
    else:
        files, conflicts = _three_way_merge(base.files, target.files, head.files)
        if conflicts:
            return _json_response({"error": "Merge conflict", "filesWithConflicts": conflicts}, 409)
        merged = hub._new_commit(repo, target, pull.title, f"Merge of {pull.ref}", files)
    repo.branches[pull.target_branch or "main"] = merged.id
    payload = _json_body(body) or {}
    if payload.get("comment"):
        pull.events.append(hub._comment_event(str(payload["comment"])))
    pull.status = "merged"
    pull.merge_commit = merged.id
    pull.events.append(hub._event("status-change", {"status": "merged"}))
    return _json_response({"mergeCommitId": merged.id})


# -- settings ---------------------------------------------------------------------------------


@_route_def("PUT", r"/api/(?P<repo_type>models|datasets|spaces)/" + _RepoPart + r"/settings")
def _update_settings(hub: HubServer, repo_type: str, repo_id: str, body: bytes, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
    payload = _json_body(body) or {}
    if not isinstance(payload, dict):
        raise HubError(400, "settings must be a JSON object")
    if "gated" in payload:
        if payload["gated"] not in ("auto", "manual", False):
            raise HubError(400, f"invalid gated value {payload['gated']!r}: must be 'auto', 'manual' or false")
    if "visibility" in payload:
        allowed = ("public", "private", "protected") if repo_type == "space" else ("public", "private")
        if payload["visibility"] not in allowed:
            raise HubError(400, f"invalid visibility {payload['visibility']!r}")
    if "private" in payload and not isinstance(payload["private"], bool):
        raise HubError(400, "private must be a boolean")
    for key, value in payload.items():
        if key == "gated":
            repo.gated = value
        elif key == "visibility":
            repo.private = value == "private"  # "protected" (Spaces only) is kept in settings
            repo.settings[key] = value
        elif key == "private":  # what older clients send
            repo.private = value
        else:
            repo.settings[key] = value
    return _json_response({})


# -- downloads --------------------------------------------------------------------------------


@_route_def("GET", r"/(?P<repo_type>datasets/|spaces/|)" + _RepoPart + r"/resolve/(?P<revision>[^/]+)/(?P<path>.+)")
def _resolve(hub: HubServer, repo_type: str, repo_id: str, revision: str, path: str, headers: Any, **_: Any) -> Response:
    repo = hub._repo(repo_type, repo_id)
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


__all__ = ["HubServer", "HubError", "Blob", "Commit", "Discussion", "Repo", "USER", "git_blob_sha1", "lfs_pointer"]


def client_environment(endpoint: str, home: str, token: str = "hf_secret_test_token") -> dict[str, str]:
    """The environment of a client process pointed at a server: the test session's offline switches and proxies
    removed, classic LFS uploads (no Xet), its own HF_HOME, and a token."""
    import os

    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_CACHE", "HF_DATASETS_CACHE")
           and not k.lower().endswith("_proxy")}
    env.update(HF_ENDPOINT=endpoint, HF_HUB_DISABLE_XET="1", HF_TOKEN=token, HF_HOME=home,
               HF_HUB_DISABLE_TELEMETRY="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return env
