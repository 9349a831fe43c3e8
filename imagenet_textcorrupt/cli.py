"""The `imagenet-tc` command line: browse the class and prompt hierarchies, score a classifier (`evaluate`) and
turn results into reports.

Exit codes: 0 success, 2 bad usage or an unknown name (wnid, class, group), 1 any other error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from imagenet_textcorrupt import __version__
from imagenet_textcorrupt.errors import ImageNetTCError, UnknownNameError
from imagenet_textcorrupt.schema import DEFAULT_CONFIG

if TYPE_CHECKING:
    from imagenet_textcorrupt.results import Results

EXIT_USAGE = 2


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _class_entry(cls: Any, hierarchy: Any) -> dict[str, Any]:
    placement = hierarchy.placement(cls.wnid)
    return {"index": cls.index, "wnid": cls.wnid, "name": cls.name, "group": placement.group,
            "path": list(placement.path)}


def cmd_hierarchy(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.classes import get_class, load_classes
    from imagenet_textcorrupt.hierarchy import load_hierarchy

    hierarchy = load_hierarchy()
    if args.wnid:
        selected = [get_class(args.wnid)]
        if args.group and hierarchy.group_of(args.wnid) != hierarchy.group(args.group).name:
            selected = []
    elif args.group:
        selected = hierarchy.members(hierarchy.group(args.group).name)
    else:
        selected = list(load_classes())

    if args.json:
        _print_json([_class_entry(c, hierarchy) for c in selected])
    elif args.wnid and not selected:
        cls = get_class(args.wnid)
        print(f"{cls.wnid} ({cls.name}) is in group {hierarchy.group_of(cls.wnid)}, not {args.group}",
              file=sys.stderr)
        return 1
    elif args.wnid:
        _show_class(selected[0], hierarchy)
    elif args.group:
        group = hierarchy.group(args.group)
        print(f"{group.name}: {group.title} ({len(selected)} classes) - {group.description}")
        print(f"anchors: {', '.join(group.synsets)}")
        for c in selected:
            print(f"{c.index:4d}  {c.wnid}  {c.name}")
    else:
        counts = hierarchy.counts()
        width = max(len(g) for g in counts)
        print(f"{'group':<{width}}  classes  title")
        for group in hierarchy.groups:
            print(f"{group.name:<{width}}  {counts[group.name]:7d}  {group.title}")
        print(f"{DEFAULT_CONFIG:<{width}}  {sum(counts.values()):7d}  every group (the default config)")
    return 0


def _show_class(cls: Any, hierarchy: Any) -> None:
    placement = hierarchy.placement(cls.wnid)
    print(f"{cls.wnid}  {cls.name}  (index {cls.index}, synset {cls.synset})")
    print(f"lemmas: {', '.join(cls.lemmas)}")
    print(f"definition: {cls.definition}")
    steps = "the class itself" if placement.distance == 0 else f"{placement.distance} steps up"
    print(f"group: {placement.group}  (anchor {placement.anchor}, {steps})")
    if placement.other_groups:
        print(f"also reachable on other paths: {', '.join(placement.other_groups)}")
    print("path:")
    for depth, synset in enumerate(placement.path):
        marker = "  <- group anchor" if synset == placement.anchor else ""
        print(f"  {'  ' * depth}{synset}{marker}")
    if len(placement.paths) > 1:
        print(f"({len(placement.paths)} hypernym paths in WordNet; shown: the one through the group anchor)")


def cmd_prompts(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.prompts import load_prompts

    prompt_hierarchy = load_prompts(args.prompts_file) if args.prompts_file else load_prompts()
    resolved = prompt_hierarchy.for_class(args.wnid)
    if args.domain:
        unknown = [d for d in args.domain if d not in prompt_hierarchy.domains]
        if unknown:
            from imagenet_textcorrupt.errors import closest
            raise UnknownNameError("domain", unknown[0], closest(unknown[0], prompt_hierarchy.domains))
    wanted = args.domain or list(prompt_hierarchy.domains)
    if args.json:
        entry = resolved.to_json()
        entry["domains"] = {d: v for d, v in entry["domains"].items() if d in wanted}
        entry["source_prompt"] = resolved.source_prompt
        entry["prompts_version"] = prompt_hierarchy.version
        entry["not_applicable"] = {d: r for d, r in resolved.not_applicable.items() if d in wanted}
        entry["dropped"] = [{"prompt": p, "reason": r} for p, r in resolved.dropped]
        _print_json(entry)
        return 0
    print(f"{resolved.wnid}  {resolved.name}  (group {resolved.group}, prompt hierarchy "
          f"v{prompt_hierarchy.version})")
    print(f"source prompt: {resolved.source_prompt}")
    for domain in wanted:
        if domain in resolved.not_applicable:
            print(f"\n{domain}: not applicable ({resolved.not_applicable[domain]})")
            continue
        prompts = resolved.domains[domain]
        print(f"\n{domain} ({len(prompts)}):")
        for prompt in prompts:
            print(f"  {prompt.text}")
    for text, reason in resolved.dropped:
        print(f"\nleft out: {text} ({reason})")
    return 0


def print_summary(results: Results) -> None:
    """The headline figures of a results file, for the terminal."""
    from imagenet_textcorrupt.estimate import format_estimate

    m, dataset = results.metrics, results.dataset
    level = f"{100 * m.confidence:g}% intervals" if m.confidence and m.resamples else "no intervals"
    print(f"{results.model.id} on {dataset.id} [{dataset.config}] @ {dataset.revision_label}: "
          f"{m.sources} source images, {m.edits} edits; top-1 in % ({level})")
    print(f"  clean top-1   {format_estimate(m.clean.get('top1'))}")
    print(f"  edited top-1  {format_estimate(m.edited.get('top1'))}   (paired clean "
          f"{format_estimate(m.edited.get('clean_top1'))})")
    print(f"  drop          {format_estimate(m.edited.get('drop'))}   flip rate "
          f"{format_estimate(m.edited.get('flip_rate'))}")
    for domain, figures in m.by_domain.items():
        print(f"  {domain:<12}  {format_estimate(figures.get('top1'))}   drop {format_estimate(figures.get('drop'))}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.evaluation import EvaluationSettings, evaluate
    from imagenet_textcorrupt.results import predictions_path

    settings = EvaluationSettings(model=args.model, dataset=args.dataset, config=args.config, revision=args.revision,
                                  batch_size=args.batch_size, device=args.device, dtype=args.dtype,
                                  limit=args.limit, streaming=args.streaming, workers=args.workers,
                                  pretrained=not args.no_pretrained, checkpoint=args.checkpoint, family=args.family,
                                  resamples=args.resamples, seed=args.seed, protocol=args.protocol)
    results = evaluate(settings, args.output, progress=not args.quiet)
    print_summary(results)
    if "study_protocol" in results.data:
        from imagenet_textcorrupt.study_protocol import summary_lines

        print("\n".join(summary_lines(results.data["study_protocol"])))
    print(f"results: {args.output}\npredictions: {predictions_path(args.output)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.report import report_main

    return report_main(args.results, args.out, args.reference)


def cmd_show(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.contact_sheet import draw_contact_sheet

    sheet = draw_contact_sheet(args.dataset, args.config, args.out, revision=args.revision, limit=args.limit,
                               domains=args.domain, seed=args.seed, per_source=args.per_source, results=args.results,
                               streaming=args.streaming)
    edits = sheet.tiles - len(sheet.sources)
    print(f"contact sheet: {sheet.path} ({sheet.size[0]} x {sheet.size[1]} px)")
    print(f"  source images ({len(sheet.sources)}): {', '.join(sheet.sources)}")
    left = f"; {sheet.left_out} more left out (--per-source {args.per_source})" if sheet.left_out else ""
    print(f"  tiles: {sheet.tiles} (originals {len(sheet.sources)}, edits {edits}){left}")
    if sheet.flipped is not None:
        print(f"  edits that flipped the model's prediction in config {args.config}: {sheet.flipped}; shown: those "
              f"of the source images with most flips")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.submission import submit

    submit(args.results, args.model_repo, open_pr=args.open_pr, dry_run=args.dry_run, results_repo=args.results_repo)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.leaderboard import leaderboard_main

    return leaderboard_main(args.source, args.out, args.revision, verified_only=args.verified_only,
                            benchmark=args.benchmark, publish_to_source=args.publish, audit_rows=args.audit_rows,
                            audited_only=args.audited_only, audits=args.audits, device=args.device,
                            progress=not args.quiet, cache=args.cache)


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        from builder.demo import run_demo  # the maintainers' package ships in the same distribution
    except ImportError as error:
        print(f"error: the demo needs the builder package ({error}): install the repository with "
              "pip install -c constraints.txt '.[all]'", file=sys.stderr)
        return 1
    run_demo(args.out, progress=not args.no_progress)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagenet-tc", description="ImageNet-TC: text-guided corruptions of "
                                     "ImageNet, a robustness benchmark for image classifiers.")
    parser.add_argument("--version", action="version", version=f"imagenet-tc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="the whole product on its embedded defaults, offline, in about two minutes",
        description="Builds the smoke recipe (real sample photos, a tiny random-weight diffusion model), assembles "
                    "and validates the release, loads it with datasets, evaluates a pretrained EfficientNet-Lite0, "
                    "writes a report with plots, edits held-out scenes of the micro world with the study's editor on "
                    "the trained micro model, and says where everything is. Rerunning resumes.")
    demo.add_argument("--out", default="imagenet-tc-demo", help="the folder to work in (default: imagenet-tc-demo)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(run=cmd_demo)

    hierarchy = commands.add_parser("hierarchy", help="groups (dataset configs) and where each class sits",
                                    description="Without options: every group with its class count.")
    hierarchy.add_argument("--group", help="list the classes of one group")
    hierarchy.add_argument("--wnid", help="show one class (wnid, index or name): WordNet path and group")
    hierarchy.add_argument("--json", action="store_true",
                           help='print a list of {"index", "wnid", "name", "group", "path"}, one per class')
    hierarchy.set_defaults(run=cmd_hierarchy)

    prompts = commands.add_parser("prompts", help="the resolved prompts of one class, by domain")
    prompts.add_argument("wnid", help="the class: wnid (n02123045), index or name")
    prompts.add_argument("--domain", action="append", help="only this domain (repeatable)")
    prompts.add_argument("--prompts-file", help="a prompt hierarchy YAML file to use instead of the shipped one")
    prompts.add_argument("--json", action="store_true",
                         help='print {"wnid", "name", "group", "domains": {domain: [prompt, ...]}}')
    prompts.set_defaults(run=cmd_prompts)

    evaluate = commands.add_parser(
        "evaluate", help="score a classifier on one config of the benchmark",
        description="Scores a timm or transformers ImageNet-1k classifier, or an image-text model zero-shot "
                    "(CLIP's class names and 80 templates), on one config (and revision) of "
                    "ImageNet-TC with the model's own preprocessing, and writes a results JSON (provenance and "
                    "metrics with 95% bootstrap intervals) and, beside it, the predictions (*.predictions.jsonl).")
    evaluate.add_argument("--model", required=True,
                          help="timm:NAME, hf:ID (a Hub id or a folder saved with save_pretrained), "
                               "torchvision:ARCH:WEIGHTS (scored with those weights' own transforms), a local model "
                               "folder, or an image-text model scored zero-shot: clip:ID (transformers) or "
                               "open_clip:ARCH/PRETRAINED")
    evaluate.add_argument("--dataset", required=True, help="a Hub dataset id or a local release folder")
    evaluate.add_argument("--config", default=DEFAULT_CONFIG, help=f"a group, or {DEFAULT_CONFIG} (the default)")
    evaluate.add_argument("--revision", help="a tag (v1.0.0), branch or commit of the dataset repository")
    evaluate.add_argument("--output", required=True, help="the results file to write (*.json)")
    evaluate.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    evaluate.add_argument("--device", help="cuda, cuda:1, cpu, mps... (default: cuda when available)")
    evaluate.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                          help="weights and inputs precision (default float32)")
    evaluate.add_argument("--limit", type=int,
                          help="only the first N source images, each with all its edits (smoke runs)")
    evaluate.add_argument("--streaming", action="store_true", help="stream the rows instead of caching the config")
    evaluate.add_argument("--workers", type=int, help="DataLoader workers decoding images (default min(8, CPUs))")
    evaluate.add_argument("--no-pretrained", action="store_true",
                          help="random weights (offline smoke runs); the results say so")
    evaluate.add_argument("--checkpoint", help="a local .safetensors state dict to load into the architecture")
    evaluate.add_argument("--family", choices=("cnn", "transformer", "hybrid", "mlp", "zero-shot", "other"),
                          help="the architecture family shown in reports (default: guessed from the name)")
    evaluate.add_argument("--resamples", type=int, help="bootstrap resamples for the intervals (default 1000)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    evaluate.add_argument("--protocol", choices=("paired", "study"), default="paired",
                          help="study: also the source study's figures (top-1 per domain over 1000 outputs, unpaired; "
                               "Average = mean of the edited domains), stored under study_protocol (default paired)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.set_defaults(run=cmd_evaluate)

    report = commands.add_parser("report", help="markdown tables and PNG plots from results files",
                                 description="Writes report.md and plots (accuracy by domain and severity, clean "
                                             "vs edited accuracy by architecture family) for one or more models.")
    report.add_argument("results", nargs="+", help="results files written by imagenet-tc evaluate")
    report.add_argument("--out", required=True, help="the folder to write the report into")
    report.add_argument("--reference", help="a results file to normalise corruption errors by (mCE)")
    report.set_defaults(run=cmd_report)

    show = commands.add_parser(
        "show", help="a contact sheet: source images and their edits, or the edits that flipped a model",
        description="Draws one row per source image: the original, then its edits by domain and severity with "
                    "their prompts. With --results, only the edits that flipped the model's prediction (wrong "
                    "while the original was right), each with the predicted and the true class.")
    show.add_argument("dataset", help="a Hub dataset id or a local release folder")
    show.add_argument("--config", default=DEFAULT_CONFIG, help=f"a group, or {DEFAULT_CONFIG} (the default)")
    show.add_argument("--revision", help="a tag, branch or commit of the dataset repository (default: the one "
                                         "--results was scored on)")
    show.add_argument("--out", required=True, help="the image to write (*.png or *.jpg)")
    show.add_argument("--limit", type=int, default=4, help="source images to show (default 4)")
    show.add_argument("--domain", action="append",
                      help="only edits of this domain (repeatable or comma-separated; default: every domain)")
    show.add_argument("--seed", type=int, default=0, help="seed of the choice of source images (default 0)")
    show.add_argument("--per-source", type=int, default=12, help="at most this many edits per source (default 12)")
    show.add_argument("--results", help="a results file of imagenet-tc evaluate on this dataset and config: show "
                                        "the edits that flipped its predictions, sources with most flips first")
    show.add_argument("--streaming", action="store_true", help="stream the rows instead of caching the config")
    show.set_defaults(run=cmd_show)

    submit = commands.add_parser(
        "submit", help="put a model's results on the Hub leaderboard",
        description="Checks the results (metrics recomputed from the predictions file beside each), then writes "
                    ".eval_results/imagenet-tc.yaml and the model card's model-index to the model repository "
                    "(merged with what it has). The token comes from HF_TOKEN or `hf auth login`.")
    submit.add_argument("results", nargs="+", help="results files of one model (one per config)")
    submit.add_argument("--model-repo", required=True, help="the model's repository, ORG/MODEL")
    submit.add_argument("--open-pr", action="store_true", help="open a pull request instead of committing to main")
    submit.add_argument("--dry-run", action="store_true", help="print the files; send nothing")
    submit.add_argument("--results-repo", help="also add the results and predictions files to this results dataset "
                                               "repository (ORG/RESULTS), as a pull request")
    submit.set_defaults(run=cmd_submit)

    leaderboard = commands.add_parser(
        "leaderboard", help="ranked tables from many results files",
        description="Ranks the results of a folder or of a results dataset repository: one table per config and "
                    "overall (config all), as markdown, CSV and JSON, with the report's plots. Invalid files are "
                    "refused with their reasons; different dataset revisions are never mixed. Given the benchmark "
                    "dataset once the Hub lists it as a benchmark, shows the Hub's own leaderboard.")
    leaderboard.add_argument("source", help="a folder of results files, a results dataset repository ORG/NAME, or "
                                            "the benchmark dataset ORG/NAME (the Hub's leaderboard)")
    leaderboard.add_argument("--out", required=True, help="the folder to write into")
    leaderboard.add_argument("--revision", help="keep only results on this dataset revision (tag or sha)")
    leaderboard.add_argument("--verified-only", action="store_true",
                             help="rank only results whose metrics were recomputed from their predictions; list "
                                  "the others as refused, with the reason (what the leaderboard Space serves)")
    leaderboard.add_argument("--benchmark", metavar="ORG/NAME",
                             help="also show the Hub's own leaderboard of this benchmark dataset, once listed")
    leaderboard.add_argument("--publish", action="store_true",
                             help="upload what was written to the results repository SOURCE under leaderboard/, "
                                  "where the leaderboard Space (eval/leaderboard) reads it")
    leaderboard.add_argument("--audit", type=int, metavar="N", dest="audit_rows",
                             help="audit every result not audited yet by rerunning its model on N rows (imagenet-tc "
                                  "audit); audits are kept by the results file's sha256, so a rebuild reruns nothing")
    leaderboard.add_argument("--audited-only", action="store_true",
                             help="rank only audited results; list the others as refused, with the reason")
    leaderboard.add_argument("--audits", metavar="DIR", help="where audit records are kept (default "
                                                             "$IMAGENET_TC_CACHE/audits or ~/.cache/imagenet-tc/audits)")
    leaderboard.add_argument("--device", help="the device audits run on (default cuda when available)")
    leaderboard.add_argument("--quiet", action="store_true", help="no progress bars")
    leaderboard.add_argument("--cache", metavar="DIR",
                             help="where the outcomes of verifications are kept, so that a rebuild recomputes only "
                                  "new or changed results (default <cache root>/leaderboard: $IMAGENET_TC_CACHE, "
                                  "else ~/.cache/imagenet-tc)")
    leaderboard.set_defaults(run=cmd_leaderboard)

    from imagenet_textcorrupt.audit.cli import add_parser as add_audit_parser

    add_audit_parser(commands)

    from imagenet_textcorrupt.compare_study.cli import add_parser as add_compare_study_parser

    add_compare_study_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except UnknownNameError as error:
        print(f"imagenet-tc {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ImageNetTCError as error:
        print(f"imagenet-tc {args.command}: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. piped into head
        return 0


if __name__ == "__main__":
    sys.exit(main())
