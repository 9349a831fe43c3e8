"""The scoring commands of `imagenet-tc`: `evaluate` (a classifier on one config of the benchmark: a results
file and its predictions) and `report` (markdown tables and plots from results files).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from imagenet_textcorrupt.commands.help import add_command, example
from imagenet_textcorrupt.schema import DEFAULT_CONFIG

if TYPE_CHECKING:
    from imagenet_textcorrupt.results import Results


def add_parsers(commands: Any) -> None:
    """evaluate and report."""
    evaluate = add_command(
        commands, "evaluate", help="score a classifier on one config of the benchmark",
        description="Scores a timm or transformers ImageNet-1k classifier, or an image-text model zero-shot "
                    "(CLIP's class names and 80 templates), on one config (and revision) of "
                    "ImageNet-TC with the model's own preprocessing, and writes a results JSON (provenance and "
                    "metrics with 95% bootstrap intervals) and, beside it, the predictions (*.predictions.jsonl).",
        epilog=example("imagenet-tc evaluate --model timm:convnext_base.fb_in1k --dataset ORG/imagenet-tc "
                       "--revision v1.0.0 \\",
                       "    --config animals --output results/convnext_base-animals.json"))
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

    report = add_command(
        commands, "report", help="markdown tables and PNG plots from results files",
        description="Writes report.md and plots (accuracy by domain and severity, clean vs edited accuracy by "
                    "architecture family) for one or more models.",
        epilog=example("imagenet-tc report results/*.json --out report/ --reference results/resnet50.json"))
    report.add_argument("results", nargs="+", help="results files written by imagenet-tc evaluate")
    report.add_argument("--out", required=True, help="the folder to write the report into")
    report.add_argument("--reference", help="a results file to normalise corruption errors by (mCE)")
    report.set_defaults(run=cmd_report)


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
