"""What to tell a user whom the Hub refused a gated repo: log in (401), or accept its terms (403).

The clients wrap the Hub's answer: transformers raises an OSError from huggingface_hub's GatedRepoError, found by
walking the exception's causes; `datasets` raises a DatasetNotFoundError that drops the cause, and only its
message says which of the two it was.
"""

from __future__ import annotations

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
