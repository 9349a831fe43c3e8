"""Putting a scored model on the leaderboard: `imagenet-tc submit`.

From one or more results files of one model (each checked first: schema, and every metric recomputed from its
predictions file when it is there), this writes the Hub's evaluation-results entries for the model repository
(`.eval_results/imagenet-tc.yaml`: dataset id, task id = config, dataset revision sha, value = edited top-1
accuracy in %, date, source, notes) and the legacy `model-index` block of its model card, merged with what the repo
already has, and commits them (as a pull request with `--open-pr`). With `--results-repo` the results and
predictions files also go, as a pull request, to a results dataset repository that leaderboard Spaces read.
The token comes from HF_TOKEN or the Hub login and is never printed. The files for the model repository are made
in `submission_files`; this module checks the results, reads what the repositories hold and commits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from imagenet_textcorrupt.hub import COMMIT_SHA, HUB_ID, VERSION_TAG, resolve_commit
from imagenet_textcorrupt.results import (NO_PREDICTIONS, OTHER_METRICS_VERSION, Results, predictions_path,
                                          verify_results)
from imagenet_textcorrupt.schema import path_component
from imagenet_textcorrupt.submission_files import (EVAL_RESULTS_FILE, HUB_DIGITS, MAX_MODEL_INDEX_METRICS, MODEL_CARD,
                                                   SubmissionError, card_problem, eval_result_entries,
                                                   merged_eval_results, merged_model_card)

__all__ = ["EVAL_RESULTS_FILE", "HUB_DIGITS", "MAX_MODEL_INDEX_METRICS", "MODEL_CARD", "Submission", "SubmissionError",
           "card_problem", "check_revision", "check_submittable", "eval_result_entries", "merged_eval_results",
           "merged_model_card", "prepare", "results_repo_paths", "send", "submit"]


@dataclass
class Submission:
    """What a submission writes: files per repository, and where they went."""

    model_repo: str
    results: list[Results]
    results_repo: str | None = None
    results_files: dict[str, Path] = field(default_factory=dict)  # path in the results repo -> local file
    existing: dict[str, str | None] = field(default_factory=dict)  # the model repo's current files
    files: dict[str, str] = field(default_factory=dict)  # path in the model repo -> text
    notes: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    card_problem: str | None = None  # why the model card is left as it is

    def render(self, source_url: str | None = None) -> None:
        """The model repo's files: its current ones with our entries merged in. A model card whose metadata cannot
        be read is left untouched (the results still go to .eval_results, which the Hub reads)."""
        self.files = {
            EVAL_RESULTS_FILE: merged_eval_results(self.existing.get(EVAL_RESULTS_FILE), self.results, source_url)}
        self.card_problem = card_problem(self.existing.get(MODEL_CARD))
        if self.card_problem is None:
            self.files[MODEL_CARD] = merged_model_card(self.existing.get(MODEL_CARD), self.results, self.model_repo,
                                                       source_url)


def check_submittable(results: Results, source: str) -> None:
    """Refuses results that a leaderboard cannot trust or compare."""
    dataset = results.dataset
    problems = []
    if not HUB_ID.match(dataset.id):
        problems.append(f"it was computed on a local dataset ({dataset.id}); submissions are scored on the Hub "
                        f"dataset at a tagged revision (imagenet-tc evaluate --dataset ORG/imagenet-tc --revision "
                        f"vX.Y.Z)")
    elif not COMMIT_SHA.match(dataset.sha or ""):
        problems.append("the dataset revision was not resolved to a commit sha (was the evaluation offline?); "
                        "rerun it with network access")
    problems += results.comparability_problems()
    if problems:
        raise SubmissionError(f"{source}: cannot be submitted: " + "; ".join(problems))


def results_repo_paths(results: Results, results_file: Path) -> dict[str, Path]:
    """Where a results file (and its predictions) go in a results dataset repository:
    results/<config>/<model>/<created>.json."""
    stamp = re.sub(r"[^0-9TZ]", "", results.created)
    stem = f"results/{path_component(results.dataset.config)}/{path_component(results.model.id)}/{stamp}"
    files = {f"{stem}.json": results_file}
    predictions = predictions_path(results_file)
    if predictions.is_file():
        files[f"{stem}.predictions.jsonl"] = predictions
    return files


def check_revision(api: Any, results: Results) -> None:
    """Refuses results whose dataset commit is not on the Hub, or whose version tag (tags never move) points at
    another commit than the one they were computed on."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    dataset = results.dataset
    tag = dataset.revision if VERSION_TAG.match(dataset.revision or "") else None
    sha = dataset.sha or ""  # check_submittable has made sure it is a commit sha
    try:
        actual = resolve_commit(dataset.id, tag or sha, "dataset", api, trust_sha=False)
    except RevisionNotFoundError:
        raise SubmissionError(f"wrong dataset revision: {dataset.id} has no revision {tag or sha}") from None
    except RepositoryNotFoundError:
        raise SubmissionError(f"dataset {dataset.id!r} not found on the Hub (or the token cannot see it)") from None
    if actual != sha:
        raise SubmissionError(f"wrong dataset revision: the results say {dataset.id}@{tag} is {sha}, "
                              f"but on the Hub {tag} is {actual}")
    summary = _read_remote(api, dataset.id, "release.json", repo_type="dataset", revision=sha)
    if summary is not None:
        expected = (json.loads(summary).get("configs", {}).get(dataset.config) or {}).get("rows")
        if expected is not None and expected != dataset.rows:
            raise SubmissionError(f"the results cover {dataset.rows} rows, but config {dataset.config} of "
                                  f"{dataset.id}@{sha[:12]} has {expected}")


