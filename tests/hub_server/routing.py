"""How the loopback Hub dispatches a request: the route table (`route_def` registers a handler), the repo-type
and JSON-body parsing every handler shares, and the helpers of the tree and download endpoints.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import unquote

from hub_server.store import Blob, Commit, EVAL_YAML, HubError, REPO_TYPES, Repo, Response, json_response, logger

if TYPE_CHECKING:
    from hub_server.server import HubServer


def folders_of(files: dict[str, Blob]) -> set[str]:
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

def folder_entry(files: dict[str, Blob], folder: str) -> dict[str, Any]:
    return {"type": "directory", "oid": _folder_oid(files, folder), "size": 0, "path": folder}

def last_commit(repo: Repo, head: Commit, path: str) -> dict[str, Any]:
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

def parse_range(header: str, size: int) -> tuple[int, int] | None:
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

def truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")

# Route table: (method, compiled regex, handler).  Regexes match the raw (still-quoted) path;
# named groups are unquoted before they reach the handler.
REPO_PART = r"(?P<repo_id>[^/]+/[^/]+)"

ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = []

def route_def(method: str, pattern: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    def register(func: Callable[..., Response]) -> Callable[..., Response]:
        ROUTES.append((method, re.compile("^" + pattern + "$"), func))
        return func

    return register

def dispatch(hub: HubServer, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes,
           entry: dict[str, Any]) -> Response:
    for route_method, regex, func in ROUTES:
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
    return json_response({"error": f"no route for {method} {path}"}, 404)

def _repo_type_from(token: str) -> str:
    """``datasets``/``datasets/`` -> ``dataset``; empty (model URLs on the git side) -> ``model``."""
    token = token.strip("/")
    if token == "":
        return "model"
    singular = token[:-1] if token.endswith("s") else token
    if singular not in REPO_TYPES:
        raise HubError(400, f"unknown repo type {token!r}")
    return singular

def json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise HubError(400, f"invalid JSON body: {exc}") from None

def benchmark_task(hub: HubServer, repo: Repo) -> str | None:
    """The first task id of a registered benchmark (allow-listed, with an eval.yaml on main), or None."""
    import yaml

    blob = hub._commit_at(repo, "main").files.get(EVAL_YAML)
    if repo.repo_id not in hub.benchmark_allow_list or blob is None:
        return None
    return yaml.safe_load(blob.data)["tasks"][0]["id"]
