"""The dataset card (README.md with its YAML header) and eval.yaml of a release, rendered from `dataset_card/`.

Every number comes from the release summary that `release.assemble` measured on the data, or from the recipe.
The card's YAML carries what the Hub reads (configs, dataset_info, licence and gating, size and task categories,
language, source datasets); its text links the paper by its arXiv page (which the Hub recognises and lists), cites
it in full and says how to log in to read the gated data. eval.yaml follows the Hub's benchmark spec.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import yaml

from imagenet_textcorrupt.hierarchy import load_hierarchy
from imagenet_textcorrupt.prompts import load_prompts
from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS, DEFAULT_CONFIG, HARD_CONFIG, SPLIT

from builder.editors.base import editor_family
from builder.review.evidence import card_sentence
from builder.review.stats_text import rate_text

TEMPLATE = "README.md.jinja"
PRETTY_NAME = "ImageNet-TC"
REPO_PLACEHOLDER = "<org>/imagenet-tc"
HUB_URL = "https://huggingface.co"
PAPER_ARXIV = "2304.02963"  # Mofayezi & Medghalchi, the study this benchmark follows
# The Hub's benchmark spec (eval.yaml) takes an evaluation framework from huggingface.js's
# packages/tasks/src/eval.ts, which benchmark authors extend by pull request; none covers image classification.
# eval_ts_entry.ts beside this file is the entry we add there (its key is this name: what scores a model here, the
# `imagenet-tc evaluate` command). Until it is merged the Hub refuses the eval.yaml commit; publish commits
# eval.yaml alone, after the tag, so a refusal costs nothing else (docs/maintainers/release.md, "Registering the
# benchmark").
EVALUATION_FRAMEWORK = "imagenet-tc"
EVAL_TS_ENTRY = "eval_ts_entry.ts"
# (upper bound exclusive, the Hub's size_categories value); above the last bound: "n>1T". The values are
# huggingface_hub's DatasetCardData list (datasets' size_categories.json has the same)
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
                   (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"),
                   (1_000_000_000_000, "100B<n<1T"))
LARGEST_SIZE_CATEGORY = "n>1T"
IMAGENET_HUB_ID = "ILSVRC/imagenet-1k"  # where ImageNet-1k is on the Hub today (it was "imagenet-1k")
LICENSE_FILE = "LICENSE"  # the release's licence text, beside the card; `license_link` points at it
LICENSE_TEMPLATE = "LICENSE.jinja"
GATING = {
    "license": "other",
    "license_name": "imagenet-terms-of-access",
    "license_link": LICENSE_FILE,
    "extra_gated_prompt": ("The images are derived from ImageNet. By requesting access you agree to the ImageNet "
                           "terms of access: non-commercial research and educational use only."),
    "extra_gated_fields": {"Name": "text", "Affiliation": "text",
                           "I agree to use this dataset for non-commercial research only": "checkbox"},
}


def template_dir() -> Path:
    """`dataset_card/`: inside the installed package (the wheel ships it as builder/dataset_card/), or at the
    repository root for a source checkout or an editable install."""
    package = Path(__file__).resolve().parent.parent  # builder/
    for folder in (package / "dataset_card", package.parent / "dataset_card"):
        if (folder / TEMPLATE).is_file():
            return folder
    raise FileNotFoundError(f"the dataset card template {TEMPLATE} is neither in {package / 'dataset_card'} nor "
                            f"in {package.parent / 'dataset_card'}: reinstall imagenet-textcorrupt")


def size_category(rows: int) -> str:
    """The Hub's size_categories value for a dataset of `rows` rows."""
    for bound, name in SIZE_CATEGORIES:
        if rows < bound:
            return name
    return LARGEST_SIZE_CATEGORY


def source_datasets(source: dict[str, Any]) -> list[str]:
    """The card's source_datasets: what the release's clean images come from."""
    if source["type"] == "hub":
        return [f"extended|{source['dataset']}"]
    if source["type"] in ("imagefolder", "flat", "study"):  # an ImageNet validation folder
        return [f"extended|{IMAGENET_HUB_ID}"]
    return ["original"]  # the sample photos shipped with scikit-image: no Hub dataset


