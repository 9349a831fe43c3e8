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
  else, each task an ``id`` with an optional ``config`` and ``split`` (and, for ``inspect-ai``, ``field_spec``,
  ``solvers`` and ``scorers``), unique ids, and an ``evaluation_framework`` from
  :attr:`HubServer.evaluation_frameworks` (the keys of huggingface.js's eval.ts, none for image classification).
  A refused eval.yaml fails the whole commit with 400 ``Invalid eval.yaml: ...``. A dataset with an eval.yaml on
  main that is also on :attr:`HubServer.benchmark_allow_list` is a benchmark: its leaderboard
  (``GET /api/datasets/ID/leaderboard``, :meth:`HfApi.get_dataset_leaderboard`) ranks, by value, the entries of
  the model repos' ``.eval_results/*.yaml`` files on main for the benchmark's first task (the client's API takes
  no task). As on the Hub, ``base_model`` defaults to true: models whose card declares a ``base_model``
  (fine-tunes and other derivatives) are left out unless ``?base_model=false``. Any other dataset answers 404
  there.

Test helpers
------------
* :meth:`HubServer.fail_next` makes the next N requests whose path contains a substring answer with an error
  status (to exercise client retries).
* :attr:`HubServer.requests` logs every request as ``(method, path)``; :attr:`HubServer.log` has the same entries
  with the query string, the user (or None) and the status that was answered.
* :attr:`HubServer.unhandled` lists requests no route matched (they answer 404 with a JSON ``{"error": ...}`` body
  and no ``X-Error-Code`` header), so a missing endpoint is easy to spot.
* :meth:`HubServer.files_at` is the ``{path: content}`` snapshot of any revision (``refs/pr/N`` included).

Layout
------
``store`` (blobs, commits, repos, users, errors, the eval.yaml check), ``routing`` (the route table and the helpers
handlers share), ``routes_repos`` (the read side and repository management), ``routes_uploads`` (LFS and commits),
``server`` (:class:`HubServer`, its HTTP handler, :func:`client_environment`).
"""

from hub_server.server import HubServer, client_environment, run_client
from hub_server.store import (DEFAULT_TOKEN, USER, Blob, Commit, HubError, PullRequest, Repo, User, eval_yaml_problem,
                              git_blob_sha1, lfs_pointer)

__all__ = ["HubServer", "HubError", "Blob", "Commit", "PullRequest", "Repo", "User", "USER", "DEFAULT_TOKEN",
           "client_environment", "run_client", "eval_yaml_problem", "git_blob_sha1", "lfs_pointer"]
