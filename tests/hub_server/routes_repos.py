"""The loopback Hub's read side and repository management: create, repo info, refs, tags, settings, tree,
paths-info, the leaderboard of a benchmark, and `resolve` downloads (with gating).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from hub_server.routing import (REPO_PART, benchmark_task, folder_entry, folders_of, json_body, last_commit,
                                parse_range, route_def, truthy)
from hub_server.store import (Blob, DEFAULT_GITATTRIBUTES, HubError, REPO_TYPES, Repo, Response, User, json_response,
                              now_iso)

if TYPE_CHECKING:
    from hub_server.server import HubServer


@route_def("POST", r"/api/repos/create")
def _create_repo(hub: HubServer, body: bytes, user: User | None, **_: Any) -> Response:
    payload = json_body(body)
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
        return json_response({"error": "You already created this repo", "url": hub._repo_url(repo)}, 409)
    private = payload.get("private") or payload.get("visibility") == "private"
    repo = Repo(repo_type, repo_id, bool(private), now_iso())
    initial = hub._new_commit(repo, None, "initial commit", "", {".gitattributes": Blob(DEFAULT_GITATTRIBUTES.encode(), False)})
    repo.branches["main"] = initial.id
    hub.repos[key] = repo
    return json_response({"url": hub._repo_url(repo), "name": repo_id, "id": hashlib.md5(repo_id.encode()).hexdigest()[:24]})

@route_def("POST", r"/api/validate-yaml")
def _validate_yaml(hub: HubServer, body: bytes, **_: Any) -> Response:
    """What upload_folder asks before it sends a README.md: does its YAML header parse into a mapping?"""
    import yaml

    content = str((json_body(body) or {}).get("content") or "")
    if content.startswith("---"):
        try:
            header = yaml.safe_load(content.split("---", 2)[1]) if content.count("---") >= 2 else None
        except yaml.YAMLError as exc:
            return json_response({"errors": [{"message": f"Invalid YAML: {exc}"}], "warnings": []}, 400)
        if header is not None and not isinstance(header, dict):
            return json_response({"errors": [{"message": "The YAML header must be a mapping"}], "warnings": []}, 400)
    return json_response({"errors": [], "warnings": []})

@route_def("GET", r"/api/(?P<repo_type>models|datasets|spaces)/" + REPO_PART + r"(?:/revision/(?P<revision>[^/]+))?")
def _repo_info(hub: HubServer, repo_type: str, repo_id: str, revision: str | None, query: dict, user: User | None,
               **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)  # public for gated repos too
    commit = hub._commit_at(repo, revision or "main")
    blobs = truthy((query.get("blobs") or [None])[0])
    siblings = []
    for path in sorted(commit.files):
        sibling: dict[str, Any] = {"rfilename": path}
        if blobs:
            blob = commit.files[path]
            sibling.update(size=blob.size, blobId=blob.oid)
            if blob.lfs:
                sibling["lfs"] = {"size": blob.size, "sha256": blob.sha256, "pointerSize": len(blob.pointer)}
        siblings.append(sibling)
    return json_response(
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

@route_def("GET", r"/api/(?P<repo_type>models|datasets|spaces)/" + REPO_PART + r"/refs")
def _list_refs(hub: HubServer, repo_type: str, repo_id: str, user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)

    def refs(table: dict[str, str], kind: str) -> list[dict[str, str]]:
        return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": c} for n, c in sorted(table.items())]

    return json_response({"branches": refs(repo.branches, "heads"), "tags": refs(repo.tags, "tags"), "converts": []})

@route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + REPO_PART + r"/tag/(?P<revision>[^/]+)")
def _create_tag(hub: HubServer, repo_type: str, repo_id: str, revision: str, body: bytes, user: User | None,
                **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)
    hub._writer(repo.namespace, user, "create a tag")
    commit = hub._commit_at(repo, revision)
    tag = json_body(body).get("tag")
    if not tag or not isinstance(tag, str):
        raise HubError(400, "missing tag name")
    if tag in repo.tags:
        raise HubError(409, f"Tag {tag} already exists")
    repo.tags[tag] = commit.id
    return json_response({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": commit.id})

@route_def("PUT", r"/api/(?P<repo_type>models|datasets|spaces)/" + REPO_PART + r"/settings")
def _update_settings(hub: HubServer, repo_type: str, repo_id: str, body: bytes, user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)
    hub._writer(repo.namespace, user, "change the settings of a repository")
    payload = json_body(body) or {}
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
    return json_response({})

@route_def("GET", r"/api/(?P<repo_type>models|datasets|spaces)/" + REPO_PART + r"/tree/(?P<revision>[^/]+)(?:/(?P<path>.*))?")
def _list_tree(hub: HubServer, repo_type: str, repo_id: str, revision: str, path: str | None, query: dict,
               user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)  # the file list of a gated repo is public
    commit = hub._commit_at(repo, revision)
    files = commit.files
    folder = (path or "").strip("/")
    recursive = truthy((query.get("recursive") or [None])[0])
    expand = truthy((query.get("expand") or [None])[0])
    folders = folders_of(files)
    if folder and folder not in folders:
        raise HubError(404, f"{folder} does not exist on {revision}", "EntryNotFound")
    prefix = folder + "/" if folder else ""

    def below(p: str) -> bool:
        if not p.startswith(prefix):
            return False
        return recursive or "/" not in p[len(prefix):]

    entries = [folder_entry(files, d) for d in sorted(folders) if below(d)]
    entries += [files[p].entry(p) for p in sorted(files) if below(p)]
    if expand:
        for e in entries:
            e["lastCommit"] = last_commit(repo, commit, e["path"])
    return json_response(entries)

@route_def("POST", r"/api/(?P<repo_type>models|datasets|spaces)/" + REPO_PART + r"/paths-info/(?P<revision>[^/]+)")
def _paths_info(hub: HubServer, repo_type: str, repo_id: str, revision: str, headers: Any, body: bytes,
                user: User | None, **_: Any) -> Response:
    repo = hub._readable(repo_type, repo_id, user)
    commit = hub._commit_at(repo, revision)
    # The client sends a form (paths=a&paths=b&expand=False); accept JSON as well.
    if "json" in headers.get("Content-Type", ""):
        payload = json_body(body)
        paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        paths = [paths] if isinstance(paths, str) else paths
    else:
        form = parse_qs(body.decode(), keep_blank_values=True)
        paths, expand = form.get("paths", []), truthy((form.get("expand") or [None])[0])
    folders = folders_of(commit.files)
    out = []
    for raw in paths:
        p = raw.strip("/")
        if p in commit.files:
            entry = commit.files[p].entry(p)
        elif p in folders:
            entry = folder_entry(commit.files, p)
        else:
            continue  # missing paths are simply left out, as on the Hub
        if expand:
            entry["lastCommit"] = last_commit(repo, commit, p)
        out.append(entry)
    return json_response(out)

def declares_base_model(card: Any) -> bool:
    """Whether a model card's YAML header names a `base_model` (the model is a fine-tune or other derivative)."""
    import yaml

    if card is None:
        return False
    text = card.data.decode("utf-8", errors="replace")
    if not text.startswith("---"):
        return False
    try:
        header = yaml.safe_load(text.split("---", 2)[1])
    except yaml.YAMLError:
        return False
    return isinstance(header, dict) and bool(header.get("base_model"))