def _read_remote(api: Any, repo_id: str, path: str, repo_type: str = "model", revision: str | None = None
                 ) -> str | None:
    """A text file of a Hub repo, or None when the repo has no such file."""
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    try:
        local = api.hf_hub_download(repo_id, path, repo_type=repo_type, revision=revision)
    except EntryNotFoundError:
        return None
    except RepositoryNotFoundError:
        raise SubmissionError(f"{repo_type} repository {repo_id!r} not found on {api.endpoint} (or the token "
                              f"cannot see it)") from None
    try:
        return Path(local).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SubmissionError(f"{path} in the {repo_type} repository {repo_id} is not UTF-8 text ({error.reason} at "
                              f"byte {error.start}); fix or remove it first") from None


def prepare(paths: list[str | Path], model_repo: str, results_repo: str | None = None, token: str | None = None,
            offline_ok: bool = False) -> Submission:
    """Checks the results and builds the files of a submission (reading what the model repo already has)."""
    from huggingface_hub import HfApi, constants

    if not HUB_ID.match(model_repo):
        raise SubmissionError(f"--model-repo {model_repo!r}: expected ORG/NAME")
    if results_repo is not None and not HUB_ID.match(results_repo):
        raise SubmissionError(f"--results-repo {results_repo!r}: expected ORG/NAME")
    checked = []
    for path in map(Path, paths):
        results, status = verify_results(path)
        if status == OTHER_METRICS_VERSION:
            raise SubmissionError(f"{path}: computed with metrics version {results.metrics.version}, "
                                  f"which this imagenet-textcorrupt cannot recompute to check; evaluate again with "
                                  f"this version")
        check_submittable(results, str(path))
        checked.append((path, results, status))
    models = sorted({r.model.id for _, r, _ in checked})
    if len(models) > 1:
        raise SubmissionError(f"the results are for several models ({', '.join(models)}); submit each model's "
                              f"results to its own repository")
    tasks = [(r.dataset.id, r.dataset.config) for _, r, _ in checked]
    if len(set(tasks)) != len(tasks):
        raise SubmissionError("two results files are for the same dataset and config; submit one of them")
    submission = Submission(model_repo, [r for _, r, _ in checked], results_repo)
    for path, results, status in checked:
        if status == NO_PREDICTIONS:
            submission.notes.append(f"{path}: no predictions file beside it, so its metrics were not recomputed")
        if results_repo:
            submission.results_files.update(results_repo_paths(results, path))
    api = HfApi(token=token)
    try:
        if offline_ok and constants.HF_HUB_OFFLINE:
            raise ConnectionError("HF_HUB_OFFLINE is set")
        for results in submission.results:
            check_revision(api, results)
        for file in (EVAL_RESULTS_FILE, MODEL_CARD):
            submission.existing[file] = _read_remote(api, model_repo, file)
    except SubmissionError:
        raise
    except Exception as error:  # noqa: BLE001 - offline or unreachable
        if not offline_ok:
            raise SubmissionError(f"cannot reach the Hub: {type(error).__name__}: "
                                  f"{str(error).splitlines()[0] if str(error) else ''}") from None
        submission.notes.append(f"could not reach the Hub ({error}): the dataset revision was not checked and the "
                                f"files below do not include what {model_repo} already has")
    submission.render()
    if submission.card_problem:
        submission.notes.append(
            f"the model card ({MODEL_CARD}) of {model_repo} is left as it is: {submission.card_problem}, which "
            f"the Hub's model-index format requires. The results go to {EVAL_RESULTS_FILE}, which the Hub reads; fix "
            f"the card's model-index and submit again to have them in the card too")
    return submission


