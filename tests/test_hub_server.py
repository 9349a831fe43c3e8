"""The real huggingface_hub and datasets clients against the loopback Hub of ``hub_server``.

``huggingface_hub.constants`` reads ``HF_ENDPOINT`` when it is imported, and the suite's
conftest switches the whole process offline, so the client code runs in subprocesses whose
environment points at the server; the server runs in the pytest process, where the tests can
inspect its state, its request log and inject faults.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hub_server import HubServer, client_environment

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


@pytest.fixture(scope="module")
def client_env(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of the client subprocesses: online, pointed at the loopback Hub."""
    env = client_environment(hub.endpoint, str(tmp_path_factory.mktemp("client_hf_home")), "hf_test_token")
    env.update(HF_HUB_DISABLE_PROGRESS_BARS="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1", PYTHONUNBUFFERED="1")
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
    # Revisions: a tag, a full and a short commit id, and a URL-encoded branch name with a slash.
    v1_commit = published_v1["commit"]
    for rev in ("v1.0.0", v1_commit, v1_commit[:7]):
        status, headers, _ = call("HEAD", f"{base}/{rev}/data/cats/test-00001.parquet")
        assert status == 200 and headers["X-Repo-Commit"] == v1_commit
        assert headers["X-Linked-Size"] == headers["Content-Length"]  # an LFS file
    status, _, _ = call("POST", f"/api/datasets/{REPO}/branch/feature%2Fx", json.dumps({"startingPoint": "v1.0.0"}).encode())
    assert status == 200
    status, headers, _ = call("HEAD", f"{base}/feature%2Fx/README.md")
    assert status == 200 and headers["X-Repo-Commit"] == v1_commit
    # Errors carry the Hub's X-Error-Code so that the client raises the right exception.
    assert call("HEAD", f"{base}/nope/README.md")[1].get("X-Error-Code") == "RevisionNotFound"
    assert call("HEAD", f"{base}/main/missing.txt")[1].get("X-Error-Code") == "EntryNotFound"
    assert call("GET", "/api/datasets/org/missing")[1].get("X-Error-Code") == "RepoNotFound"
    # Files of 10 MiB and more go to LFS even when they look like text.
    payload = {"files": [{"path": "big.txt", "size": 11 * 1024 * 1024, "sample": "aGVsbG8="},
                         {"path": "small.txt", "size": 5, "sample": "aGVsbG8="}]}
    status, _, body = call("POST", f"/api/datasets/{REPO}/preupload/main", json.dumps(payload).encode(),
                           {"Content-Type": "application/json"})
    assert [f["uploadMode"] for f in json.loads(body)["files"]] == ["lfs", "regular"]
    # Unknown routes: 404 with a JSON error, and recorded for the test author.
    status, _, body = call("GET", "/api/not-a-route")
    assert status == 404 and "error" in json.loads(body)
    assert ("GET", "/api/not-a-route") in hub.unhandled


# --------------------------------------------------------------------------------------------
# Pull requests, discussions and repo settings
# --------------------------------------------------------------------------------------------

PR_REPO = "org/prs"


