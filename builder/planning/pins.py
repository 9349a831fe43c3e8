"""Which weights a build uses: every model pinned to one commit (or one folder's content) before anything loads.

A Hub id with a branch or tag ("main", "v1") is resolved to its commit once: from the Hub when it is reachable,
else from the local cache (`HF_HUB_OFFLINE=1`). A folder is pinned by a hash of its config, tokenizer and weight
files; `tiny:<kind>` names a tiny random pipeline built into the cache. The build records its pins in
`models.json`; every process and shard of it loads exactly those commits, and a resume whose models no longer
match (a folder whose files changed, a pin another recipe made) is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.checksums import update_with_file
from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.hub import COMMIT_SHA, resolve_commit as resolve_hub_commit

_HASHED_SUFFIXES = {".json", ".txt", ".safetensors", ".model"}


class PinError(ImageNetTCError):
    """A model that cannot be pinned to a commit, or a build whose pins no longer hold."""


@dataclass(frozen=True)
class ModelPin:
    """One model of a build: as the recipe names it, what loads it, and what rows record."""

    model: str  # as asked: a Hub id, a folder, or tiny:<kind>
    revision: str | None  # as asked
    source: str  # what from_pretrained is given: the Hub id or the folder
    commit: str | None  # the Hub commit that loads (None for a folder)
    identity: str  # "id@commit" or "local:<sha256 prefix>"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def folder_identity(folder: str | Path) -> str:
    """A reproducible name for the weights in a folder: a hash of its configs, vocabularies and weights."""
    path = Path(folder)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _HASHED_SUFFIXES):
        digest.update(str(file.relative_to(path)).encode())
        update_with_file(digest, file)
    return f"local:{digest.hexdigest()[:16]}"


def resolve_commit(repo_id: str, revision: str | None) -> str:
    """The commit a Hub model's revision points to: asked of the Hub, or read from the cache when offline."""
    if revision and COMMIT_SHA.match(revision):
        return revision
    from huggingface_hub import snapshot_download

    problems = []
    if os.environ.get("HF_HUB_OFFLINE", "").lower() not in {"1", "true", "yes", "on"}:
        try:
            return resolve_hub_commit(repo_id, revision, "model")
        except Exception as error:  # noqa: BLE001  (HTTP errors, connection errors: the cache may still know)
            problems.append(f"the Hub: {type(error).__name__}: {(str(error).splitlines() or [''])[0]}")
    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True)).name
    except Exception as error:  # noqa: BLE001  (huggingface_hub raises several kinds for "not cached")
        problems.append(f"the local cache: {type(error).__name__}")
    raise PinError(f"cannot pin {repo_id}@{revision or 'main'} to a commit ({'; '.join(problems)}); connect to the "
                   "Hub once, or download the model (hf download) before building offline")


def pin_model(model: str, revision: str | None = None) -> ModelPin:
    """Pin a model as a recipe names it."""
    from builder.micro.tiny_models import resolve_model

    source = resolve_model(str(model))
    if Path(source).is_dir():
        return ModelPin(model, revision, source, None, folder_identity(source))
    commit = resolve_commit(source, revision)
    return ModelPin(model, revision, source, commit, f"{source}@{commit}")


def pin_build_models(folder: Path, wanted: dict[str, tuple[str, str | None]]) -> dict[str, ModelPin]:
    """The pins of a build folder's models ({role: (model, revision)}): recorded in `models.json` by the first
    process, then read by every other. A folder model whose content changed since is refused."""
    record = folder / "models.json"
    if not record.exists():
        fresh = {role: pin_model(model, revision).to_dict() for role, (model, revision) in sorted(wanted.items())}
        _create_once(record, json.dumps(fresh, indent=2, sort_keys=True) + "\n")
    try:
        recorded = json.loads(record.read_text())
        pins = {role: ModelPin(**recorded[role]) for role in wanted}
    except (ValueError, KeyError, TypeError) as error:
        raise PinError(f"{record} is not a pin record of this build ({error}); use another --out") from None
    for role, (model, revision) in wanted.items():
        pin = pins[role]
        if (pin.model, pin.revision) != (model, revision):
            raise PinError(f"{record}: the {role} model is pinned as {pin.model}@{pin.revision}, the recipe asks "
                           f"for {model}@{revision}; use another --out")
        if pin.commit is None:
            now = folder_identity(pin.source)
            if now != pin.identity:
                raise PinError(f"the {role} model folder {pin.source} changed since this build started (pinned "
                               f"{pin.identity}, now {now}); restore it or use another --out")
    return pins


def pin_build_implementations(folder: Path, wanted: dict[str, str]) -> None:
    """Built-in code a build's rows depend on besides its models ({what: version}, e.g. the ImageNet-C corruptions
    and frost's pictures): recorded in `implementations.json` by the first process; a process running another
    version is refused, since its rows would mix with the recorded version's in one build."""
    record = folder / "implementations.json"
    if not record.exists():
        _create_once(record, json.dumps(wanted, indent=2, sort_keys=True) + "\n")
    try:
        recorded = json.loads(record.read_text())
    except ValueError as error:
        raise PinError(f"{record} is not an implementation record of this build ({error}); use another --out") \
            from None
    for what, version in sorted(wanted.items()):
        if recorded.get(what) != version:
            raise PinError(f"{record}: this build's {what} rows were made with {recorded.get(what)}, this process "
                           f"makes them with {version}; finish the build with that version or use another --out")


def _create_once(path: Path, text: str) -> None:
    """Write `path` whole unless it exists already (then another process's record stands)."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    atomic_write_text(staging, text)
    try:
        os.link(staging, path)  # fails if another process made it first
    except FileExistsError:
        pass
    finally:
        staging.unlink(missing_ok=True)
