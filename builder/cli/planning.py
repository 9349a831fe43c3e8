"""Planning commands: the data a release starts from, and what a recipe will hold and cost.

`hierarchy` regenerates the shipped WordNet hierarchy (`imagenet_textcorrupt/data/wordnet_hierarchy.jsonl`) from
nltk's WordNet 3.0, or checks that it is current:

```bash
python -m builder hierarchy --check
```

`plan` expands a recipe into its work without building anything: source images, rows by group, domain and
severity, shards, UNet evaluations and, given your GPU's throughput (`bench/gpu.py` measures it), GPU-hours:

```bash
python -m builder plan --recipe v1 --throughput 100
```
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from builder.cli.common import Commands, add_command
from imagenet_textcorrupt.errors import ImageNetTCError

if TYPE_CHECKING:
    from builder.planning.recipes import QCSpec, Recipe

RECIPE_HELP = "a recipe file, or the name of a shipped one (smoke, v1, study, study-paired)"
SOURCE_HELP = ("the source folder, instead of the recipe's source.path (e.g. the ImageNet validation folder, "
               "val/<wnid>/*.JPEG)")


def add_parsers(commands: Commands) -> None:
    """Add `hierarchy` and `plan` to `python -m builder`'s commands."""
    hierarchy = add_command(
        commands, "hierarchy", help="regenerate or check the shipped WordNet hierarchy file",
        description="Writes every ImageNet-1k class's WordNet 3.0 synset, lemmas, definition and hypernym paths, "
                    "read with nltk's WordNet 3.0.",
        example="python -m builder hierarchy --check")
    hierarchy.add_argument("--out", help="the file to write (atomically)")
    hierarchy.add_argument("--check", action="store_true",
                           help="compare with the shipped file instead of writing; exit 1 when it differs")
    hierarchy.add_argument("--wordnet-dir", help="a WordNet 3.0 dict folder (data.noun, index.noun, ...) to read "
                           "instead of nltk's installed corpus")
    hierarchy.set_defaults(run=cmd_hierarchy)

    plan = add_command(
        commands, "plan", help="a recipe's work: rows, shards, UNet evaluations, GPU-hours",
        description="Expands a recipe into its work items without building anything: the source images, rows by "
                    "group, domain and severity, shards, UNet evaluations and, with --throughput, GPU-hours. When "
                    "the source cannot be listed here, every selected class is assumed to have its "
                    "images_per_class images.",
        example="python -m builder plan --recipe v1 --throughput 100")
    plan.add_argument("--recipe", required=True, help=RECIPE_HELP)
    plan.add_argument("--throughput", type=float,
                      help="UNet rows per second of your GPU (bench/gpu.py prints it), for a GPU-hour estimate")
    plan.add_argument("--json", action="store_true", help="print the summary as JSON")
    plan.add_argument("--source", metavar="FOLDER", help=SOURCE_HELP)
    plan.add_argument("--reviews", metavar="FOLDER",
                      help="a reviewed build or release: estimate what the recipe's QC thresholds keep, and the share "
                           "of the edits they keep that still show their class")
    plan.set_defaults(run=cmd_plan)


def cmd_hierarchy(args: argparse.Namespace) -> int:
    from builder.planning.wordnet import open_wordnet
    from builder.planning.wordnet_hierarchy import render_hierarchy, write_hierarchy
    from imagenet_textcorrupt.resources import WORDNET_FILE, data_path

    if args.check:
        with open_wordnet(args.wordnet_dir) as wordnet:
            fresh = render_hierarchy(wordnet)
        shipped_path = data_path(WORDNET_FILE)
        shipped = shipped_path.read_text(encoding="utf-8")
        if fresh == shipped:
            print(f"{shipped_path} is up to date ({len(fresh.splitlines()) - 1} classes)")
            return 0
        changed = sum(a != b for a, b in zip(fresh.splitlines(), shipped.splitlines()))
        print(f"{shipped_path} differs from WordNet in {changed} lines: regenerate it with "
              f"python -m builder hierarchy --out {shipped_path}", file=sys.stderr)
        return 1
    if not args.out:
        print("python -m builder hierarchy: error: --out is required (or --check)", file=sys.stderr)
        return 2
    out = write_hierarchy(args.out, args.wordnet_dir)
    print(f"wrote {out}")
    return 0