def release_bibtex(version: str, year: int, repo_id: str = REPO_PLACEHOLDER) -> str:
    """The BibTeX entry of one release of the dataset (title, authors, year, URL, revision)."""
    return "\n".join([
        f"@misc{{imagenet_tc_v{version.replace('.', '_')},",
        f"  title        = {{{{ImageNet-TC}}: Text-Guided Corruptions of {{ImageNet}}, version {version}}},",
        "  author       = {{ImageNet-TC contributors}},",
        f"  year         = {{{year}}},",
        "  howpublished = {Hugging Face dataset},",
        f"  url          = {{{HUB_URL}/datasets/{repo_id}}},",
        f"  note         = {{Revision v{version}}}",
        "}"])


def card_yaml(release: dict[str, Any]) -> dict[str, Any]:
    """The YAML header: configs with their data files, dataset_info with sizes, license, gating, and the Hub's
    descriptive fields (size and task categories, language, source datasets).

    dataset_info carries no `features`: the parquet files do (their schema metadata), and `datasets` reads them
    from there. Written per config, the 1000 class names would make the YAML 27.5 KB per config, 0.5 MB for a
    release of 18 configs, and the Hub refuses cards that large (HTTP 413, datasets#7392); without them, 18
    configs take 5.3 KB ("all" lists its 17 group folders, so that the `hard` config is not part of it)."""
    names = [DEFAULT_CONFIG] + sorted(n for n in release["configs"] if n != DEFAULT_CONFIG)
    groups = [n for n in names if n not in (DEFAULT_CONFIG, HARD_CONFIG)]
    configs, infos = [], []
    for name in names:
        c = release["configs"][name]
        # "all" is the union of the groups' files (not "hard", whose rows are in the groups already)
        paths = [f"data/{g}/{SPLIT}-*.parquet" for g in groups] if name == DEFAULT_CONFIG else \
            f"data/{name}/{SPLIT}-*.parquet"
        entry: dict[str, Any] = {"config_name": name, "data_files": [{"split": SPLIT, "path": paths}]}
        if name == DEFAULT_CONFIG:
            entry["default"] = True
        configs.append(entry)
        infos.append({"config_name": name,
                      "splits": [{"name": SPLIT, "num_bytes": c["num_bytes"], "num_examples": c["rows"]}],
                      "download_size": c["download_bytes"], "dataset_size": c["num_bytes"]})
    return {"pretty_name": PRETTY_NAME, **GATING, "language": ["en"],  # the prompts and class names are English
            "size_categories": [size_category(release["configs"][DEFAULT_CONFIG]["rows"])],
            "source_datasets": source_datasets(release["recipe"]["source"]),
            "task_categories": ["image-classification"], "task_ids": ["multi-class-image-classification"],
            "tags": ["robustness", "imagenet", "distribution-shift", "diffusion", "text-guided-editing"],
            "configs": configs, "dataset_info": infos}


def _changelog(release: dict[str, Any], previous: str | Path | None) -> str:
    if previous is None:
        return f"- v{release['version']}: first release of this dataset."
    before = json.loads((Path(previous) / "release.json").read_text())
    lines = [f"- v{release['version']} (from v{before['version']}):"]
    for name in sorted(set(release["configs"]) | set(before["configs"])):
        old = before["configs"].get(name, {}).get("rows", 0)
        new = release["configs"].get(name, {}).get("rows", 0)
        if old != new:
            lines.append(f"  - `{name}`: {old} -> {new} rows")
    if before["recipe"]["prompts"]["version"] != release["recipe"]["prompts"]["version"]:
        lines.append(f"  - prompt hierarchy {before['recipe']['prompts']['version']} -> "
                     f"{release['recipe']['prompts']['version']}")
    if before["recipe"]["editor"] != release["recipe"]["editor"]:
        lines.append(f"  - editor settings changed: {json.dumps(release['recipe']['editor'], sort_keys=True)}")
    return "\n".join(lines if len(lines) > 1 else lines + ["  - no change in row counts"])


