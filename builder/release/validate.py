"""Checks a release folder before it is published; `publish` refuses a release with any problem.

Every data file has the sha256 release.json records (`file_sha256`: assembly wrote it), and no other parquet file
is under data/; every config loads with `datasets.load_dataset(RELEASE, config, split="test")` and in streaming;
row counts match release.json and the card's dataset_info; features are identical across configs and equal the
schema; every image decodes; ids are unique; every edit's original is in the same config; the card's YAML parses
and its counts per domain match the data; the header stays small (no per-config features) and its
licence link names a file of the release; eval.yaml follows the Hub's benchmark spec with one task per config.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from imagenet_textcorrupt.checksums import sha256_file
from imagenet_textcorrupt.hub import card_metadata
from imagenet_textcorrupt.schema import DEFAULT_CONFIG, ORIGINAL_DOMAIN, SPLIT, features

from builder.release.benchmark import EVAL_YAML, eval_yaml_problems
from builder.release.assemble import FILE_SHA256

# The card's YAML header stays well below what the Hub accepts: it answers 413 to cards whose metadata is large
# (datasets#7392, per-config ClassLabel names); ours is 5.3 KB for 18 configs ("all" lists the group folders)
CARD_YAML_LIMIT = 64 * 1024


def card_problems(root: Path, header: dict[str, Any]) -> list[str]:
    """The card's header against what the Hub takes: its size, and a licence link to a file the release has."""
    problems = []
    text = (root / "README.md").read_text(encoding="utf-8")
    size = len(text.split("\n---", 1)[0].encode("utf-8"))
    if size > CARD_YAML_LIMIT:
        problems.append(f"README.md: the YAML header is {size} bytes, over {CARD_YAML_LIMIT} (the Hub refuses "
                        "large card metadata); keep per-config features out of dataset_info")
    link = header.get("license_link")
    if header.get("license") == "other" and not link:
        problems.append("README.md: license: other needs a license_link (LICENSE, the file beside the card)")
    elif isinstance(link, str) and "://" not in link and not (root / link).is_file():
        problems.append(f"README.md: license_link {link!r} names a file the release does not have")
    return problems


def card_header(readme: Path) -> dict[str, Any]:
    header = card_metadata(readme)
    if header is None:
        raise ValueError("README.md has no YAML header between --- lines")
    return header


def data_file_problems(root: Path, summary: dict[str, Any]) -> list[str]:
    """The release's data files against release.json's `file_sha256`: every recorded file is there with the
    recorded bytes, and data/ holds no parquet file the release was not assembled with. One line per file."""
    recorded = summary.get(FILE_SHA256)
    if not isinstance(recorded, dict):
        return [f"release.json: no {FILE_SHA256} (the sha256 of every data file), so the data cannot be checked; "
                "assemble the release again"]
    problems = []
    for name, digest in sorted(recorded.items()):
        path = root / name
        if not path.is_file():
            problems.append(f"{name}: missing (release.json records sha256 {digest})")
            continue
        actual = sha256_file(path)
        if actual != digest:
            problems.append(f"{name}: sha256 {actual} differs from release.json's {digest} (the file changed after "
                            "assembly)")
    found = sorted(p.relative_to(root).as_posix() for p in (root / "data").rglob("*.parquet"))
    problems += [f"{name}: not in release.json's {FILE_SHA256} (the release was not assembled with it)"
                 for name in found if name not in recorded]
    return problems


def review_problems(root: Path, summary: dict[str, Any]) -> list[str]:
    """The review figures of release.json must be what the verdicts in reviews/ give (nothing edited by hand,
    nothing left out)."""
    from builder.review.evidence import folder_review
    from builder.review.folder import ReviewError

    recorded = summary.get("review")
    try:
        computed = folder_review(root, recorded["calibration"]["target"] if recorded else 0.95)
    except ReviewError as error:
        return [f"reviews/: {error}"]
    if computed is None:
        return ["release.json: review figures, but reviews/ holds no verdicts"] if recorded else []
    if recorded is None:
        return ["release.json: no review figures, but reviews/ holds verdicts (assemble the release again)"]
    recorded = {key: value for key, value in recorded.items() if key != "hard"}
    if recorded != computed:
        changed = sorted(key for key in set(recorded) | set(computed) if recorded.get(key) != computed.get(key))
        return [f"release.json: the review figures ({', '.join(changed)}) differ from what reviews/ gives "
                "(python -m builder review-stats FOLDER --json prints them)"]
    return []


