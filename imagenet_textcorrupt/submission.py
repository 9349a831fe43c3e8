"""Putting a scored model on the leaderboard: `imagenet-tc submit`.

From one or more results files of one model (each checked first: schema, and every metric recomputed from its
predictions file when it is there), this writes the Hub's evaluation-results entries for the model repository
(`.eval_results/imagenet-tc.yaml`: dataset id, task id = config, dataset revision sha, value = edited top-1
accuracy in %, date, source, notes) and the legacy `model-index` block of its model card, merged with what the repo
already has, and commits them (as a pull request with `--open-pr`). With `--results-repo` the results and
predictions files also go, as a pull request, to a results dataset repository that leaderboard Spaces read.
The token comes from HF_TOKEN or the Hub login and is never printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.hub import COMMIT_SHA, HUB_ID, VERSION_TAG, resolve_commit
from imagenet_textcorrupt.results import (NO_PREDICTIONS, OTHER_METRICS_VERSION, Results, predictions_path,
                                          verify_results)
from imagenet_textcorrupt.schema import path_component

EVAL_RESULTS_FILE = ".eval_results/imagenet-tc.yaml"
MODEL_CARD = "README.md"


class SubmissionError(ImageNetTCError):
    """A submission that cannot be made; says why and what to do instead."""


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


HUB_DIGITS = 2  # decimals of the percentages the Hub's entries hold
MAX_MODEL_INDEX_METRICS = 10_000  # a model card's model-index entries, counting each use of a YAML alias


def _top1_percent(results: Results, part: str) -> float | None:
    estimate = getattr(results.metrics, part).get("top1")
    return estimate.percent(HUB_DIGITS) if estimate else None


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


def _describe(results: Results) -> str:
    m = results.metrics
    parts = [f"edited top-1 accuracy (%) on config {results.dataset.config}"]
    edited = m.edited["top1"]
    if edited.ci_low is not None and edited.ci_high is not None:
        parts.append(f"{100 * (m.confidence or 0.95):g}% CI [{100 * edited.ci_low:.{HUB_DIGITS}f}, "
                     f"{100 * edited.ci_high:.{HUB_DIGITS}f}] over source images")
    drop = m.edited.get("drop")
    parts.append(f"clean top-1 {_top1_percent(results, 'clean')}")
    parts.append(f"drop {drop.percent(HUB_DIGITS) if drop else None} points")
    parts.append(f"imagenet-textcorrupt {results.versions.get('imagenet-textcorrupt', '?')}, metrics {m.version}")
    return "; ".join(parts)


def eval_result_entries(results_list: list[Results], source_url: str | None = None) -> list[Any]:
    """One `.eval_results` entry per results file: task id = config, value = edited top-1 accuracy in %."""
    from huggingface_hub import EvalResultEntry

    return [EvalResultEntry(dataset_id=r.dataset.id, task_id=r.dataset.config,
                            value=_top1_percent(r, "edited"), dataset_revision=r.dataset.sha,
                            date=r.created, source_url=source_url,
                            source_name="imagenet-tc evaluate" if source_url else None, notes=_describe(r))
            for r in results_list]


def merged_eval_results(existing: str | None, results_list: list[Results], source_url: str | None = None
                        ) -> str:
    """The `.eval_results` file: the repo's entries for other datasets or configs kept, ours replaced."""
    from huggingface_hub import eval_result_entries_to_yaml

    entries = eval_result_entries_to_yaml(eval_result_entries(results_list, source_url))
    ours = {(e["dataset"]["id"], e["dataset"]["task_id"]) for e in entries}
    kept = []
    if existing:
        previous, problem = _load_yaml(existing)
        if problem:
            raise SubmissionError(f"{EVAL_RESULTS_FILE} in the model repo is not valid YAML ({problem}); fix or "
                                  f"remove it first")
        if not isinstance(previous or [], list):
            raise SubmissionError(f"{EVAL_RESULTS_FILE} in the model repo is not a list of entries")
        kept = [e for e in previous or [] if _entry_task(e) not in ours]
    return yaml.safe_dump(kept + entries, sort_keys=False, allow_unicode=True)


def _entry_task(entry: Any) -> tuple[str, str] | None:
    """(dataset id, task id) of an `.eval_results` entry, or None when it has no such text fields."""
    dataset = entry.get("dataset") if isinstance(entry, dict) else None
    if isinstance(dataset, dict) and isinstance(dataset.get("id"), str) and isinstance(dataset.get("task_id"), str):
        return dataset["id"], dataset["task_id"]
    return None


def _load_yaml(text: str) -> tuple[Any, str | None]:
    """(the YAML's value, None), or (None, why it cannot be read): PyYAML's own errors, and those it lets through
    (nesting deeper than Python's recursion limit, an integer of thousands of digits)."""
    try:
        return yaml.safe_load(text), None
    except yaml.YAMLError as error:
        return None, str(error)
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as error:
        return None, str(error)