def test_create_commit_with_create_pr(hub: HubServer, client_env: dict[str, str]) -> None:
    """create_commit(create_pr=True) opens PR #1 on refs/pr/1; main stays; refs/pr/1 reads and takes commits."""
    hub.clear_log()
    result = run_client(
        client_env,
        f"""
        import json
        from huggingface_hub import HfApi, CommitOperationAdd, CommitOperationDelete, hf_hub_download
        api = HfApi()
        api.create_repo({PR_REPO!r}, repo_type="dataset")
        base = api.upload_file(path_or_fileobj=b"old notes\\n", path_in_repo="notes.txt", repo_id={PR_REPO!r},
                               repo_type="dataset", commit_message="notes")
        info = api.create_commit(
            {PR_REPO!r}, repo_type="dataset", create_pr=True,
            operations=[CommitOperationAdd("data/new.txt", b"hello pr\\n"),
                        CommitOperationAdd("data/x.parquet", b"PAR1\\x00pr-binary\\x00PAR1"),
                        CommitOperationDelete("notes.txt")],
            commit_message="Add new data", commit_description="Adds two files, drops the notes.",
        )
        out = {{"base": base.oid, "oid": info.oid, "pr_url": info.pr_url, "pr_num": info.pr_num,
               "pr_revision": info.pr_revision, "commit_url": info.commit_url}}
        out["main_sha"] = api.dataset_info({PR_REPO!r}).sha
        out["main_files"] = sorted(api.list_repo_files({PR_REPO!r}, repo_type="dataset"))
        out["pr_files"] = sorted(api.list_repo_files({PR_REPO!r}, repo_type="dataset", revision="refs/pr/1"))
        path = hf_hub_download({PR_REPO!r}, "data/new.txt", repo_type="dataset", revision="refs/pr/1")
        out["downloaded"] = open(path).read()
        listed = list(api.get_repo_discussions({PR_REPO!r}, repo_type="dataset"))
        out["listed"] = [{{"num": d.num, "title": d.title, "status": d.status, "author": d.author,
                          "is_pr": d.is_pull_request, "repo": d.repo_id, "type": d.repo_type}} for d in listed]
        details = api.get_discussion_details({PR_REPO!r}, 1, repo_type="dataset")
        out["details"] = {{"ref": details.git_reference, "target": details.target_branch, "status": details.status,
                          "conflicts": details.conflicting_files, "diff": details.diff, "url": details.url,
                          "events": [(e.type, getattr(e, "content", None) or getattr(e, "summary", None))
                                     for e in details.events]}}
        second = api.create_commit({PR_REPO!r}, repo_type="dataset", revision="refs/pr/1",
                                   operations=[CommitOperationAdd("data/more.txt", b"more\\n")],
                                   commit_message="More data")
        out["second"] = {{"oid": second.oid, "pr_url": second.pr_url}}
        out["pr_files_after"] = sorted(api.list_repo_files({PR_REPO!r}, repo_type="dataset", revision="refs/pr/1"))
        out["pr_commits"] = [c.title for c in api.list_repo_commits({PR_REPO!r}, repo_type="dataset", revision="refs/pr/1")]
        refs = api.list_repo_refs({PR_REPO!r}, repo_type="dataset", include_pull_requests=True)
        out["pr_refs"] = {{r.ref: r.target_commit for r in refs.pull_requests}}
        out["events_after"] = [e.type for e in api.get_discussion_details({PR_REPO!r}, 1, repo_type="dataset").events]
        print(json.dumps(out))
        """,
    )
    # The client's view: PR #1, with the commit on its ref.
    assert result["pr_num"] == 1 and result["pr_revision"] == "refs/pr/1"
    assert result["pr_url"] == f"{hub.endpoint}/datasets/{PR_REPO}/discussions/1"
    assert result["commit_url"] == f"{hub.endpoint}/datasets/{PR_REPO}/commit/{result['oid']}"
    assert result["main_sha"] == result["base"] != result["oid"]
    assert result["main_files"] == [".gitattributes", "notes.txt"]
    assert result["pr_files"] == [".gitattributes", "data/new.txt", "data/x.parquet"]
    assert result["downloaded"] == "hello pr\n"
    assert result["listed"] == [{"num": 1, "title": "Add new data", "status": "open", "author": "test-user",
                                 "is_pr": True, "repo": PR_REPO, "type": "dataset"}]
    details = result["details"]
    assert (details["ref"], details["target"], details["status"]) == ("refs/pr/1", "refs/heads/main", "open")
    assert details["conflicts"] == [] and details["url"] == result["pr_url"]
    assert details["events"] == [["comment", "Adds two files, drops the notes."], ["commit", "Add new data"]]
    assert "+++ b/data/new.txt" in details["diff"] and "+hello pr" in details["diff"]
    assert "deleted file mode" in details["diff"] and "-old notes" in details["diff"]
    assert "+oid sha256:" in details["diff"]  # the LFS file shows as its pointer
    # A commit to refs/pr/1 appends to the PR and opens no new one.
    assert result["second"]["pr_url"] is None
    assert result["pr_files_after"] == [".gitattributes", "data/more.txt", "data/new.txt", "data/x.parquet"]
    assert result["pr_commits"][:3] == ["More data", "Add new data", "notes"]
    assert result["pr_refs"] == {"refs/pr/1": result["second"]["oid"]}
    assert result["events_after"] == ["comment", "commit", "commit"]

    # The server's view, through the test helpers.
    repo = hub.get_repo(PR_REPO)
    assert repo.branches["main"] == result["base"]
    assert [(d.num, d.title, d.is_pull_request, d.status, d.ref) for d in repo.discussions] == [
        (1, "Add new data", True, "open", "refs/pr/1")
    ]
    assert repo.get_discussion(1).description == "Adds two files, drops the notes."
    assert repo.commits[result["oid"]].parent == result["base"]
    pr_files = hub.files_at(PR_REPO, revision="refs/pr/1")
    assert pr_files["data/more.txt"] == b"more\n" and pr_files["data/new.txt"] == b"hello pr\n"
    assert repo.commits[result["oid"]].files["data/x.parquet"].lfs  # went through the LFS protocol
    assert "notes.txt" not in pr_files and hub.files_at(PR_REPO)["notes.txt"] == b"old notes\n"
    # How 2.4.0 sends it: ?create_pr=1 on preupload and commit, the target branch in the path.
    pr_calls = {(e["path"], e["query"]) for e in hub.log if "create_pr" in e["query"]}
    assert pr_calls == {(f"/api/datasets/{PR_REPO}/preupload/main", "create_pr=1"),
                        (f"/api/datasets/{PR_REPO}/commit/main", "create_pr=1")}
    assert any(e["path"] == f"/api/datasets/{PR_REPO}/commit/refs%2Fpr%2F1" and e["status"] == 200 for e in hub.log)
    assert hub.unhandled == []


