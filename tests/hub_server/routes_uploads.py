"""The loopback Hub's write side: preupload, the LFS batch/upload/verify protocol, and commits (with pull
requests and the eval.yaml validation of a benchmark).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import TYPE_CHECKING, Any

from hub_server.routing import REPO_PART, json_body, route_def, truthy
from hub_server.store import (Blob, EVAL_YAML, HubError, PullRequest, Repo, Response, SHA256_RE, User,
                              eval_yaml_problem, json_response)

if TYPE_CHECKING:
    from hub_server.server import HubServer


@route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + REPO_PART + r"/preupload/(?P<revision>[^/]+)")
def _preupload(hub: HubServer, repo_type: str, repo_id: str, revision: str, body: bytes, query: dict,
               user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)
    if not truthy((query.get("create_pr") or [None])[0]):
        hub._writer(repo.namespace, user, "upload files")
    elif user is None:
        raise HubError(401, "You must be authenticated to open a pull request (no token was sent)")
    commit = repo.resolve(revision)  # a branch that does not exist yet is fine (the commit will say)
    out = []
    for item in json_body(body).get("files", []):
        path, size = item["path"], int(item.get("size", 0))
        sample = base64.b64decode(item.get("sample", ""))
        existing = commit.files.get(path) if commit else None
        mode = "lfs" if hub._is_lfs_path(path, size, sample) else "regular"
        # "oid" lets the client skip unchanged files: sha256 for LFS, git blob id otherwise.
        oid = None
        if existing is not None:
            oid = existing.sha256 if existing.lfs else existing.oid
        out.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
    return json_response({"files": out, "commitOid": commit.id if commit else None})

@route_def("POST", r"/(?P<repo_type>datasets/|spaces/|)" + REPO_PART + r"\.git/info/lfs/objects/batch")
def _lfs_batch(hub: HubServer, repo_type: str, repo_id: str, body: bytes, user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)
    if user is None:  # uploads need a token; the commit decides between a branch (write access) and a PR
        raise HubError(401, "You must be authenticated to upload files (no token was sent)")
    payload = json_body(body)
    if payload.get("operation") != "upload":
        raise HubError(400, "only the upload operation is supported")
    objects = []
    for obj in payload.get("objects", []):
        oid, size = obj.get("oid"), obj.get("size")
        if not isinstance(oid, str) or not SHA256_RE.match(oid) or not isinstance(size, int):
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

@route_def("PUT", r"/__lfs/(?P<repo_type>models|datasets|spaces)/" + REPO_PART + r"/(?P<oid>[0-9a-f]{64})")
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

@route_def("POST", r"/__lfs/(?P<repo_type>models|datasets|spaces)/" + REPO_PART + r"/(?P<oid>[0-9a-f]{64})/verify")
def _lfs_verify(hub: HubServer, repo_type: str, repo_id: str, oid: str, body: bytes, **_: Any) -> Response:
    repo = hub.repos.get((repo_type, repo_id))
    if repo is None:
        raise HubError(404, "no such upload URL")
    payload = json_body(body)
    data = repo.lfs_objects.get(oid)
    if data is None or payload.get("oid") != oid or payload.get("size") != len(data):
        raise HubError(404, f"LFS object {oid} not found or size mismatch")
    return json_response({"success": True})

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

@route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + REPO_PART + r"/commit/(?P<revision>[^/]+)")
def _commit(hub: HubServer, repo_type: str, repo_id: str, revision: str, body: bytes, query: dict,
            user: User | None, **_: Any) -> Response:
    """A commit to a branch; with ``?create_pr=1`` a new pull request against the branch instead."""
    repo = hub._readable(repo_type, repo_id, user)
    create_pr = truthy((query.get("create_pr") or [None])[0])
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
    return json_response(
        {
            "success": True,
            "commitOid": commit.id,
            "commitUrl": f"{hub._repo_url(repo)}/commit/{commit.id}",
            "commitMessage": title,
            "pullRequestUrl": pr_url,
        }
    )
