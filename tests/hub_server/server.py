"""The loopback Hub server: `HubServer` (users, tokens, grants, faults, the request log) and its HTTP handler,
and `client_environment` for client processes pointed at it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import http.server
import json
import subprocess
import sys
import textwrap
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hub_server import routes_repos, routes_uploads  # noqa: F401 - importing them registers their routes
from hub_server.routing import dispatch
from hub_server.store import (Blob, Commit, DEFAULT_LFS_PATTERNS, DEFAULT_ORGS, DEFAULT_TOKEN, EVALUATION_FRAMEWORKS,
                              Fault, HubError, INVALID_TOKEN, LFS_THRESHOLD, Repo, Response, URL_PREFIXES, USER, User,
                              json_response, logger, now_iso)


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
        self._faults: list[Fault] = []
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
            self._faults.append(Fault(path_substring, status, times, method.upper() if method else None))

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

    def _take_fault(self, method: str, path: str) -> Fault | None:
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
        commit = Commit(digest.hexdigest(), parent.id if parent else None, title, message, now_iso(), dict(files))
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
            response = json_response({"error": f"injected failure ({fault.status})"}, fault.status)
        else:
            try:
                response = dispatch(hub, method, path, query, self.headers, body, entry)
            except HubError as err:
                response = json_response({"error": err.message}, err.status)
                if err.code:
                    response.headers["X-Error-Code"] = err.code
                response.headers["X-Error-Message"] = err.message
            except Exception as exc:  # a bug in this server: answer 500 and keep serving
                logger.exception("hub server error on %s %s", method, path)
                response = json_response({"error": f"server error: {exc!r}"}, 500)
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


def run_client(env: dict[str, str], code: str, timeout: float = 120) -> dict:
    """Run ``code`` in a fresh interpreter; it must print one JSON object as its last stdout line."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"client failed (rc={proc.returncode})\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"client printed nothing\n--- stderr\n{proc.stderr}"
    return json.loads(lines[-1])