def send(submission: Submission, open_pr: bool, token: str | None = None,
         log: Callable[[str], None] = print) -> Submission:
    """Commits the submission's files: to the model repo (a pull request with open_pr) and, as a pull request,
    to the results repo."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    configs = ", ".join(sorted({p.split("/")[1] for p in submission.results_files}) or ["ImageNet-TC"])
    try:
        if submission.results_repo:
            operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(f))
                          for p, f in submission.results_files.items()]
            commit = api.create_commit(submission.results_repo, operations, repo_type="dataset", create_pr=True,
                                       commit_message=f"Add ImageNet-TC results of {submission.model_repo}",
                                       commit_description="Submitted with `imagenet-tc submit`.")
            submission.urls["results_repo"] = commit.pr_url or commit.commit_url
            log(f"results repo pull request: {submission.urls['results_repo']}")
            # the entries point at the results file where it is now: on the pull request's ref
            first = next(iter(submission.results_files))
            ref = quote(commit.pr_revision or "main", safe="")
            submission.render(f"{api.endpoint}/datasets/{submission.results_repo}/blob/{ref}/{first}")
        operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=text.encode("utf-8"))
                      for p, text in submission.files.items()]
        description = ("Evaluation results in the Hub's `.eval_results` format"
                       + (" and the model card's model-index" if MODEL_CARD in submission.files else
                          f" (the model card was left as it is: {submission.card_problem})")
                       + ", from `imagenet-tc submit`.")
        commit = api.create_commit(submission.model_repo, operations, create_pr=open_pr,
                                   commit_message=f"Add ImageNet-TC evaluation results ({configs})",
                                   commit_description=description)
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "?"
        hint = {401: "; log in with `hf auth login` or set HF_TOKEN (a token with write access)",
                403: f"; the token cannot write to {submission.model_repo}: pass --open-pr to open a pull request "
                     f"instead"}.get(status, "") if isinstance(status, int) else ""
        raise SubmissionError(f"the Hub refused the commit (HTTP {status}): "
                              f"{str(error).splitlines()[0]}{hint}") from None
    submission.urls["model_repo"] = commit.pr_url or commit.commit_url
    log(f"model repo {'pull request' if open_pr else 'commit'}: {submission.urls['model_repo']}")
    return submission


def submit(paths: list[str | Path], model_repo: str, open_pr: bool = False, dry_run: bool = False,
           results_repo: str | None = None, token: str | None = None,
           log: Callable[[str], None] = print) -> Submission:
    """`imagenet-tc submit`: checks, builds and (unless dry_run) commits a submission."""
    submission = prepare(paths, model_repo, results_repo, token, offline_ok=dry_run)
    for note in submission.notes:
        log(f"note: {note}")
    if dry_run:
        for path, text in submission.files.items():
            log(f"--- {submission.model_repo}: {path}\n{text.rstrip()}")
        for path, file in submission.results_files.items():
            log(f"--- {submission.results_repo}: {path} (from {file})")
        log("dry run: nothing was sent")
        return submission
    return send(submission, open_pr, token, log)