def validate(release: str | Path, progress: bool = False) -> list[str]:
    """Every problem found, one line each naming the config or file; empty when the release is good."""
    from datasets import load_dataset

    root = Path(release)
    problems: list[str] = []
    try:
        header = card_header(root / "README.md")
        summary = json.loads((root / "release.json").read_text())
    except (OSError, ValueError, yaml.YAMLError) as error:
        return [f"{root}: {error}"]
    problems += card_problems(root, header)
    configs = [c["config_name"] for c in header.get("configs", [])]
    infos = {i["config_name"]: i for i in header.get("dataset_info", [])}
    defaults = [c["config_name"] for c in header.get("configs", []) if c.get("default")]
    if defaults != [DEFAULT_CONFIG]:
        problems.append(f"README.md: the default config must be '{DEFAULT_CONFIG}', found {defaults}")
    if set(configs) != set(summary["configs"]):
        problems.append(f"README.md: configs {sorted(configs)} differ from release.json {sorted(summary['configs'])}")
    problems += data_file_problems(root, summary)
    problems += review_problems(root, summary)
    try:
        problems += eval_yaml_problems((root / EVAL_YAML).read_text(encoding="utf-8"), configs, SPLIT)
    except OSError as error:
        problems.append(f"{EVAL_YAML}: {error}")
    expected_features = features()
    for config in configs:
        where = f"config {config}"
        expected = summary["configs"].get(config, {})
        try:
            # our own checks below say which number is off; datasets' split check would only fail the load.
            # A folder loaded by path is cached under a key that ignores its files: rebuild, never reuse.
            table = load_dataset(str(root), config, split=SPLIT, verification_mode="no_checks",
                                 download_mode="force_redownload")
        except Exception as error:  # report, and go on with the other configs
            problems.append(f"{where}: load_dataset failed: {type(error).__name__}: {error}")
            continue
        if table.features != expected_features:
            problems.append(f"{where}: features differ from the schema")
        declared = infos.get(config, {}).get("splits", [{}])[0].get("num_examples")
        if not (len(table) == expected.get("rows") == declared):
            problems.append(f"{where}: {len(table)} rows loaded, release.json says {expected.get('rows')}, "
                            f"the card says {declared}")
        ids = table["id"]
        domains = table["domain"]
        duplicates = [i for i, n in Counter(ids).items() if n > 1]
        if duplicates:
            problems.append(f"{where}: {len(duplicates)} duplicate ids, e.g. {duplicates[0]}")
        originals = {i for i, d in zip(ids, domains) if d == ORIGINAL_DOMAIN}
        orphans = [i for i, s, d in zip(ids, table["source_id"], domains) if d != ORIGINAL_DOMAIN and s not in originals]
        if orphans:
            problems.append(f"{where}: {len(orphans)} edits whose original is not in the config, e.g. {orphans[0]}")
        if dict(Counter(domains)) != expected.get("by_domain"):
            problems.append(f"{where}: rows per domain {dict(Counter(domains))} differ from the card's "
                            f"{expected.get('by_domain')}")
        streamed = 0
        for row in load_dataset(str(root), config, split=SPLIT, streaming=True):
            streamed += 1
            try:
                row["image"].load()
            except Exception as error:  # an image that does not decode
                problems.append(f"{where}: row {row['id']}: the image does not decode ({error})")
        if streamed != len(table):
            problems.append(f"{where}: {streamed} rows streamed, {len(table)} loaded")
    return problems
