"""eval.yaml, the file that makes a Hub dataset a benchmark: what the Hub's spec allows, checked before publishing.

The spec (https://huggingface.co/docs/hub/eval-results) defines four top-level keys, all required: `name`,
`description`, `evaluation_framework` and `tasks`; each task has an `id` and, where they apply, the `config` and
`split` it is scored on. Each task is one leaderboard with one value. The Hub validates the file when it is pushed
and refuses a commit whose eval.yaml does not follow the spec, so anything else (a version, metrics, a task type)
must stay out of it. Which `evaluation_framework` values the Hub accepts is its own list, not checked here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

EVAL_YAML = "eval.yaml"
TOP_KEYS = ("name", "description", "evaluation_framework", "tasks")
TASK_KEYS = ("id", "config", "split")


def eval_yaml_problems(text: str, configs: Iterable[str], split: str) -> list[str]:
    """Every way `text` departs from the spec or from the release (one task per config, on `split`)."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        return [f"{EVAL_YAML}: not valid YAML ({error})"]
    if not isinstance(data, dict):
        return [f"{EVAL_YAML}: expected a mapping with the keys {', '.join(TOP_KEYS)}"]
    problems = [f"{EVAL_YAML}: {key}: missing" for key in TOP_KEYS if key not in data]
    problems += [f"{EVAL_YAML}: {key}: not a key of the benchmark spec" for key in data if key not in TOP_KEYS]
    problems += [f"{EVAL_YAML}: {key}: must be a non-empty string" for key in TOP_KEYS[:3]
                 if key in data and not (isinstance(data[key], str) and data[key].strip())]
    tasks = data.get("tasks")
    if "tasks" in data and not (isinstance(tasks, list) and tasks):
        return problems + [f"{EVAL_YAML}: tasks: must be a non-empty list"]
    seen: set[str] = set()
    for number, task in enumerate(tasks or []):
        where = f"{EVAL_YAML}: tasks[{number}]"
        if not isinstance(task, dict):
            problems.append(f"{where}: must be a mapping with an id")
            continue
        problems += [f"{where}.{key}: not a key of a task (a task has {', '.join(TASK_KEYS)})"
                     for key in task if key not in TASK_KEYS]
        if not isinstance(task.get("id"), str) or not task["id"]:
            problems.append(f"{where}.id: missing")
        elif task["id"] in seen:
            problems.append(f"{where}.id: {task['id']!r} is used twice")
        else:
            seen.add(task["id"])
        if task.get("split", split) != split:
            problems.append(f"{where}.split: {task['split']!r}, but the release has only the split {split!r}")
    named = {t.get("config") for t in tasks or [] if isinstance(t, dict)}
    wanted = set(configs)
    if tasks and named != wanted:
        problems.append(f"{EVAL_YAML}: tasks cover the configs {sorted(map(str, named))}, the release has "
                        f"{sorted(wanted)}")
    return problems
