"""Having again what a results file names: its model (at the recorded revision, or the local checkpoint with the
recorded sha256, with the recorded preprocessing) and its dataset rows (at the recorded commit, or the local
folder with the recorded fingerprint), and rerunning the model on chosen rows. Anything that cannot be had again
raises `Unauditable` with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.audit.record import Unauditable
from imagenet_textcorrupt.checksums import sha256_file
from imagenet_textcorrupt.results import Results

# Two classes whose logits are this close may swap places on other hardware (another GPU, TF32, other kernels):
# a row where the submitted top-1 is the rerun's runner-up within this gap is counted as agreeing, and said so.
# In logits (the scale of the 1000 outputs); wider for half precision, whose rounding is ~1e-3 relative.
TIE_TOLERANCE = {"float32": 0.01, "float16": 0.05, "bfloat16": 0.25}


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


@dataclass
class AuditedModel:
    classifier: Any
    resolved_commit: str | None
    checkpoint_sha256: str | None


def _checkpoint(recorded: dict[str, Any], given: str | Path | None, results_dir: Path) -> Path:
    """The local checkpoint file the results were scored with: `given`, or the recorded file name beside the
    results; its sha256 must be the recorded one."""
    name, digest = recorded.get("file"), recorded.get("sha256")
    if not isinstance(digest, str) or not digest:
        raise Unauditable("the results name a checkpoint without its sha256: the weights cannot be identified")
    path = Path(given) if given is not None else results_dir / Path(str(name or "")).name
    if not path.is_file():
        raise Unauditable(f"the results were scored with the local checkpoint {name} (sha256 {digest[:12]}…), "
                          f"which is not here ({path}): pass it with --checkpoint")
    found = sha256_file(path)
    if found != digest:
        raise Unauditable(f"the checkpoint {path} has sha256 {found[:12]}…, but the results record "
                          f"{digest[:12]}…: these are not the weights that were scored")
    return path


def _preprocessing_differences(recorded: Any, loaded: dict[str, Any]) -> list[str]:
    if not isinstance(recorded, dict):
        return ["the results record no preprocessing"]
    return [f"{key}: recorded {recorded.get(key)!r}, the model loads with {loaded.get(key)!r}"
            for key in sorted(set(recorded) | set(loaded), key=str) if recorded.get(key) != loaded.get(key)]


def load_audited_model(results: Results, checkpoint: str | Path | None, results_dir: Path) -> AuditedModel:
    """The model the results name, as it was scored; `Unauditable` when it cannot be had again."""
    from imagenet_textcorrupt.models import load_classifier

    model = results.data["model"]
    spec = model["id"]
    recorded_checkpoint = model.get("checkpoint")
    if not model["pretrained"] and not recorded_checkpoint:
        raise Unauditable(f"model {spec} was scored with random weights (--no-pretrained), which cannot be "
                          f"drawn again")
    path = _checkpoint(recorded_checkpoint, checkpoint, results_dir) if recorded_checkpoint else None
    revision = model.get("revision") if path is None else None
    try:
        classifier = load_classifier(spec, pretrained=True, checkpoint=path, revision=_pinnable(spec, revision))
    except Exception as error:  # noqa: BLE001 - private, gated, unknown prefix, offline: all mean the same here
        raise Unauditable(f"model {spec} cannot be loaded by the auditor ({_first_line(error)})") from None
    if path is None and revision and classifier.revision and classifier.revision != revision:
        raise Unauditable(f"model {spec}: the results record weights at commit {revision}, the auditor loads "
                          f"{classifier.revision}")
    differences = _preprocessing_differences(results.data.get("preprocessing"), classifier.preprocessing)
    if differences:
        raise Unauditable(f"model {spec}: its preprocessing differs from the recorded one ({'; '.join(differences)})")
    # _checkpoint has found the file's sha256 equal to the recorded one
    return AuditedModel(classifier, classifier.revision, recorded_checkpoint["sha256"] if path else None)


def _pinnable(spec: str, revision: str | None) -> str | None:
    from imagenet_textcorrupt.classifier import REVISION_PREFIXES

    return revision if revision and spec.startswith(REVISION_PREFIXES) else None


def open_audited_rows(results: Results) -> Any:
    """The config's rows as they were scored: a Hub dataset at the recorded commit (which must still exist), or
    the local release folder whose files still have the recorded fingerprint."""
    from imagenet_textcorrupt.evaluation import dataset_provenance, open_rows
    from imagenet_textcorrupt.hub import HUB_ID, resolve_commit

    dataset = results.dataset
    if Path(dataset.id).is_dir():
        if not dataset.fingerprint:
            raise Unauditable(f"dataset {dataset.id}: the results record no fingerprint of the local folder")
        try:
            now = dataset_provenance(dataset.id, dataset.config, None)["fingerprint"]
        except Exception as error:  # noqa: BLE001 - a folder that lost its config's files
            raise Unauditable(f"dataset {dataset.id}: {_first_line(error)}") from None
        if now != dataset.fingerprint:
            raise Unauditable(f"dataset {dataset.id}: its files changed since the results were computed "
                              f"(fingerprint {now[:19]}…, recorded {dataset.fingerprint[:19]}…)")
        revision = None
    elif HUB_ID.match(dataset.id):
        if not dataset.sha:
            raise Unauditable(f"dataset {dataset.id}: the results record no commit sha of the revision they were "
                              f"computed on")
        try:
            resolve_commit(dataset.id, dataset.sha, "dataset", trust_sha=False)
        except Exception as error:  # noqa: BLE001 - a revision gone, a repo gone, gated, offline
            raise Unauditable(f"dataset {dataset.id} revision {dataset.sha}: it no longer exists or cannot be "
                              f"reached ({_first_line(error)})") from None
        revision = dataset.sha
    else:
        raise Unauditable(f"dataset {dataset.id}: neither a folder here nor a Hub dataset id")
    try:
        return open_rows(dataset.id, dataset.config, revision, streaming=False)
    except Exception as error:  # noqa: BLE001
        raise Unauditable(f"dataset {dataset.id} config {dataset.config}: {_first_line(error)}") from None


def rerun(classifier: Any, rows: Any, device: str, dtype: str, batch_size: int = 32, progress: bool = True
          ) -> Iterator[tuple[str, list[int], list[float]]]:
    """(id, the two top classes, their logits) of every row of `rows` (a `datasets` dataset of chosen rows)."""
    import torch
    from tqdm import tqdm

    torch_dtype = getattr(torch, dtype)
    classifier.module.to(device, torch_dtype)
    classifier.prepare(progress)
    with torch.inference_mode(), tqdm(total=len(rows), unit="img", desc="audit", disable=not progress,
                                      dynamic_ncols=True) as bar:
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            pixels = torch.stack([classifier.transform(image.convert("RGB")) for image in batch["image"]])
            logits = classifier.forward(pixels.to(device, torch_dtype)).float()
            values, classes = logits.topk(2, dim=-1)
            for row_id, top, value in zip(batch["id"], classes.cpu().tolist(), values.cpu().tolist()):
                yield row_id, top, value
            bar.update(len(batch["id"]))