def _context(release: dict[str, Any], previous: str | Path | None, year: int) -> dict[str, Any]:
    recipe = release["recipe"]
    prompts = load_prompts(recipe["prompts"]["file"]) if recipe["prompts"].get("file") else load_prompts()
    hierarchy = load_hierarchy()
    configs = release["configs"]
    everything = configs[DEFAULT_CONFIG]
    domain_names = list(everything["by_domain"])
    family = editor_family(recipe["editor"]["name"])
    not_applicable = [{"node": node, "domain": domain, "reason": ops["not_applicable"]}
                      for node, spec in prompts.nodes.items() for domain, ops in spec.items()
                      if "not_applicable" in ops]
    changes = []
    for node, spec in prompts.nodes.items():
        parts = []
        for domain, ops in spec.items():
            if "replace" in ops:
                parts.append(f"{domain}: replaced by {len(ops['replace'])}")
            parts += [f"{domain}: +{len(ops['add'])}" for _ in [0] if ops.get("add")]
            parts += [f"{domain}: -{len(ops['remove'])}" for _ in [0] if ops.get("remove")]
        if parts:
            changes.append({"node": node, "changes": "; ".join(parts)})
    source = recipe["source"]
    return {
        "pretty_name": PRETTY_NAME, "version": release["version"], "repo_id": REPO_PLACEHOLDER,
        "total_rows": everything["rows"], "total_originals": everything["by_domain"].get("original", 0),
        "total_edits": everything["rows"] - everything["by_domain"].get("original", 0),
        "total_imagenet_c": sum(n for d, n in everything["by_domain"].items() if d in CORRUPTION_DOMAINS),
        "configs": configs,
        "config_rows": [{"name": n, "rows": c["rows"], "originals": c["by_domain"].get("original", 0),
                         "edits": c["rows"] - c["by_domain"].get("original", 0),
                         "description": "every group (the default)" if n == DEFAULT_CONFIG else
                         "the hard subset (see below): edits that fool most surrogates, with their originals"
                         if n == HARD_CONFIG else hierarchy.group(n).description}
                        for n, c in sorted(configs.items(), key=lambda kv: kv[0] != DEFAULT_CONFIG)],
        "prompts_version": prompts.version,
        "domains": [{"name": d, "description": prompts.domains[d],
                     "templates": "; ".join(f"`{t}`" for t in prompts.root.get(d, {}).get("replace", []))}
                    for d in prompts.domains],
        "not_applicable": not_applicable, "node_changes": changes,
        "severity_levels": ", ".join(f"{k} = {v}" for k, v in prompts.severity_levels.items()),
        "severities": [{"level": level, "parameters": ", ".join(
            f"{k} {v:g}" for k, v in prompts.severity_parameters(family, level).items())}
            for level in recipe["severities"]],
        "editor": recipe["editor"]["name"],
        "models": ", ".join(f"`{m}`" for m in release["models"] if not m.startswith("imagenet-c@")) or "-",
        "steps": recipe["editor"]["steps"], "guidance": recipe["editor"]["guidance"],
        "dtype": recipe["editor"]["dtype"] or "the default dtype",
        "editor_params": json.dumps(recipe["editor"]["params"], sort_keys=True),
        "source": source["type"] + (f" ({source['dataset']})" if source.get("dataset") else ""),
        "images_per_class": recipe["selection"]["images_per_class"], "seed": recipe["seed"],
        "templates_per_domain": recipe["prompts"]["templates_per_domain"],
        "resolution": recipe["output"]["resolution"], "format": recipe["output"]["format"].upper(),
        "libraries": ", ".join(f"{k} {v}" for k, v in release["libraries"].items()),
        "rejects": release["rejects"], "qc_model": recipe["qc"]["model"], "qc": recipe["qc"],
        "qc_rows": [{"domain": d, "rows": n, "rate": f"{everything['qc_pass_rate'][d]:.1%}"}
                    for d, n in everything["by_domain"].items() if d not in CORRUPTION_DOMAINS],
        "domain_names": domain_names + [f"severity {k}" for k in everything["by_severity"]],
        "count_rows": [{"config": n, "cells": [c["by_domain"].get(d, 0) for d in domain_names]
                        + [c["by_severity"].get(k, 0) for k in everything["by_severity"]]}
                       for n, c in sorted(configs.items(), key=lambda kv: kv[0] != DEFAULT_CONFIG)],
        "imagenet_c": {"corruptions": ", ".join(f"`{c}`" for c in recipe["imagenet_c"]["corruptions"]),
                       "severities": ", ".join(map(str, recipe["imagenet_c"]["severities"]))}
        if recipe.get("imagenet_c") else None,
        "review_sentence": card_sentence(release.get("review")),
        "review": release.get("review"),
        "hard": _hard_context(release),
        "changelog": _changelog(release, previous),
        "arxiv": PAPER_ARXIV, "hub": HUB_URL, "release_bibtex": release_bibtex(release["version"], year),
    }