@route_def("GET", r"/api/datasets/" + REPO_PART + r"/leaderboard")
def _leaderboard(hub: HubServer, repo_id: str, query: dict, user: User | None, **_: Any) -> Response:
    import yaml

    repo = hub._readable("dataset", repo_id, user)
    task = benchmark_task(hub, repo)
    if task is None:
        raise HubError(404, f"Dataset {repo_id} has no leaderboard: it is not a registered benchmark")
    base_models_only = str((query.get("base_model") or ["true"])[0]).lower() != "false"  # the Hub default: true
    entries = []
    for (kind, model_id), model in sorted(hub.repos.items()):
        if kind != "model" or model.private:
            continue
        files = hub._commit_at(model, "main").files
        if base_models_only and declares_base_model(files.get("README.md")):
            continue
        for path, blob in sorted(files.items()):
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
    return json_response([
        {"rank": rank, "modelId": model_id, "value": item.get("value"), "filename": path, "verified": False,
         "source": item.get("source"), "notes": item.get("notes"), "pullRequest": None,
         "author": {"name": model_id.split("/")[0], "type": "user", "avatarUrl": ""}}
        for rank, (model_id, path, item) in enumerate(entries, start=1)])

@route_def("GET", r"/(?P<repo_type>datasets/|spaces/|)" + REPO_PART + r"/resolve/(?P<revision>[^/]+)/(?P<path>.+)")
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
        bounds = parse_range(range_header, blob.size)
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
