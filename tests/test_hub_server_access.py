"""The loopback Hub refuses what the Hub refuses, seen through the real huggingface_hub client: pull requests,
tokens and namespaces, private and gated repositories, eval.yaml validation and a benchmark's leaderboard, repo
settings. The clients run in subprocesses pointed at the server (see test_hub_server.py).
"""

from __future__ import annotations

import pytest

from hub_server import HubServer, client_environment, run_client

pytest.importorskip("huggingface_hub")

# --------------------------------------------------------------------------------------------
# Pull requests, tokens, visibility, gating, settings
# --------------------------------------------------------------------------------------------

REPO = "org/ds"  # a public dataset with a "cats" config
PR_REPO = "org/prs"
OUTSIDER_TOKEN = "hf_outsider_token"  # a user who owns nothing in "org"


@pytest.fixture(scope="module")
def outsider_env(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    hub.add_user(OUTSIDER_TOKEN, "outsider")
    return client_environment(hub.endpoint, str(tmp_path_factory.mktemp("outsider_home")), OUTSIDER_TOKEN)


@pytest.fixture(scope="module")
def anonymous_env(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return client_environment(hub.endpoint, str(tmp_path_factory.mktemp("anonymous_home")), token=None)


@pytest.fixture(scope="module")
def cats_dataset(hub: HubServer, client_env: dict[str, str]) -> str:
    run_client(client_env, f"""
        import json
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo({REPO!r}, repo_type="dataset")
        card = "---\\nconfigs:\\n- config_name: cats\\n  data_files: data/cats/*.csv\\n---\\n# Cats\\n"
        api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id={REPO!r}, repo_type="dataset")
        api.upload_file(path_or_fileobj=b"name\\ntom\\n", path_in_repo="data/cats/test.csv", repo_id={REPO!r},
                        repo_type="dataset")
        print(json.dumps(True))
        """)
    return REPO


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
                                                outsider_env: dict[str, str], cats_dataset: str,
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
evaluation_framework: mteb
tasks:
- id: cats
  config: cats
  split: test
"""


def test_eval_yaml_is_validated_at_push_and_makes_a_leaderboard(hub: HubServer, client_env: dict[str, str],
                                                                cats_dataset: str) -> None:
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
       "framework": push(good.replace("mteb", "imagenet-tc")),
       "not_in_eval_ts": push(good.replace("mteb", "lighteval")),
       "inspect_keys": push(good.replace("  split: test", "  split: test\\n  solvers: [generate]")),
       "missing": push(good.replace("description: Cat names.\\n", "")),
       "no_board": error(lambda: api.get_dataset_leaderboard({REPO!r})),
       "good": push(good)}}
out["still_no_board"] = error(lambda: api.get_dataset_leaderboard({REPO!r}))
api.create_repo("org/cat-model")
results = "- dataset: {{id: {REPO}, task_id: cats}}\\n  value: 71.5\\n- dataset: {{id: {REPO}, task_id: other}}\\n  value: 99.0\\n"
api.upload_file(path_or_fileobj=results.encode(), path_in_repo=".eval_results/cats.yaml", repo_id="org/cat-model")
api.create_repo("org/cat-model-finetuned")  # a derivative: its card names a base model
api.upload_file(path_or_fileobj=b"---\\nbase_model: org/cat-model\\n---\\n# tuned\\n", path_in_repo="README.md",
                repo_id="org/cat-model-finetuned")
api.upload_file(path_or_fileobj=results.replace("71.5", "80.0").encode(), path_in_repo=".eval_results/cats.yaml",
                repo_id="org/cat-model-finetuned")
print(json.dumps(out))
"""
    main_before = hub.get_repo(REPO).branches["main"]
    result = run_client(client_env, code)
    for case, reason in (("version", "unknown key 'version'"), ("metrics", "unknown key 'tasks[0].metrics'"),
                         ("framework", "evaluation_framework 'imagenet-tc' is not supported"),
                         ("not_in_eval_ts", "evaluation_framework 'lighteval' is not supported"),
                         ("inspect_keys", "unknown key 'tasks[0].solvers'"),
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
        print(json.dumps([[[e.rank, e.model_id, e.value, e.filename, e.verified]
                           for e in HfApi().get_dataset_leaderboard({REPO!r}, base_model_only=only)]
                          for only in (None, True, False)]))
        """)
    base = [[1, "org/cat-model", 71.5, ".eval_results/cats.yaml", False]]  # task "cats" only
    assert board[0] == board[1] == base  # the Hub's default leaves fine-tunes out
    assert board[2] == [[1, "org/cat-model-finetuned", 80.0, ".eval_results/cats.yaml", False],
                        [2, "org/cat-model", 71.5, ".eval_results/cats.yaml", False]]


def test_eval_yaml_frameworks_are_huggingface_js_eval_ts():
    """The stand-in's list is eval.ts's (30 keys at fe42e680), and inspect-ai's tasks take its extra keys."""
    from hub_server.store import EVALUATION_FRAMEWORKS, eval_yaml_problem

    assert len(EVALUATION_FRAMEWORKS) == len(set(EVALUATION_FRAMEWORKS)) == 30
    assert {"mteb", "inspect-ai", "pbench", "nanofold"} <= set(EVALUATION_FRAMEWORKS)
    assert not {"lighteval", "lm-evaluation-harness", "imagenet-tc"} & set(EVALUATION_FRAMEWORKS)
    inspect = ("name: HLE\ndescription: d\nevaluation_framework: inspect-ai\ntasks:\n- id: hle\n"
               "  field_spec: {input: question, target: answer}\n  solvers: [{name: generate}]\n"
               "  scorers: [{name: choice}]\n").encode()
    assert eval_yaml_problem(inspect, EVALUATION_FRAMEWORKS) is None
    assert eval_yaml_problem(inspect.replace(b"inspect-ai", b"mteb"), EVALUATION_FRAMEWORKS) == (
        "unknown key 'tasks[0].field_spec'")


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