def test_upload_with_create_pr_discussions_and_merge(hub: HubServer, client_env: dict[str, str], tmp_path: Path) -> None:
    """upload_file/upload_folder(create_pr=True) on a model repo, a plain discussion, status changes, merges."""
    repo_id = "org/pr-model"
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "config.json").write_text('{"layers": 2}\n')
    (folder / "shared.txt").write_text("from the folder PR\n")
    hub.clear_log()
    result = run_client(
        client_env,
        f"""
        import json
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError
        api = HfApi()
        api.create_repo({repo_id!r})
        base = api.upload_file(path_or_fileobj=b"v0\\n", path_in_repo="shared.txt", repo_id={repo_id!r},
                               commit_message="base")
        pr1 = api.upload_file(path_or_fileobj=b"weights", path_in_repo="model.txt", repo_id={repo_id!r},
                              commit_message="Add model file", create_pr=True)
        disc = api.create_discussion({repo_id!r}, "Question about data", description="Where is it from?")
        pr3 = api.upload_folder(folder_path={str(folder)!r}, repo_id={repo_id!r}, commit_message="Add folder",
                                create_pr=True)
        out = {{"base": base.oid, "pr1": [pr1.pr_num, pr1.pr_url, pr1.oid], "pr3": [pr3.pr_num, pr3.pr_url, pr3.oid],
               "disc": [disc.num, disc.is_pull_request, disc.git_reference, disc.status, disc.title,
                        [e.type for e in disc.events]]}}
        out["prs"] = [d.num for d in api.get_repo_discussions({repo_id!r}, discussion_type="pull_request")]
        out["discussions"] = [d.num for d in api.get_repo_discussions({repo_id!r}, discussion_type="discussion")]
        closed = api.change_discussion_status({repo_id!r}, 2, "closed", comment="Answered")
        out["closed"] = [closed.type, closed.new_status]
        out["open"] = [d.num for d in api.get_repo_discussions({repo_id!r}, discussion_status="open")]
        out["main_before"] = api.model_info({repo_id!r}).sha
        api.merge_pull_request({repo_id!r}, 3)  # main has not moved: a fast-forward
        out["main_after_3"] = api.model_info({repo_id!r}).sha
        d3 = api.get_discussion_details({repo_id!r}, 3)
        out["d3"] = [d3.status, d3.merge_commit_oid]
        d1 = api.get_discussion_details({repo_id!r}, 1)
        out["d1_conflicts"] = d1.conflicting_files
        api.merge_pull_request({repo_id!r}, 1)  # main moved: a three-way merge
        out["main_after_1"] = api.model_info({repo_id!r}).sha
        out["main_files"] = sorted(api.list_repo_files({repo_id!r}))
        try:
            api.merge_pull_request({repo_id!r}, 2)
            out["merge_discussion"] = None
        except HfHubHTTPError as exc:
            out["merge_discussion"] = exc.response.status_code
        # Two PRs that change shared.txt differently: the second cannot merge once the first has.
        a = api.upload_file(path_or_fileobj=b"side a\\n", path_in_repo="shared.txt", repo_id={repo_id!r},
                            commit_message="Side A", create_pr=True)
        b = api.upload_file(path_or_fileobj=b"side b\\n", path_in_repo="shared.txt", repo_id={repo_id!r},
                            commit_message="Side B", create_pr=True)
        api.merge_pull_request({repo_id!r}, a.pr_num)
        out["b_conflicts"] = api.get_discussion_details({repo_id!r}, b.pr_num).conflicting_files
        try:
            api.merge_pull_request({repo_id!r}, b.pr_num)
            out["conflict"] = None
        except HfHubHTTPError as exc:
            out["conflict"] = exc.response.status_code
        # A PR from an older commit (parent_commit) carries that commit's tree.
        old = api.upload_file(path_or_fileobj=b"late\\n", path_in_repo="late.txt", repo_id={repo_id!r},
                              commit_message="From the base", create_pr=True, parent_commit=base.oid)
        out["old"] = [old.pr_num, sorted(api.list_repo_files({repo_id!r}, revision=old.pr_revision))]
        out["ab"] = [a.pr_num, b.pr_num]
        # An empty PR is a draft on main's head; a commit on its ref opens it.
        draft = api.create_pull_request({repo_id!r}, "Draft PR", description="To be filled")
        out["draft"] = [draft.num, draft.status, draft.git_reference, draft.diff,
                        sorted(api.list_repo_files({repo_id!r}, revision=draft.git_reference)) ==
                        sorted(api.list_repo_files({repo_id!r}))]
        try:
            api.merge_pull_request({repo_id!r}, draft.num)
            out["merge_draft"] = None
        except HfHubHTTPError as exc:
            out["merge_draft"] = exc.response.status_code
        api.upload_file(path_or_fileobj=b"filled\\n", path_in_repo="draft.txt", repo_id={repo_id!r},
                        revision=draft.git_reference, commit_message="Fill the draft")
        renamed = api.rename_discussion({repo_id!r}, draft.num, "Filled PR")
        comment = api.comment_discussion({repo_id!r}, draft.num, "Ready now")
        after = api.get_discussion_details({repo_id!r}, draft.num)
        out["filled"] = [after.status, after.title, [renamed.old_title, renamed.new_title], comment.content,
                         [e.type for e in after.events]]
        print(json.dumps(out))
        """,
    )
    endpoint = hub.endpoint
    assert result["pr1"][:2] == [1, f"{endpoint}/{repo_id}/discussions/1"]  # model URLs have no prefix
    assert result["pr3"][:2] == [3, f"{endpoint}/{repo_id}/discussions/3"]
    assert result["disc"] == [2, False, None, "open", "Question about data", ["comment"]]
    assert result["prs"] == [3, 1] and result["discussions"] == [2]  # newest first, as on the Hub
    assert result["closed"] == ["status-change", "closed"]
    assert result["open"] == [3, 1]
    assert result["main_before"] == result["base"]
    assert result["main_after_3"] == result["pr3"][2]  # main moved to the PR head
    assert result["d3"] == ["merged", result["pr3"][2]]
    assert result["d1_conflicts"] == []
    assert result["main_after_1"] not in (result["pr1"][2], result["main_after_3"])  # a merge commit
    assert result["main_files"] == [".gitattributes", "model.txt", "shared.txt", "sub/config.json"]
    assert result["merge_discussion"] == 400
    assert result["ab"] == [4, 5]
    assert result["b_conflicts"] == ["shared.txt"] and result["conflict"] == 409
    assert result["old"] == [6, [".gitattributes", "late.txt", "shared.txt"]]
    assert result["draft"] == [7, "draft", "refs/pr/7", "", True]
    assert result["merge_draft"] == 400
    assert result["filled"] == ["open", "Filled PR", ["Draft PR", "Filled PR"], "Ready now",
                                ["comment", "commit", "title-change", "comment"]]

    repo = hub.get_repo(repo_id, repo_type="model")
    assert [(d.num, d.is_pull_request, d.status) for d in repo.discussions] == [
        (1, True, "merged"), (2, False, "closed"), (3, True, "merged"), (4, True, "merged"), (5, True, "open"),
        (6, True, "open"), (7, True, "open"),
    ]
    assert repo.discussions[1].ref is None and repo.discussions[1].description == "Where is it from?"
    assert [e["type"] for e in repo.discussions[1].events] == ["comment", "comment", "status-change"]
    main = hub.files_at(repo_id, repo_type="model")
    assert main["shared.txt"] == b"side a\n" and main["model.txt"] == b"weights"
    assert main["sub/config.json"] == b'{"layers": 2}\n'
    assert hub.files_at(repo_id, revision="refs/pr/5", repo_type="model")["shared.txt"] == b"side b\n"
    assert hub.files_at(repo_id, revision="refs/pr/6", repo_type="model")["shared.txt"] == b"v0\n"
    assert repo.commits[repo.pr_refs["refs/pr/6"]].parent == result["base"]
    assert hub.files_at(repo_id, revision="refs/pr/7", repo_type="model")["draft.txt"] == b"filled\n"
    assert "draft.txt" not in main
    assert hub.unhandled == []


