"""The files `imagenet-tc submit` writes to a model repository, merged with what the repository already holds: the
Hub's evaluation-results entries (`.eval_results/imagenet-tc.yaml`: dataset id, task id = config, dataset
revision, value = edited top-1 accuracy in %, date, source, notes), and the legacy `model-index` block of the model
card, left as it is when its metadata cannot be read (`card_problem`).
"""

from __future__ import annotations

from typing import Any

import yaml

from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.results.format import Results

EVAL_RESULTS_FILE = ".eval_results/imagenet-tc.yaml"
MODEL_CARD = "README.md"


class SubmissionError(ImageNetTCError):
    """A submission that cannot be made; says why and what to do instead."""


HUB_DIGITS = 2  # decimals of the percentages the Hub's entries hold
MAX_MODEL_INDEX_METRICS = 10_000  # a model card's model-index entries, counting each use of a YAML alias


def _top1_percent(results: Results, part: str) -> float | None:
    estimate = getattr(results.metrics, part).get("top1")
    return estimate.percent(HUB_DIGITS) if estimate else None


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
