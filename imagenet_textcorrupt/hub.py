"""What we ask of the Hugging Face Hub, in one place: the shapes of its names (repo ids, commits, version tags),
which commit a revision is (and which commit of a model's weights the local cache holds), a card's metadata as the
Hub reads it, which failures are worth retrying, and what to tell a user whom it refused a gated repo.

Gated repos: the clients wrap the Hub's answer. transformers raises an OSError from huggingface_hub's
GatedRepoError, found by walking the exception's causes; `datasets` raises a DatasetNotFoundError that drops the
cause, and only its message says which of the two it was.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # ORG/NAME on the Hub
COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
VERSION_TAG = re.compile(r"^v\d+\.\d+\.\d+$")  # a release's tag; tags never move
# error classes of the HTTP stacks huggingface_hub has used (httpx, requests) that mean "the network failed"
TRANSIENT_NAMES = {"TransportError", "NetworkError", "TimeoutException", "ConnectError", "ConnectTimeout",
                   "ReadError", "ReadTimeout", "WriteError", "WriteTimeout", "PoolTimeout", "RemoteProtocolError",
                   "ConnectionError", "Timeout", "ChunkedEncodingError"}
T = TypeVar("T")


def resolve_commit(repo_id: str, revision: str | None, repo_type: str = "dataset", api: Any = None,
                   trust_sha: bool = True) -> str:
    """The commit sha a branch or tag of a Hub repo points to. A sha is returned as is without asking, unless
    `trust_sha` is false (then the Hub must confirm the repo has it). The Hub's own errors (missing repo or
    revision, gated, offline) propagate: each caller says what they mean for it."""
    if trust_sha and revision and COMMIT_SHA.match(revision):
        return revision
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    sha = api.repo_info(repo_id, repo_type=repo_type, revision=revision).sha
    if not sha:
        raise ValueError(f"the Hub gave no commit for {repo_id}@{revision or 'main'}")
    return sha


def cached_commit(repo_id: str) -> str | None:
    """The commit of a Hub model's weights as downloaded into the local cache (None when unknown)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model.safetensors", "open_clip_model.safetensors", "pytorch_model.bin"):
        path = try_to_load_from_cache(repo_id, filename)
        if isinstance(path, str):
            return Path(path).parent.name  # .../snapshots/<commit>/<file>
    return None


def card_metadata(readme: str | Path) -> dict[str, Any] | None:
    """The YAML header of a card file as the Hub reads it (huggingface_hub's parser); None when it has none."""
    from huggingface_hub import metadata_load

    return metadata_load(readme)


def is_transient(error: BaseException) -> bool:
    """A failure worth retrying: the connection, a timeout, or the Hub saying 429 or 5xx. A missing file, a
    refused permission or any other 4xx is not: retrying it only delays the error."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int):
        return status == 429 or status >= 500
    names = {cls.__name__ for cls in type(error).__mro__}
    if "OfflineModeIsEnabled" in names:  # HF_HUB_OFFLINE is set: it will not come back by itself
        return False
    return isinstance(error, (ConnectionError, TimeoutError)) or bool(names & TRANSIENT_NAMES)


def with_retries(action: Callable[[], T], what: str, attempts: int = 5, base_delay: float = 1.0,
                 log: Callable[[str], None] = print) -> T:
    """Run `action`, retrying transient failures with exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as error:  # only transient errors are retried; the rest propagate
            if attempt == attempts or not is_transient(error):
                raise
            delay = base_delay * 2 ** (attempt - 1)
            log(f"{what}: {type(error).__name__} (attempt {attempt} of {attempts}); retrying in {delay:.0f} s")
            time.sleep(delay)
    raise AssertionError("unreachable")


LOGIN = "run `hf auth login` (or set HF_TOKEN to a token with read access)"


def gated_status(error: BaseException) -> int | None:
    """401 or 403 when `error` comes from the Hub refusing a gated repo, else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == "GatedRepoError":
            status = getattr(getattr(current, "response", None), "status_code", None)
            return status if status in (401, 403) else 401
        if type(current).__name__ == "DatasetNotFoundError" and "is a gated dataset on the Hub" in str(current):
            return 401 if "must be authenticated" in str(current) else 403
        current = current.__cause__ or current.__context__
    return None


def repo_url(repo_id: str, repo_type: str = "dataset") -> str:
    from huggingface_hub import constants

    prefix = {"dataset": "datasets/", "space": "spaces/"}.get(repo_type, "")
    return f"{constants.ENDPOINT}/{prefix}{repo_id}"


def gated_message(repo_id: str, status: int, repo_type: str = "dataset") -> str:
    """How to get in: for 401, accept the terms and log in; for 403, accept the terms with the token's account."""
    url = repo_url(repo_id, repo_type)
    if status == 401:
        return (f"{repo_id} is gated and this request carried no token: accept its terms at {url} while logged in "
                f"on the Hub, then {LOGIN}, and run the command again")
    return (f"{repo_id} is gated and the account of this token has not been granted access: accept its terms at "
            f"{url} with that account (or wait for the maintainers to approve a manual request), then run the "
            f"command again")
