"""The `imagenet-tc compare-study` command: its arguments and what it prints."""

from __future__ import annotations

import argparse
from typing import Any

from imagenet_textcorrupt.commands.help import ExampleHelpFormatter

EXAMPLE = """example:
  imagenet-tc evaluate --model torchvision:resnet50:IMAGENET1K_V1 --dataset build/study/release \\
      --protocol study --output results/study/resnet50.json
  imagenet-tc compare-study results/study/*.json --out compare/
  imagenet-tc compare-study results/study/*.json results/study-paired/*.json --out compare/

A results file is matched to the study's model by its torchvision spec (imagenet_textcorrupt/data/
study_models.yaml); --study-model FILE=NAME sets any other beside one of them. Results on a study-paired release
make a second table: the same images under our paired protocol, beside the study-protocol figure of the same model
(from its study results, else the study's published one); one result per model and recipe."""


def _pair(text: str) -> tuple[str, str]:
    file, sep, name = text.rpartition("=")
    if not sep or not file or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected RESULTS_FILE=STUDY_MODEL, e.g. lite0.json=resnet50")
    return file, name


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare-study", help="our results beside the source study's table: its figure, ours with its interval, "
                              "the difference",
        description="Sets results of the study's models on a release of the study recipe beside the study's "
                    "published table (top-1 on the originals and five domains, and their Average): per model and "
                    "column the study's figure, ours under its protocol with its 95% interval, the difference, "
                    "whether the study's figure lies outside our interval, and our paired drop and flip rate; results on a "
                    "study-paired release add a second table, the same images under our paired protocol. Writes "
                    "compare_study.md, .csv, .json and a plot, study_vs_ours.png.",
        epilog=EXAMPLE, formatter_class=ExampleHelpFormatter)
    parser.add_argument("results", nargs="+", help="results files of imagenet-tc evaluate on a study or study-paired release")
    parser.add_argument("--out", default="compare-study", help="the folder to write into (default compare-study)")
    parser.add_argument("--study-model", action="append", type=_pair, default=[], metavar="RESULTS=NAME",
                        help="set this results file beside this model of the study's table (repeatable)")
    parser.set_defaults(run=cmd_compare_study)


def cmd_compare_study(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.compare_study import compare_study

    comparison = compare_study(args.results, args.out, dict(args.study_model))
    for model in comparison.models:
        print(f"{model.study_model} ({model.model}): {model.outside} of {len(model.rows)} of the study's figures "
              f"outside our 95% interval")
    if comparison.paired:
        count = len(comparison.models)
        print(f"the study's protocol (study release): {count} model{'s' * (count != 1)}")
        count = len(comparison.paired)
        print(f"the same images, our protocol (study-paired release): {count} model{'s' * (count != 1)}")
    for kind, path in comparison.outputs.items():
        print(f"{kind}: {path}")
    return 0
