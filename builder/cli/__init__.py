"""`python -m builder`: the maintainers' commands.

Exit codes: 0 success, 1 a failed check or error, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from imagenet_textcorrupt.errors import ImageNetTCError

if TYPE_CHECKING:
    from builder.recipes import QCSpec, Recipe


def cmd_hierarchy(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.resources import WORDNET_FILE, data_path

    from builder.wordnet import open_wordnet
    from builder.wordnet_hierarchy import render_hierarchy, write_hierarchy

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


def _load_recipe(args: argparse.Namespace) -> Recipe:
    """The recipe of --recipe, its source folder replaced by --source if given."""
    from dataclasses import replace

    from builder.recipes import load_recipe

    recipe = load_recipe(args.recipe)
    if args.source:
        if recipe.source.type not in ("imagefolder", "flat", "study"):
            raise ImageNetTCError(f"--source: the recipe's source ({recipe.source.type}) reads no folder")
        recipe = replace(recipe, source=replace(recipe.source, path=args.source))
    return recipe


def cmd_plan(args: argparse.Namespace) -> int:
    import json

    from builder.plan import assumed_images, costs_text, make_shards, summarize
    from builder.sources import create_source

    recipe = _load_recipe(args)
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
    from builder.review.evidence import rate_text, threshold_cost

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


def _distributed() -> tuple[int, int, str | None]:
    """(processes, this process's rank, its device) under `accelerate launch` or `torchrun`, read from the
    environment they set; (1, 0, None) otherwise. Shards are split by rank alone: no process talks to another."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 1, 0, None
    import torch

    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, int(os.environ.get("RANK", "0")), f"cuda:{local}" if torch.cuda.is_available() else None


def cmd_build(args: argparse.Namespace) -> int:
    from builder.generate import Builder

    recipe = _load_recipe(args)
    world, rank, device = _distributed()
    builder = Builder(recipe, args.out, device=args.device or device, progress=not args.no_progress)
    summary = builder.run(args.num_shards, args.shard_index, world, rank, resume=not args.no_resume)
    prefix = f"[process {rank}/{world}] " if world > 1 else ""
    print(f"{prefix}{recipe.name} {recipe.version}: {len(summary.shards_built)} shards built, "
          f"{len(summary.shards_skipped)} already done, of {len(summary.shards_mine)} for this process "
          f"({summary.shards_total} in all)")
    print(f"{prefix}rows {summary.rows}, rejects {summary.rejects}, {summary.seconds:.1f} s")
    for domain, rate in summary.pass_rates().items():
        print(f"{prefix}  QC pass rate {domain:<9} {rate:6.1%}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from builder.release import assemble

    out = assemble(args.build, args.out, int(args.target_mb * 1024 * 1024), args.previous)
    print(f"wrote {out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from builder.validate import validate

    problems = validate(args.release)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{args.release}: {len(problems)} problems", file=sys.stderr)
        return 1
    print(f"{args.release}: valid")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from builder.publish import publish

    from huggingface_hub.errors import HfHubHTTPError

    gated = False if args.ungated else (args.gated or "auto")
    try:
        publish(args.release, args.repo_id, args.version, private=args.private, gated=gated,
                dry_run=args.dry_run, retry_delay=args.retry_delay, warn=lambda text: print(text, file=sys.stderr))
    except HfHubHTTPError as error:
        status = getattr(error.response, "status_code", "?")
        hint = {401: " (not logged in: run `hf auth login` or set HF_TOKEN to a token with write access)",
                403: f" (the token cannot write to {args.repo_id}: it needs write access to its namespace)"}
        print(f"python -m builder publish: the Hub answered {status}{hint.get(status, '')}: "
              f"{str(error).splitlines()[0]}; no tag was made, rerun to resume (files already sent are skipped)",
              file=sys.stderr)
        return 1
    except OSError as error:  # the network (after the retries), or a file of the release
        print(f"python -m builder publish: {type(error).__name__}: {error}; no tag was made, rerun to resume",
              file=sys.stderr)
        return 1
    return 0


def cmd_metric_space(args: argparse.Namespace) -> int:
    from builder.metric_space import set_dataset, write_core

    if args.dataset and not args.check:
        print(f"{set_dataset(args.space, args.dataset)}: datasets: [{args.dataset}]")
    path, current = write_core(args.space, check=args.check)
    if current:
        print(f"{path} is current")
        return 0
    if args.check:
        print(f"{path} differs from imagenet_textcorrupt/metrics/paired.py: regenerate it with python -m builder "
              f"metric-space --space {args.space}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    import getpass

    from builder.review.server import open_session, serve
    from builder.review.verdicts import check_reviewer

    reviewer = check_reviewer(args.reviewer or getpass.getuser())
    session = open_session(args.folder, reviewer, args.sample, args.seed)
    serve(session, args.host, args.port, tuple(args.allow_origin))
    return 0


def cmd_review_stats(args: argparse.Namespace) -> int:
    import json

    from builder.review.evidence import folder_review
    from builder.review.stats import render_text

    if not 0.0 < args.target <= 1.0:
        print(f"python -m builder review-stats: error: --target {args.target} must lie in (0, 1]", file=sys.stderr)
        return 2
    summary = folder_review(args.folder, args.target)
    if summary is None:
        print(f"{args.folder}: no verdicts in reviews/; run python -m builder review {args.folder}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2) if args.json else render_text(summary), end="" if not args.json else "\n")
    return 0


def cmd_hard(args: argparse.Namespace) -> int:
    from builder.hard import find_hard

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    checkpoints = {}
    for entry in args.checkpoint:
        spec, sep, path = entry.rpartition("=")
        if not sep or not spec or not path:
            print(f"python -m builder hard: error: --checkpoint {entry!r}: use MODEL=FILE.safetensors", file=sys.stderr)
            return 2
        checkpoints[spec] = path
    find_hard(args.build, models, checkpoints, device=args.device or "cpu", progress=not args.no_progress)
    return 0


def cmd_train_micro(args: argparse.Namespace) -> int:
    import shlex

    from builder.micro.train import TrainSettings, train

    settings = TrainSettings(seed=args.seed, images=args.images, vae_steps=args.vae_steps, unet_steps=args.unet_steps,
                             batch_size=args.batch_size, vae_batch_size=args.vae_batch_size, threads=args.threads)
    command = "python -m builder " + shlex.join(sys.argv[1:] if args.command_line is None else args.command_line)
    try:
        out = train(args.out, settings, progress=not args.no_progress, command=command)
    except FileExistsError as error:
        print(f"python -m builder train-micro: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out} (loss curves: {out / 'loss.png'})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m builder", description="ImageNet-TC maintainers' tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    hierarchy = commands.add_parser(
        "hierarchy", help="regenerate the shipped WordNet hierarchy file with nltk's WordNet 3.0",
        description="Writes every ImageNet-1k class's WordNet 3.0 synset, lemmas, definition and hypernym paths.")
    hierarchy.add_argument("--out", help="the file to write (atomically)")
    hierarchy.add_argument("--check", action="store_true",
                           help="compare with the shipped file instead of writing; exit 1 when it differs")
    hierarchy.add_argument("--wordnet-dir", help="a WordNet 3.0 dict folder (data.noun, index.noun, ...) to read "
                           "instead of nltk's installed corpus")
    hierarchy.set_defaults(run=cmd_hierarchy)

    plan = commands.add_parser("plan", help="expand a recipe into work items: counts, UNet evaluations, GPU-hours")
    plan.add_argument("--recipe", required=True,
                      help="a recipe file, or the name of a shipped one (smoke, v1, study, study-paired)")
    plan.add_argument("--throughput", type=float,
                      help="UNet rows per second of your GPU (bench/gpu.py prints it), for a GPU-hour estimate")
    plan.add_argument("--json", action="store_true", help="print the summary as JSON")
    plan.add_argument("--source", metavar="FOLDER", help="the source folder, instead of the recipe's source.path "
                      "(e.g. the ImageNet validation folder, val/<wnid>/*.JPEG)")
    plan.add_argument("--reviews", metavar="FOLDER",
                      help="a reviewed build or release: estimate what the recipe's QC thresholds keep, and the share "
                           "of the edits they keep that still show their class")
    plan.set_defaults(run=cmd_plan)

    build = commands.add_parser("build", help="generate a release's shards (resumable; accelerate-aware)")
    build.add_argument("--recipe", required=True,
                       help="a recipe file, or the name of a shipped one (smoke, v1, study, study-paired)")
    build.add_argument("--out", required=True, help="the build folder")
    build.add_argument("--source", metavar="FOLDER", help="the source folder, instead of the recipe's source.path "
                       "(e.g. the ImageNet validation folder, val/<wnid>/*.JPEG)")
    build.add_argument("--num-shards", type=int, default=1, help="split the shards across N jobs (job arrays)")
    build.add_argument("--shard-index", type=int, default=0, help="this job's index in 0..N-1")
    build.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    build.add_argument("--no-resume", action="store_true", help="rebuild shards that are already done")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(run=cmd_build)

    release = commands.add_parser("release", help="assemble a finished build into a release folder (Hub layout)")
    release.add_argument("--build", required=True, help="the build folder")
    release.add_argument("--out", required=True, help="the release folder to create (must not exist or be empty)")
    release.add_argument("--previous", help="the previous release folder, for the card's changelog")
    release.add_argument("--target-mb", type=float, default=500.0, help="target size of a data file (MB)")
    release.set_defaults(run=cmd_release)

    check = commands.add_parser("validate", help="check a release folder (publishing refuses a failing one)")
    check.add_argument("release", help="the release folder")
    check.set_defaults(run=cmd_validate)

    publish = commands.add_parser("publish", help="upload a validated release to the Hub and tag its version")
    publish.add_argument("release", help="the release folder")
    publish.add_argument("--repo-id", required=True, help="ORG/NAME of the dataset repo")
    publish.add_argument("--version", required=True, help="the tag, vX.Y.Z (refused if it exists)")
    publish.add_argument("--dry-run", action="store_true", help="print the files, sizes, commits and tag; touch nothing")
    publish.add_argument("--private", action="store_true", help="create the repo private")
    gating = publish.add_mutually_exclusive_group()
    gating.add_argument("--gated", choices=["auto", "manual"],
                        help="how access requests to the gated repo are approved (default auto); the images are "
                             "under ImageNet's terms, so releases are always gated unless --ungated")
    gating.add_argument("--ungated", action="store_true",
                        help="publish without gating (warns): only for a release whose images are not ImageNet's")
    publish.add_argument("--retry-delay", type=float, default=1.0,
                         help="seconds before the first retry of a transient error (doubling after each)")
    publish.set_defaults(run=cmd_publish)

    review = commands.add_parser(
        "review", help="a local web page to judge whether edits keep their label (answers go to FOLDER/reviews/)",
        description="Serves a stratified seeded sample (domain x severity x passed_qc) of the folder's text-guided "
                    "edits, one at a time beside its original; keys 1/2/3 answer same class / not that class / can't "
                    "tell, arrows move. Every reviewer gets the same sample; a restart resumes.")
    review.add_argument("folder", metavar="BUILD_OR_RELEASE", help="a finished build folder or a release folder")
    review.add_argument("--sample", type=int,
                        help="rows in the sample (default: the folder's reviews/sample.json, else 200); a different "
                             "size redraws it, keeping the rows of a smaller one")
    review.add_argument("--seed", type=int, help="the sample's seed (default: the recorded one, else 0)")
    review.add_argument("--reviewer", help="your name, which names reviews/<reviewer>.jsonl (default: your login)")
    review.add_argument("--port", type=int, default=7870, help="the port (default 7870)")
    review.add_argument("--host", default="127.0.0.1",
                        help="the address to bind (default 127.0.0.1: this machine only; an SSH tunnel is the safe "
                             "way to review from elsewhere)")
    review.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                        help="another origin (http://HOST:PORT) whose pages may send answers, when the page is "
                             "reached under a name other than localhost (repeatable)")
    review.set_defaults(run=cmd_review)

    stats = commands.add_parser(
        "review-stats", help="label-keeping rates, agreement and calibrated QC thresholds from the reviews",
        description="Reads FOLDER/reviews/*.jsonl: the share of edits that keep their label among rows that passed "
                    "and failed QC (overall, per domain, per severity) with 95% intervals that respect the "
                    "stratified sample, Cohen's or Fleiss' kappa, and for each QC score the loosest threshold whose "
                    "passing edits keep their label at --target, with the share of edits it keeps.")
    stats.add_argument("folder", metavar="FOLDER", help="a reviewed build or release folder")
    stats.add_argument("--target", type=float, default=0.95, help="the label-keeping rate to calibrate for (0.95)")
    stats.add_argument("--json", action="store_true", help="print the summary as JSON (as release.json holds it)")
    stats.set_defaults(run=cmd_review_stats)

    hard = commands.add_parser(
        "hard", help="find the edits that pass QC and fool most surrogate classifiers (the `hard` config)",
        description="Scores the build's QC-passing text-guided edits with each surrogate and writes BUILD/hard.json: "
                    "the edits that more than half of them get wrong. `release` then adds a `hard` config with "
                    "those edits and their originals, and the card states its size, the surrogates and the "
                    "reviewed label-keeping rate on it.")
    hard.add_argument("build", metavar="BUILD", help="a finished build folder")
    hard.add_argument("--models", required=True, help="surrogates, comma-separated: timm:NAME, hf:ID, ...")
    hard.add_argument("--checkpoint", action="append", default=[], metavar="MODEL=FILE",
                      help="local safetensors weights for one of --models (repeatable)")
    hard.add_argument("--device", help="torch device (default cpu)")
    hard.add_argument("--no-progress", action="store_true", help="no progress bar")
    hard.set_defaults(run=cmd_hard)

    micro = commands.add_parser(
        "train-micro", help="train the micro text-to-image model on the micro world (CPU, under an hour)",
        description="Trains a Stable-Diffusion-shaped pipeline at micro size (VAE, CLIP text encoder, UNet with "
                    "cross-attention, DDIM) on procedural images captioned 'a red star on grass', and saves it with "
                    "save_pretrained, with training.json (command, seed, versions, losses) and loss.png.")
    micro.add_argument("--out", required=True, help="the folder to create (must not exist or be empty)")
    from builder.micro.train import TrainSettings

    defaults = TrainSettings()
    micro.add_argument("--seed", type=int, default=defaults.seed, help=f"the seed (default {defaults.seed})")
    micro.add_argument("--images", type=int, default=defaults.images,
                       help=f"distinct training images (default {defaults.images})")
    micro.add_argument("--vae-steps", type=int, default=defaults.vae_steps,
                       help=f"VAE training steps (default {defaults.vae_steps})")
    micro.add_argument("--unet-steps", type=int, default=defaults.unet_steps,
                       help=f"UNet and text-encoder training steps (default {defaults.unet_steps})")
    micro.add_argument("--batch-size", type=int, default=defaults.batch_size,
                       help=f"images per UNet step (default {defaults.batch_size})")
    micro.add_argument("--vae-batch-size", type=int, default=defaults.vae_batch_size,
                       help=f"images per VAE step (default {defaults.vae_batch_size})")
    micro.add_argument("--threads", type=int, default=defaults.threads,
                       help=f"torch CPU threads (default {defaults.threads}: the result depends on it)")
    micro.add_argument("--no-progress", action="store_true", help="no progress bars")
    micro.set_defaults(run=cmd_train_micro, command_line=None)

    from builder.editor_bench.cli import add_parser as add_editor_bench

    add_editor_bench(commands)

    space = commands.add_parser(
        "metric-space", help="regenerate the metric Space's standalone copy of the metrics",
        description="Writes imagenet_tc_core.py, the copy of imagenet_textcorrupt/metrics/paired.py that the evaluate "
                    "module in eval/imagenet_tc/ imports (imagenet-textcorrupt is not on PyPI, so a Space cannot install it).")
    space.add_argument("--space", default="eval/imagenet_tc", help="the Space folder (default eval/imagenet_tc)")
    space.add_argument("--dataset", help="the published dataset (ORG/NAME) to name in the Space card's datasets:")
    space.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when it differs")
    space.set_defaults(run=cmd_metric_space)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ImageNetTCError as error:
        print(f"python -m builder {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
