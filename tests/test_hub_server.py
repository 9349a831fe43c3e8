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

from hub_server import DEFAULT_TOKEN, HubServer, client_environment

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
    env = client_environment(hub.endpoint, str(tmp_path_factory.mktemp("client_hf_home")))
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


# --------------------------------------------------------------------------------------------
# Pull requests, discussions and repo settings
# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# Pull requests, tokens, visibility, gating, settings
# --------------------------------------------------------------------------------------------

PR_REPO = "org/prs"
OUTSIDER_TOKEN = "hf_outsider_token"  # a user who owns nothing in "org"


@pytest.fixture(scope="module")
def outsider_env(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    hub.add_user(OUTSIDER_TOKEN, "outsider")
    return client_environment(hub.endpoint, str(tmp_path_factory.mktemp("outsider_home")), OUTSIDER_TOKEN)


@pytest.fixture(scope="module")
def anonymous_env(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return client_environment(hub.endpoint, str(tmp_path_factory.mktemp("anonymous_home")), token=None)


ERROR = """
def error(action):
    try:
        action()
    except Exception as exc:
        response = getattr(exc, "response", None)
        return [type(exc).__name__, getattr(response, "status_code", None), str(exc)]
    return None
"""


def test_create_commit_with_create_pr(hub: HubServer, client_env: dict[str, str], outsider_env: dict[str, str]) -> None:
    """Anyone logged in may open a pull request (refs/pr/N, main stays); only the namespace may commit to main."""
    run_client(client_env, f"""
        import json
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo({PR_REPO!r}, repo_type="dataset")
        info = api.upload_file(path_or_fileobj=b"old notes\\n", path_in_repo="notes.txt", repo_id={PR_REPO!r},
                               repo_type="dataset", commit_message="notes")
        print(json.dumps({{"base": info.oid}}))
        """)
    base = hub.get_repo(PR_REPO).branches["main"]
    hub.clear_log()
    result = run_client(outsider_env, ERROR + f"""
import json
from huggingface_hub import HfApi, CommitOperationAdd, CommitOperationDelete
api = HfApi()
info = api.create_commit(
    {PR_REPO!r}, repo_type="dataset", create_pr=True,
    operations=[CommitOperationAdd("data/new.txt", b"hello pr\\n"),
                CommitOperationAdd("data/x.parquet", b"PAR1\\x00pr-binary\\x00PAR1"),
                CommitOperationDelete("notes.txt")],
    commit_message="Add new data", commit_description="Adds two files, drops the notes.")
out = {{"oid": info.oid, "pr_url": info.pr_url, "pr_num": info.pr_num, "pr_revision": info.pr_revision}}
out["main_files"] = sorted(api.list_repo_files({PR_REPO!r}, repo_type="dataset"))
out["pr_files"] = sorted(api.list_repo_files({PR_REPO!r}, repo_type="dataset", revision="refs/pr/1"))
out["direct"] = error(lambda: api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id={PR_REPO!r},
                                              repo_type="dataset"))
print(json.dumps(out))
""")
    assert result["pr_num"] == 1 and result["pr_revision"] == "refs/pr/1"
    assert result["pr_url"] == f"{hub.endpoint}/datasets/{PR_REPO}/discussions/1"
    assert result["main_files"] == [".gitattributes", "notes.txt"]
    assert result["pr_files"] == [".gitattributes", "data/new.txt", "data/x.parquet"]
    assert result["direct"][:2] == ["HfHubHTTPError", 403]
    assert "You don't have the rights to upload files in the namespace org" in result["direct"][2]
    repo = hub.get_repo(PR_REPO)
    assert repo.branches["main"] == base
    [pull] = repo.discussions
    assert (pull.num, pull.title, pull.author, pull.ref, pull.description) == (
        1, "Add new data", "outsider", "refs/pr/1", "Adds two files, drops the notes.")
    assert repo.commits[repo.pr_refs["refs/pr/1"]].files["data/x.parquet"].lfs  # went through the LFS protocol
    # How 2.4.0 sends it: ?create_pr=1 on preupload and commit, the target branch in the path.
    pr_calls = {(e["path"], e["query"]) for e in hub.log if "create_pr" in e["query"]}
    assert pr_calls == {(f"/api/datasets/{PR_REPO}/preupload/main", "create_pr=1"),
                        (f"/api/datasets/{PR_REPO}/commit/main", "create_pr=1")}
    assert hub.unhandled == []


def test_writes_need_a_token_and_the_namespace(hub: HubServer, anonymous_env: dict[str, str],
                                                outsider_env: dict[str, str], published_v1: dict,
                                                tmp_path_factory) -> None:
    bad_env = client_environment(hub.endpoint, str(tmp_path_factory.mktemp("bad_home")), "hf_not_a_real_token")
    code = ERROR + f"""
import json
from huggingface_hub import HfApi
api = HfApi()
print(json.dumps({{"create": error(lambda: api.create_repo("org/new-one", repo_type="dataset")),
                  "tag": error(lambda: api.create_tag({REPO!r}, tag="v9.9.9", repo_type="dataset")),
                  "gate": error(lambda: api.update_repo_settings({REPO!r}, gated="auto", repo_type="dataset")),
                  "read": api.dataset_info({REPO!r}).id}}))
"""
    anonymous = run_client(anonymous_env, code)
    assert anonymous["create"][:2] == ["HfHubHTTPError", 401]
    assert "You must be authenticated to create a dataset repository" in anonymous["create"][2]
    assert anonymous["tag"][1] == 401 and anonymous["gate"][1] == 401
    assert anonymous["read"] == REPO  # a public repo reads without a token
    outsider = run_client(outsider_env, code)
    assert outsider["create"][:2] == ["HfHubHTTPError", 403] and outsider["tag"][1] == 403
    assert "You don't have the rights to create a dataset repository in the namespace org" in outsider["create"][2]
    invalid = run_client(bad_env, ERROR + f"""
import json
from huggingface_hub import HfApi
print(json.dumps(error(lambda: HfApi().dataset_info({REPO!r}))))
""")
    assert invalid[:2] == ["HfHubHTTPError", 401] and "Invalid credentials in Authorization header" in invalid[2]
    assert ("dataset", "org/new-one") not in hub.repos and "v9.9.9" not in hub.get_repo(REPO).tags


GATED = """
import json
from huggingface_hub import HfApi, hf_hub_download
api = HfApi()
out = {"info": [api.repo_info(REPO, repo_type=KIND).gated],
       "files": sorted(api.list_repo_files(REPO, repo_type=KIND)),
       "download": error(lambda: open(hf_hub_download(REPO, "README.md", repo_type=KIND)).read())}
if KIND == "dataset":
    from datasets import load_dataset
    out["load"] = error(lambda: load_dataset(REPO, split="train"))
print(json.dumps(out))
"""


@pytest.mark.parametrize("kind", ["dataset", "model"])
def test_gated_repos(hub: HubServer, client_env: dict[str, str], anonymous_env: dict[str, str],
                     outsider_env: dict[str, str], kind: str) -> None:
    """Metadata stays public; files answer 401 without a token and 403 to a user not granted access."""
    repo_id = f"org/gated-{kind}"
    run_client(client_env, f"""
        import json
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo({repo_id!r}, repo_type={kind!r})
        api.upload_file(path_or_fileobj=b"# gated\\n", path_in_repo="README.md", repo_id={repo_id!r}, repo_type={kind!r})
        api.update_repo_settings({repo_id!r}, gated="auto", repo_type={kind!r})
        print(json.dumps({{}}))
        """)
    code = ERROR + f"REPO, KIND = {repo_id!r}, {kind!r}\n" + GATED
    anonymous = run_client(anonymous_env, code)
    assert anonymous["info"] == ["auto"] and anonymous["files"] == [".gitattributes", "README.md"]
    assert anonymous["download"][:2] == ["GatedRepoError", 401]
    assert "Please log in" in anonymous["download"][2]
    outsider = run_client(outsider_env, code)
    assert outsider["download"][:2] == ["GatedRepoError", 403]
    assert "you are not in the authorized list" in outsider["download"][2]
    if kind == "dataset":  # what datasets makes of it
        assert anonymous["load"][0] == "DatasetNotFoundError"
        assert "is a gated dataset on the Hub. You must be authenticated to access it" in anonymous["load"][2]
        assert "to ask for access" in outsider["load"][2]
    hub.grant(repo_id, "outsider", kind)
    assert run_client(outsider_env, code)["download"] is None
    assert run_client(client_env, code)["download"] is None  # the namespace's members always have access


def test_private_repos_are_not_found(hub: HubServer, client_env: dict[str, str], anonymous_env: dict[str, str],
                                     outsider_env: dict[str, str]) -> None:
    run_client(client_env, """
        import json
        from huggingface_hub import HfApi
        HfApi().create_repo("org/secret", repo_type="dataset", private=True)
        print(json.dumps({}))
        """)
    code = ERROR + """
import json
from huggingface_hub import HfApi
print(json.dumps(error(lambda: HfApi().dataset_info("org/secret"))))
"""
    assert run_client(anonymous_env, code)[:2] == ["RepositoryNotFoundError", 401]
    assert run_client(outsider_env, code)[:2] == ["RepositoryNotFoundError", 404]
    assert run_client(client_env, code) is None


EVAL_YAML = """name: Cats
description: Cat names.
evaluation_framework: lighteval
tasks:
- id: cats
  config: cats
  split: test
"""


def test_eval_yaml_is_validated_at_push_and_makes_a_leaderboard(hub: HubServer, client_env: dict[str, str],
                                                                published_v2: dict) -> None:
    code = ERROR + f"""
import json
from huggingface_hub import HfApi
api = HfApi()
def push(text):
    return error(lambda: api.upload_file(path_or_fileobj=text.encode(), path_in_repo="eval.yaml", repo_id={REPO!r},
                                         repo_type="dataset"))
good = {EVAL_YAML!r}
out = {{"version": push(good + "version: 1.0.0\\n"),
       "metrics": push(good.replace("  split: test", "  split: test\\n  metrics: [accuracy]")),
       "framework": push(good.replace("lighteval", "imagenet-tc")),
       "missing": push(good.replace("description: Cat names.\\n", "")),
       "no_board": error(lambda: api.get_dataset_leaderboard({REPO!r})),
       "good": push(good)}}
out["still_no_board"] = error(lambda: api.get_dataset_leaderboard({REPO!r}))
api.create_repo("org/cat-model")
results = "- dataset: {{id: {REPO}, task_id: cats}}\\n  value: 71.5\\n- dataset: {{id: {REPO}, task_id: other}}\\n  value: 99.0\\n"
api.upload_file(path_or_fileobj=results.encode(), path_in_repo=".eval_results/cats.yaml", repo_id="org/cat-model")
print(json.dumps(out))
"""
    main_before = hub.get_repo(REPO).branches["main"]
    result = run_client(client_env, code)
    for case, reason in (("version", "unknown key 'version'"), ("metrics", "unknown key 'tasks[0].metrics'"),
                         ("framework", "evaluation_framework 'imagenet-tc' is not supported"),
                         ("missing", "missing required key 'description'")):
        assert result[case][:2] == ["BadRequestError", 400], case
        assert f"Invalid eval.yaml: {reason}" in result[case][2], case
    assert result["good"] is None
    assert result["no_board"][:2] == ["HfHubHTTPError", 404] and "not a registered benchmark" in result["no_board"][2]
    assert result["still_no_board"][1] == 404  # not on the allow-list yet
    refused = [c for c in hub.get_repo(REPO).commits.values() if c.parent == main_before]
    assert len(refused) == 1  # only the good eval.yaml was committed
    hub.benchmark_allow_list.add(REPO)
    board = run_client(client_env, f"""
        import json
        from huggingface_hub import HfApi
        print(json.dumps([[e.rank, e.model_id, e.value, e.filename, e.verified]
                          for e in HfApi().get_dataset_leaderboard({REPO!r})]))
        """)
    assert board == [[1, "org/cat-model", 71.5, ".eval_results/cats.yaml", False]]  # task "cats" only


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