def _model_index_problem(model_index: Any) -> str | None:
    """The first field the Hub's model-index format needs that is missing or of the wrong kind, as a path."""
    if not isinstance(model_index, list):
        return "model-index is not a list"
    required = {"task": ("type",), "dataset": ("type", "name")}
    # the fields huggingface_hub (and merged_model_card) use as keys: each must be a single value, not a list or map
    keys = {"task": ("type", "name"), "dataset": ("type", "name", "config", "split", "revision")}
    metrics = 0
    for i, model in enumerate(model_index):
        where = f"model-index[{i}]"
        if not isinstance(model, dict):
            return f"{where} is not a mapping"
        if "name" not in model:
            return f"{where}.name is missing"
        if not isinstance(model.get("results"), list):
            return f"{where}.results is missing or not a list"
        for j, result in enumerate(model["results"]):
            at = f"{where}.results[{j}]"
            if not isinstance(result, dict):
                return f"{at} is not a mapping"
            for block, names in required.items():
                if not isinstance(result.get(block), dict):
                    return f"{at}.{block} is missing"
                missing = [k for k in names if k not in result[block]]
                if missing:
                    return f"{at}.{block}.{missing[0]} is missing"
                wrong = [k for k in keys[block] if isinstance(result[block].get(k), (list, dict, set))]
                if wrong:
                    return f"{at}.{block}.{wrong[0]} is a list or mapping, not a single value"
            if not isinstance(result.get("metrics"), list):
                return f"{at}.metrics is missing or not a list"
            metrics += len(result["metrics"])
            if metrics > MAX_MODEL_INDEX_METRICS:  # YAML aliases can repeat a long list many times over
                return f"model-index holds more than {MAX_MODEL_INDEX_METRICS} metrics"
            for k, metric in enumerate(result["metrics"]):
                if not isinstance(metric, dict) or "type" not in metric or "value" not in metric:
                    return f"{at}.metrics[{k}] needs a type and a value"
                wrong = [key for key in ("type", "name") if isinstance(metric.get(key), (list, dict, set))]
                if wrong:
                    return f"{at}.metrics[{k}].{wrong[0]} is a list or mapping, not a single value"
    return None


def card_problem(existing: str | None) -> str | None:
    """Why the model card's metadata cannot be merged with ours (its YAML, or its model-index), or None."""
    if not existing or not existing.startswith("---"):
        return None  # no metadata yet: ours is added
    parts = existing.split("\n---", 1)
    if len(parts) < 2:
        return "its YAML header has no closing --- line"
    header, problem = _load_yaml(parts[0][3:])
    if problem:
        return f"its YAML header is not valid YAML ({(problem.splitlines() or [''])[0]})"
    header = header or {}
    if not isinstance(header, dict):
        return "its YAML header is not a mapping"
    if "model-index" in header:
        problem = _model_index_problem(header["model-index"])
        if problem:
            return problem
    from huggingface_hub import ModelCard

    try:
        ModelCard(existing)
    except Exception as error:  # noqa: BLE001 - whatever else the Hub's parser refuses
        return f"huggingface_hub cannot read its metadata ({(str(error).splitlines() or [type(error).__name__])[0]})"
    return None


def merged_model_card(existing: str | None, results_list: list[Results], model_repo: str,
                      source_url: str | None = None) -> str:
    """The model card with a `model-index` holding our results (edited and clean top-1 per config)."""
    from huggingface_hub import EvalResult, ModelCard

    card = ModelCard(existing if existing else f"---\n{{}}\n---\n\n# {model_repo.split('/')[-1]}\n")
    ours = []
    for r in results_list:
        d = r.dataset
        for name, part in (("edited top-1 accuracy", "edited"), ("clean top-1 accuracy", "clean")):
            ours.append(EvalResult(task_type="image-classification", dataset_type=d.id,
                                   dataset_name=f"ImageNet-TC ({d.config})", dataset_config=d.config,
                                   dataset_split=d.split, dataset_revision=d.sha,
                                   metric_type="accuracy", metric_name=name,
                                   metric_value=_top1_percent(r, part),
                                   source_name="imagenet-tc evaluate" if source_url else None,
                                   source_url=source_url))
    replaced = {(e.dataset_type, e.dataset_config, e.metric_name) for e in ours}
    previous = card.data.eval_results or []
    card.data.eval_results = [e for e in previous
                              if (e.dataset_type, e.dataset_config, e.metric_name) not in replaced] + ours
    if not card.data.model_name:
        card.data.model_name = model_repo.split("/")[-1]
    return str(card)


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
