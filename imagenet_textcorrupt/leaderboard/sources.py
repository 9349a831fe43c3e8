"""Where a leaderboard's results come from: a folder of results files, a results dataset repository on the Hub
(downloaded), or the Hub's own leaderboard of a registered benchmark dataset; which files look like results; a
dataset revision resolved to its commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagenet_textcorrupt.audit import AUDIT_SUFFIX
from imagenet_textcorrupt.hub import HUB_ID, resolve_commit
from imagenet_textcorrupt.leaderboard.board import LeaderboardError
from imagenet_textcorrupt.results.format import RESULTS_FORMAT, ResultsError, parse_json, read_text
from imagenet_textcorrupt.results.predictions import PREDICTIONS_SUFFIX

PUBLISHED_FOLDER = "leaderboard"  # where --publish puts the written files in the results repo (the Space reads them)


def benchmark_task(dataset: str, token: str | None = None) -> str | None:
    """The task the Hub's leaderboard API ranks: the first task of the dataset's eval.yaml (the API takes no task),
    or None when eval.yaml cannot be read (gated without access, offline)."""
    import yaml
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(dataset, "eval.yaml", repo_type="dataset", token=token)
        return str(yaml.safe_load(Path(path).read_text(encoding="utf-8"))["tasks"][0]["id"])
    except Exception:  # noqa: BLE001 - the label then says "the first task of its eval.yaml"
        return None


def hub_leaderboard(dataset: str, token: str | None = None) -> dict[str, Any] | None:
    """The Hub's leaderboard of a registered benchmark dataset, or None when the Hub has none for it. Fine-tuned
    models are included (the Hub's API leaves out models that declare a base model unless asked not to)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        entries = HfApi(token=token).get_dataset_leaderboard(dataset, base_model_only=False)
    except RepositoryNotFoundError:
        raise LeaderboardError(f"dataset repository {dataset!r} not found (or the token cannot see it)") from None
    except HfHubHTTPError as error:
        if getattr(error.response, "status_code", None) == 404:  # a dataset that is not a registered benchmark
            return None
        raise LeaderboardError(f"{dataset}: the Hub's leaderboard cannot be read ({str(error).splitlines()[0]})"
                               ) from None
    except Exception as error:  # noqa: BLE001 - offline, unreachable
        raise LeaderboardError(f"{dataset}: not a folder here, and the Hub cannot be reached "
                               f"({type(error).__name__})") from None
    return {"dataset": dataset, "task": benchmark_task(dataset, token), "base_model_only": False, "entries": [
        {"rank": e.rank, "model": e.model_id, "value": e.value, "verified": e.verified,
         "source": (e.source or {}).get("url"), "notes": e.notes} for e in entries]}


def results_files(source: str, token: str | None = None) -> tuple[Path, list[Path]]:
    """The results files of a folder, or of a results dataset repo downloaded from the Hub."""
    folder = Path(source)
    if not folder.is_dir():
        if not HUB_ID.match(source):
            raise LeaderboardError(f"{source}: neither a folder nor a dataset repository id (ORG/NAME)")
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            folder = Path(snapshot_download(source, repo_type="dataset", token=token,
                                            allow_patterns=["*.json", f"*{PREDICTIONS_SUFFIX}"]))
        except RepositoryNotFoundError:
            raise LeaderboardError(f"dataset repository {source!r} not found (or the token cannot see it)") from None
        except Exception as error:  # noqa: BLE001 - offline, unreachable, gated
            raise LeaderboardError(f"{source}: not a folder here, and the Hub cannot be reached "
                                   f"({type(error).__name__})") from None
    files = sorted(p for p in folder.rglob("*.json") if not any(part.startswith(".") for part in p.parts)
                   and p.relative_to(folder).parts[0] != PUBLISHED_FOLDER and not p.name.endswith(AUDIT_SUFFIX))
    return folder, files


def looks_like_results(path: Path) -> bool:
    """A readable regular file holding a JSON object of our format (never reads a pipe or a device forever, never
    lets a file nested too deeply stop the build)."""
    try:
        data = parse_json(read_text(path), str(path))
    except ResultsError:
        return False
    return isinstance(data, dict) and data.get("format") == RESULTS_FORMAT


def resolve_revision(dataset_id: str, revision: str, token: str | None = None) -> str:
    """A tag or branch of a Hub dataset as its commit sha (a sha is returned as is)."""
    from huggingface_hub import HfApi

    try:
        return resolve_commit(dataset_id, revision, "dataset", HfApi(token=token))
    except Exception as error:  # noqa: BLE001 - offline, unknown revision, missing repo
        raise LeaderboardError(f"--revision {revision}: cannot resolve it on {dataset_id} "
                               f"({type(error).__name__}); pass the commit sha instead") from None
