"""The real huggingface_hub and datasets clients against the loopback Hub of ``hub_server``.

``huggingface_hub.constants`` reads ``HF_ENDPOINT`` when it is imported, and the suite's
conftest switches the whole process offline, so the client code runs in subprocesses whose
environment points at the server; the server runs in the pytest process, where the tests can
inspect its state, its request log and inject faults.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub_server import DEFAULT_TOKEN, HubServer, run_client

pytest.importorskip("huggingface_hub")
pytest.importorskip("datasets")

REPO = "org/ds"

README = """\
---
configs:
- config_name: all
  default: true
  data_files:
  - split: test
    path: data/all/test-*.parquet
- config_name: cats
  data_files:
  - split: test
    path: data/cats/test-*.parquet
---
# Test dataset

Two configs, one split each.
"""

# Rows per (version, config, shard). v1 has two "cats" shards; v2 drops the second one
# (upload_folder(delete_patterns=...) turns that into a deletedFile operation).
ROWS = {
    "v1": {
        ("all", "test-00000"): {"name": ["tom", "rex", "felix"], "version": [1, 1, 1]},
        ("cats", "test-00000"): {"name": ["tom"], "version": [1]},
        ("cats", "test-00001"): {"name": ["felix"], "version": [1]},
    },
    "v2": {
        ("all", "test-00000"): {"name": ["garfield", "odie"], "version": [2, 2]},
        ("cats", "test-00000"): {"name": ["garfield", "nermal"], "version": [2, 2]},
    },
}


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------


def write_version(folder: Path, version: str) -> Path:
    """A dataset folder (README with configs + parquet shards) for one version of the data."""
    import datasets  # only writes local files here; the Hub clients run in subprocesses

    (folder / "README.md").write_text(README)
    for (config, shard), columns in ROWS[version].items():
        out = folder / "data" / config / f"{shard}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_dict(columns).to_parquet(str(out))
    return folder


def names(version: str, config: str) -> list[str]:
    return [n for (c, _), cols in sorted(ROWS[version].items()) if c == config for n in cols["name"]]


@pytest.fixture(scope="module")
def published_v1(hub: HubServer, client_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """(a) create the repo twice, upload the v1 folder, tag it v1.0.0."""
    folder = write_version(tmp_path_factory.mktemp("v1"), "v1")
    return run_client(
        client_env,
        f"""
        import json
        from huggingface_hub import HfApi
        api = HfApi()
        url1 = api.create_repo({REPO!r}, repo_type="dataset", exist_ok=True)
        url2 = api.create_repo({REPO!r}, repo_type="dataset", exist_ok=True)
        info = api.upload_folder(folder_path={str(folder)!r}, repo_id={REPO!r}, repo_type="dataset",
                                 commit_message="v1 data")
        api.create_tag({REPO!r}, tag="v1.0.0", repo_type="dataset")
        refs = api.list_repo_refs({REPO!r}, repo_type="dataset")
        print(json.dumps({{"urls": [str(url1), str(url2)], "commit": info.oid,
                          "tags": {{t.name: t.target_commit for t in refs.tags}}}}))
        """,
    )


@pytest.fixture(scope="module")
def published_v2(hub: HubServer, client_env: dict[str, str], published_v1: dict, tmp_path_factory) -> dict:
    """(b, first half) upload changed rows over v1 (dropping a shard) and tag v1.1.0."""
    folder = write_version(tmp_path_factory.mktemp("v2"), "v2")
    return run_client(
        client_env,
        f"""
        import json
        from huggingface_hub import HfApi
        api = HfApi()
        info = api.upload_folder(folder_path={str(folder)!r}, repo_id={REPO!r}, repo_type="dataset",
                                 commit_message="v2 data", delete_patterns=["data/**"])
        api.create_tag({REPO!r}, tag="v1.1.0", repo_type="dataset")
        print(json.dumps({{"commit": info.oid}}))
        """,
    )


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_create_repo_upload_folder_and_tag(hub: HubServer, published_v1: dict) -> None:
    assert published_v1["urls"] == [f"{hub.endpoint}/datasets/{REPO}"] * 2
    creates = [entry["status"] for entry in hub.log if entry["path"] == "/api/repos/create"]
    assert creates[:2] == [200, 409]  # the second create_repo(exist_ok=True) got the Hub's conflict

    repo = hub.get_repo(REPO)
    assert repo.tags == {"v1.0.0": published_v1["commit"]}
    assert published_v1["tags"] == {"v1.0.0": published_v1["commit"]}
    snapshot = repo.commits[published_v1["commit"]].files
    assert sorted(snapshot) == [
        ".gitattributes",
        "README.md",
        "data/all/test-00000.parquet",
        "data/cats/test-00000.parquet",
        "data/cats/test-00001.parquet",
    ]
    # README went inline (base64 in the NDJSON commit), parquet shards through the LFS protocol.
    assert not snapshot["README.md"].lfs and snapshot["README.md"].data.decode().startswith("---\nconfigs:")
    assert all(snapshot[p].lfs for p in snapshot if p.endswith(".parquet"))
    assert all(snapshot[p].data.startswith(b"PAR1") for p in snapshot if p.endswith(".parquet"))
    paths = [path for _, path in hub.requests]
    assert f"/datasets/{REPO}.git/info/lfs/objects/batch" in paths
    assert any(p.startswith(f"/__lfs/datasets/{REPO}/") and p.endswith("/verify") for p in paths)
    assert hub.unhandled == []


def test_load_dataset_at_each_tag(hub: HubServer, client_env: dict[str, str], published_v2: dict) -> None:
    repo = hub.get_repo(REPO)
    assert repo.tags["v1.1.0"] == published_v2["commit"] == repo.branches["main"]
    assert "data/cats/test-00001.parquet" not in repo.commits[published_v2["commit"]].files  # deleted in v2

    hub.clear_log()
    result = run_client(
        client_env,
        f"""
        import json
        import datasets
        out = {{}}
        for rev in ("v1.0.0", "v1.1.0"):
            ds = datasets.load_dataset({REPO!r}, "cats", split="test", revision=rev)
            out[rev] = sorted(ds["name"])
        ds_all = datasets.load_dataset({REPO!r}, split="test", revision="v1.0.0")  # default config "all"
        out["all@v1.0.0"] = sorted(ds_all["name"])
        stream = datasets.load_dataset({REPO!r}, "cats", split="test", revision="v1.0.0", streaming=True)
        out["stream@v1.0.0"] = sorted(row["name"] for row in stream)
        print(json.dumps(out))
        """,
    )
    assert result["v1.0.0"] == sorted(names("v1", "cats"))
    assert result["v1.1.0"] == sorted(names("v2", "cats"))
    assert result["all@v1.0.0"] == sorted(names("v1", "all"))
    assert result["stream@v1.0.0"] == sorted(names("v1", "cats"))
    # Streaming reads parquet through HfFileSystem with ranged GETs on resolve.
    assert any(e["method"] == "GET" and "/resolve/" in e["path"] and e["status"] == 206 for e in hub.log)
    assert hub.unhandled == []


def test_duplicate_tag_is_a_conflict(hub: HubServer, client_env: dict[str, str], published_v2: dict, published_v1: dict) -> None:
    result = run_client(
        client_env,
        f"""
        import json
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError
        api = HfApi()
        try:
            api.create_tag({REPO!r}, tag="v1.0.0", repo_type="dataset")
            error = None
        except Exception as exc:
            error = {{"cls": type(exc).__name__, "is_http": isinstance(exc, HfHubHTTPError),
                     "status": getattr(getattr(exc, "response", None), "status_code", None)}}
        api.create_tag({REPO!r}, tag="v1.0.0", repo_type="dataset", exist_ok=True)  # tolerated
        refs = api.list_repo_refs({REPO!r}, repo_type="dataset")
        print(json.dumps({{"error": error, "tags": {{t.name: t.target_commit for t in refs.tags}}}}))
        """,
    )
    assert result["error"] is not None, "re-creating an existing tag must fail"
    assert result["error"]["is_http"] and result["error"]["status"] == 409, result["error"]
    assert result["tags"] == {"v1.0.0": published_v1["commit"], "v1.1.0": published_v2["commit"]}


def test_upload_retried_after_server_error(hub: HubServer, client_env: dict[str, str], tmp_path: Path) -> None:
    # The LFS batch call goes through http_backoff, which retries 5xx answers (after ~1 s).
    batch_path = "/datasets/org/retry.git/info/lfs/objects/batch"
    hub.fail_next(batch_path, status=500, times=1)
    hub.clear_log()
    result = run_client(
        client_env,
        """
        import json
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo("org/retry", repo_type="dataset")
        info = api.upload_file(path_or_fileobj=b"PAR1\\x00binary\\x00PAR1", path_in_repo="data/x.parquet",
                               repo_id="org/retry", repo_type="dataset")
        print(json.dumps({"commit": info.oid}))
        """,
    )
    attempts = [e["status"] for e in hub.log if e["method"] == "POST" and e["path"] == batch_path]
    assert attempts == [500, 200]
    assert hub.files_at("org/retry")["data/x.parquet"] == b"PAR1\x00binary\x00PAR1"
    assert hub.get_repo("org/retry").branches["main"] == result["commit"]


def test_raw_http_details(hub: HubServer, published_v2: dict, published_v1: dict) -> None:
    """Details the clients above only touch in passing: ranges, encoded revisions, errors."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy

    def call(method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(hub.endpoint + path, data=body, method=method, headers=headers or {})
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    readme = README.encode()
    base = f"/datasets/{REPO}/resolve"
    # Ranges: explicit, open-ended, suffix, unsatisfiable.
    assert call("GET", f"{base}/main/README.md", headers={"Range": "bytes=0-2"})[2] == readme[:3]
    status, headers, body = call("GET", f"{base}/main/README.md", headers={"Range": "bytes=4-"})
    assert (status, body, headers["Content-Range"]) == (206, readme[4:], f"bytes 4-{len(readme) - 1}/{len(readme)}")
    assert call("GET", f"{base}/main/README.md", headers={"Range": "bytes=-5"})[2] == readme[-5:]
    assert call("GET", f"{base}/main/README.md", headers={"Range": f"bytes={len(readme)}-"})[0] == 416
    # Revisions: a tag, a full and a short commit id, and a URL-encoded ref with slashes.
    v1_commit = published_v1["commit"]
    for rev in ("v1.0.0", v1_commit, v1_commit[:7]):
        status, headers, _ = call("HEAD", f"{base}/{rev}/data/cats/test-00001.parquet")
        assert status == 200 and headers["X-Repo-Commit"] == v1_commit
        assert headers["X-Linked-Size"] == headers["Content-Length"]  # an LFS file
    status, headers, _ = call("HEAD", f"{base}/refs%2Ftags%2Fv1.0.0/README.md")
    assert status == 200 and headers["X-Repo-Commit"] == v1_commit
    # Errors carry the Hub's X-Error-Code so that the client raises the right exception.
    assert call("HEAD", f"{base}/nope/README.md")[1].get("X-Error-Code") == "RevisionNotFound"
    assert call("HEAD", f"{base}/main/missing.txt")[1].get("X-Error-Code") == "EntryNotFound"
    assert call("GET", "/api/datasets/org/missing")[1].get("X-Error-Code") == "RepoNotFound"
    # Files of 10 MiB and more go to LFS even when they look like text.
    payload = {"files": [{"path": "big.txt", "size": 11 * 1024 * 1024, "sample": "aGVsbG8="},
                         {"path": "small.txt", "size": 5, "sample": "aGVsbG8="}]}
    status, _, body = call("POST", f"/api/datasets/{REPO}/preupload/main", json.dumps(payload).encode(),
                           {"Content-Type": "application/json", "Authorization": f"Bearer {DEFAULT_TOKEN}"})
    assert [f["uploadMode"] for f in json.loads(body)["files"]] == ["lfs", "regular"]
    # Unknown routes: 404 with a JSON error, and recorded for the test author.
    status, _, body = call("GET", "/api/not-a-route")
    assert status == 404 and "error" in json.loads(body)
    assert ("GET", "/api/not-a-route") in hub.unhandled
