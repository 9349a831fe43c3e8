"""The leaderboard commands of `imagenet-tc`: `submit` (a model's results to its Hub repository, and to a
results repository) and `leaderboard` (ranked tables from many results files, or the Hub's own leaderboard).
"""

from __future__ import annotations

import argparse
from typing import Any

from imagenet_textcorrupt.commands.help import add_command, example


def add_parsers(commands: Any) -> None:
    """submit and leaderboard."""
    submit = add_command(
        commands, "submit", help="put a model's results on the Hub leaderboard",
        description="Checks the results (metrics recomputed from the predictions file beside each), then writes "
                    ".eval_results/imagenet-tc.yaml and the model card's model-index to the model repository "
                    "(merged with what it has). The token comes from HF_TOKEN or `hf auth login`.",
        epilog=example("imagenet-tc submit results/convnext_base.json --model-repo ORG/MODEL --dry-run",
                       "imagenet-tc submit results/convnext_base.json --model-repo ORG/MODEL --open-pr \\",
                       "    --results-repo ORG/imagenet-tc-results"))
    submit.add_argument("results", nargs="+", help="results files of one model (one per config)")
    submit.add_argument("--model-repo", required=True, help="the model's repository, ORG/MODEL")
    submit.add_argument("--open-pr", action="store_true", help="open a pull request instead of committing to main")
    submit.add_argument("--dry-run", action="store_true", help="print the files; send nothing")
    submit.add_argument("--results-repo", help="also add the results and predictions files to this results dataset "
                                               "repository (ORG/RESULTS), as a pull request")
    submit.set_defaults(run=cmd_submit)

    leaderboard = add_command(
        commands, "leaderboard", help="ranked tables from many results files",
        description="Ranks the results of a folder or of a results dataset repository: one table per config and "
                    "overall (config all), as markdown, CSV and JSON, with the report's plots. Invalid files are "
                    "refused with their reasons; different dataset revisions are never mixed. Given the benchmark "
                    "dataset once the Hub lists it as a benchmark, shows the Hub's own leaderboard.",
        epilog=example("imagenet-tc leaderboard results/ --out board/",
                       "imagenet-tc leaderboard ORG/imagenet-tc-results --out board/ --verified-only --audit 200"))
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
    leaderboard.add_argument("--audits", metavar="DIR",
                             help="where audit records are kept (default $IMAGENET_TC_CACHE/audits or "
                                  "~/.cache/imagenet-tc/audits)")
    leaderboard.add_argument("--device", help="the device audits run on (default cuda when available)")
    leaderboard.add_argument("--quiet", action="store_true", help="no progress bars")
    leaderboard.add_argument("--cache", metavar="DIR",
                             help="where the outcomes of verifications are kept, so that a rebuild recomputes only "
                                  "new or changed results (default <cache root>/leaderboard: $IMAGENET_TC_CACHE, "
                                  "else ~/.cache/imagenet-tc)")
    leaderboard.set_defaults(run=cmd_leaderboard)


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