def test_update_repo_settings(hub: HubServer, client_env: dict[str, str]) -> None:
    repo_id = "org/gated-ds"
    result = run_client(
        client_env,
        f"""
        import json
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo({repo_id!r}, repo_type="dataset")
        out = {{"initial": [api.dataset_info({repo_id!r}).gated, api.dataset_info({repo_id!r}).private]}}
        api.update_repo_settings({repo_id!r}, gated="auto", repo_type="dataset")
        info = api.dataset_info({repo_id!r})
        out["auto"] = [info.gated, info.private]
        api.update_repo_settings({repo_id!r}, gated="manual", private=True, repo_type="dataset")
        info = api.dataset_info({repo_id!r})
        out["manual"] = [info.gated, info.private]
        api.update_repo_settings({repo_id!r}, gated=False, private=False, repo_type="dataset")
        info = api.dataset_info({repo_id!r})
        out["off"] = [info.gated, info.private]
        api.update_repo_settings({repo_id!r}, gated="manual", repo_type="dataset")
        print(json.dumps(out))
        """,
    )
    assert result == {"initial": [False, False], "auto": ["auto", False], "manual": ["manual", True],
                      "off": [False, False]}
    repo = hub.get_repo(repo_id)
    assert (repo.gated, repo.private) == ("manual", False)
    puts = [e for e in hub.log if e["method"] == "PUT" and e["path"] == f"/api/datasets/{repo_id}/settings"]
    assert [e["status"] for e in puts] == [200] * 4