def _hard_context(release: dict[str, Any]) -> str | None:
    """The card's paragraph on the hard subset (None when the build had no `hard` step)."""
    hard = release.get("hard")
    if not hard:
        return None
    surrogates = ", ".join(f"`{s['model']}` (top-1 {100 * s['accuracy']:.1f}% on the candidates)"
                           for s in hard["surrogates"])
    found = (f"{hard['edits']} of the {hard['candidates']} text-guided edits that passed QC fool the surrogate "
             f"classifiers: {hard['rule']}. Surrogates: {surrogates}.")
    if HARD_CONFIG not in release["configs"]:
        return found + " No edit qualifies, so the release has no `hard` config."
    review = release.get("review")
    reviewed = review.get("hard") if review else None
    if reviewed:
        label = (f"Reviewed label-keeping rate on the subset: {rate_text(reviewed)} ({reviewed['reviewed']} of its "
                 "edits reviewed). An edit whose label is gone counts against every model: read accuracy on `hard` "
                 "against this rate.")
    elif review:
        label = "None of its edits was reviewed: how many of them still show their class is not known."
    else:
        label = ("No review was done: how many of its edits still show their class is not known, and a surrogate "
                 "ensemble picks out lost labels as readily as hard ones.")
    return (f"{found} The `hard` config holds them with their originals ({release['configs'][HARD_CONFIG]['rows']} "
            f"rows); its edits are also in their group configs and `all`. {label}")


class _NoAliases(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]  # libyaml when present
    """Writes repeated values in full: no YAML anchors in a Hub card."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _templates() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir()), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, autoescape=False)


def render_card(release: dict[str, Any], previous: str | Path | None = None, year: int | None = None) -> str:
    """README.md: the YAML header and the text; `year` (default: this year) is the release's in its citation."""
    environment = _templates()
    year = year or _dt.datetime.now(_dt.timezone.utc).year
    body = environment.get_template(TEMPLATE).render(**_context(release, previous, year))
    header = yaml.dump(card_yaml(release), Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{header}---\n\n{body}"


def render_license(release: dict[str, Any]) -> str:
    """LICENSE: the terms the release's images carry (the card's `license_link` points at this file)."""
    environment = _templates()
    models = [m for m in release["models"] if not m.startswith("imagenet-c@")]
    return environment.get_template(LICENSE_TEMPLATE).render(
        pretty_name=PRETTY_NAME, version=release["version"],
        models=", ".join(f"`{m}`" for m in models) or "no text-guided model (ImageNet-C corruptions only)")


def render_eval_yaml(release: dict[str, Any]) -> str:
    """The benchmark description in the Hub's spec: name, description, evaluation_framework and one task per
    config (each task is one leaderboard with one value: the edited top-1 accuracy on the test split, in %)."""
    tasks = [{"id": name, "config": name, "split": SPLIT}
             for name in [DEFAULT_CONFIG] + sorted(n for n in release["configs"] if n != DEFAULT_CONFIG)]
    description = (f"{PRETTY_NAME}: ImageNet validation images edited by a text-guided diffusion model into other "
                   "domains (drawing, weather, color, texture, context) with the object and its label kept. One "
                   "task per config (a group of the ImageNet/WordNet hierarchy, or all); the value is the top-1 "
                   "accuracy in % over the config's edited images, 1000-way, scored with `imagenet-tc evaluate`. "
                   f"Paper: https://arxiv.org/abs/{PAPER_ARXIV}")
    return yaml.safe_dump({"name": PRETTY_NAME, "description": description,
                           "evaluation_framework": EVALUATION_FRAMEWORK, "tasks": tasks},
                          sort_keys=False, width=1000)
