"""The row schema of ImageNet-TC, config names and file naming: what every release and every reader agree on.

One row per image. Originals are rows too (domain "original", severity 0), so each group config is
self-contained and every edit is paired with its clean source through `source_id`. The `datasets.Features` are
built lazily (`features()`), so the core stays importable without `datasets`.
"""

from __future__ import annotations

import re
import sys
from typing import Any

ORIGINAL_DOMAIN = "original"
DOMAINS = ("drawing", "weather", "color", "texture", "context")  # the domains of edits, in the order tables show them
# the domains of ImageNet-C rows (Hendrycks & Dietterich 2019), rendered on the same source images: one per
# corruption, in ImageNet-C's order (noise, blur, weather, digital); tables show them after the text-guided ones
CORRUPTION_DOMAINS = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
                      "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
                      "jpeg_compression")
EDIT_DOMAINS = DOMAINS + CORRUPTION_DOMAINS
DEFAULT_CONFIG = "all"
# the edits that pass QC and that most surrogate classifiers get wrong, with their originals (python -m builder
# hard); across groups, so it is scored 1000-way like "all", and its rows are not part of "all" a second time
HARD_CONFIG = "hard"
SPLIT = "test"

# column -> datasets feature type ("image" and "label" are special); the order is the order of the columns
COLUMNS: dict[str, str] = {
    "id": "string",  # stable: <source_id> for originals, <source_id>-<domain>-p<prompt#>-s<severity> for edits
    "source_id": "string",  # the clean image this row comes from (its own id for originals)
    "image": "image",
    "label": "label",  # ClassLabel over the 1000 ImageNet display names in index order
    "wnid": "string",
    "group": "string",
    "domain": "string",  # "original" or one of drawing, weather, color, texture, context
    "template": "string",  # the template as written in prompts.yaml ("" for originals)
    "prompt": "string",  # the target prompt ("" for originals)
    "source_prompt": "string",
    "severity": "int8",  # 0 for originals, 1..3 for edits
    "editor": "string",
    "model": "string",  # id@revision, or local:<sha256>
    "seed": "int64",
    "steps": "int16",
    "guidance": "float32",
    "edit_parameters": "string",  # JSON: the severity's knobs and the method's own parameters
    "prompts_version": "string",
    "clip_label_rank": "int16",  # rank of the true class among the 1000 names under CLIP (1 = top)
    "clip_label_prob": "float32",
    "clip_edit_direction": "float32",  # directional similarity of image change and text change (0 for originals)
    "ssim": "float32",  # structural similarity to the source (1 for originals)
    "passed_qc": "bool",
}


def features() -> Any:
    """The `datasets.Features` of a row."""
    from datasets import ClassLabel, Features, Image, Value

    from imagenet_textcorrupt.classes import class_names

    built = {}
    for name, kind in COLUMNS.items():
        if kind == "image":
            built[name] = Image()
        elif kind == "label":
            built[name] = ClassLabel(names=class_names())
        else:
            built[name] = Value(kind)
    return Features(built)


def edit_id(source_id: str, domain: str, prompt_index: int, severity: int) -> str:
    """The stable id of an edit row: the source image, the domain, the prompt's place in the class's resolved
    prompts of that domain (for a given prompt hierarchy version), and the severity."""
    return f"{source_id}-{domain}-p{prompt_index:03d}-s{severity}"


def shard_file(config: str, index: int, count: int) -> str:
    """A data file's path inside a release, in the Hub's layout."""
    return f"data/{config}/{SPLIT}-{index:05d}-of-{count:05d}.parquet"


def domain_order(domain: str) -> tuple[int, str]:
    """Sort key: the text-guided domains, then the ImageNet-C corruptions, each in their usual order, then any other
    name alphabetically."""
    return (EDIT_DOMAINS.index(domain), "") if domain in EDIT_DOMAINS else (len(EDIT_DOMAINS), domain)


def severity_order(severity: Any) -> tuple[int, str]:
    """Sort key: severities by number (they are strings in JSON), then anything that is not a number."""
    try:
        return int(severity), ""
    except ValueError:
        return sys.maxsize, str(severity)


def path_component(text: str) -> str:
    """A file or folder name made from free text (a config, a model id): letters, digits, dots, hyphens and
    underscores kept, any other run of characters one underscore; it never starts with a dot, so it cannot be `..`
    or hidden, and it is never empty."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"