def load_recipe_argument(args: argparse.Namespace) -> Recipe:
    """The recipe of --recipe, its source folder replaced by --source if given (`plan` and `build`)."""
    from dataclasses import replace

    from builder.planning.recipes import load_recipe

    recipe = load_recipe(args.recipe)
    if args.source:
        if recipe.source.type not in ("imagefolder", "flat", "study"):
            raise ImageNetTCError(f"--source: the recipe's source ({recipe.source.type}) reads no folder")
        recipe = replace(recipe, source=replace(recipe.source, path=args.source))
    return recipe


def cmd_plan(args: argparse.Namespace) -> int:
    import json

    from builder.planning.plan import assumed_images, costs_text, make_shards, summarize
    from builder.planning.sources import create_source

    recipe = load_recipe_argument(args)
    try:
        images = create_source(recipe.source).select(recipe)
    except (ImageNetTCError, OSError) as error:  # plan a release whose images are on another machine
        if args.source:  # a folder named on the command line must be the right one
            raise
        print(f"note: the source cannot be listed here ({error}); assuming {recipe.selection.images_per_class} "
              "images for every selected class", file=sys.stderr)
        images = assumed_images(recipe)
    summary = summarize(recipe, make_shards(recipe, images), args.throughput)
    if args.reviews:
        summary["qc_cost"] = _qc_cost(recipe.qc, args.reviews)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    edits = f"{summary['edits']} edits" if not summary["imagenet_c_rows"] else \
        f"{summary['edits']} text-guided edits, {summary['imagenet_c_rows']} ImageNet-C rows"
    print(f"{summary['recipe']} {summary['version']}: {summary['images']} source images, {summary['rows']} rows "
          f"({edits}), {summary['shards']} shards")
    for title, key in (("group", "by_group"), ("domain", "by_domain"), ("severity", "by_severity")):
        print(f"\nrows by {title}:")
        for name, count in summary[key].items():
            print(f"  {name!s:<18} {count:8d}")
    print(f"\nUNet work ({recipe.editor.name}, {recipe.editor.steps} steps, batch {recipe.editor.batch_size}): "
          f"{summary['unet_evaluations']:,} rows in {summary['unet_calls']:,} calls "
          f"({summary['unet_rows_per_edit']:.1f} rows per edit), {summary['unet_backward_rows']:,} rows also "
          "backward" + (" (every null-text step at its full inner steps: an upper bound)"
                        if recipe.editor.name == "p2p-nulltext" else ""))
    if "prompt_to_prompt_editors" in summary:
        print("\n" + costs_text(summary["prompt_to_prompt_editors"]))
    if "qc_cost" in summary:
        print(summary["qc_cost"]["text"])
    if "gpu_hours" in summary:
        print(f"GPU-hours at {args.throughput:g} UNet rows/s: {summary['gpu_hours']:.2f}")
    else:
        print("GPU-hours: pass --throughput (UNet rows per second of your GPU, see bench/gpu.py)")
    return 0


def _qc_cost(qc: QCSpec, reviewed: str) -> dict[str, object]:
    """What the recipe's QC thresholds keep, judged on the reviews of the folder `reviewed`."""
    from builder.review.evidence import threshold_cost
    from builder.review.stats_text import rate_text

    rule = f"rank <= {qc.label_rank_max}, direction >= {qc.edit_direction_min:g}, SSIM >= {qc.ssim_min:g}"
    found = threshold_cost(reviewed, qc.label_rank_max, qc.edit_direction_min, qc.ssim_min)
    if found is None:
        return {"rule": rule, "reviews": reviewed, "estimate": None,
                "text": f"\nQC ({rule}) on {reviewed}'s reviews: no verdicts there (python -m builder review)"}
    result, rows = found
    if result is None:
        return {"rule": rule, "reviews": reviewed, "estimate": None,
                "text": f"\nQC ({rule}) on {reviewed}'s reviews: no reviewed edit passes these thresholds"}
    text = (f"\nQC ({rule}) on {reviewed}'s {rows} reviewed edits: keeps {100 * result.share:.1f}% of the edits, "
            f"of which {rate_text(result.as_dict())} keep their label")
    return {"rule": rule, "reviews": reviewed, "estimate": result.as_dict(), "text": text}
