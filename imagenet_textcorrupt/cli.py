"""The `imagenet-tc` command line: browse the class and prompt hierarchies, score a classifier (`evaluate`) and
turn results into reports, submit and rank results, audit them, set them beside the source study's table.

Each group of commands parses its own arguments (`commands/`: browse, scoring, leaderboard; `audit/cli.py`,
`compare_study/cli.py`); this module puts them under one parser, dispatches, and keeps `demo`, the one command
that hands over to the builder. Exit codes: 0 success, 2 bad usage or an unknown name (wnid, class, group), 1 any
other error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from imagenet_textcorrupt import __version__
from imagenet_textcorrupt.audit.cli import add_parser as add_audit_parser
from imagenet_textcorrupt.commands import browse, leaderboard, scoring
from imagenet_textcorrupt.commands.browse import cmd_hierarchy, cmd_prompts, cmd_show
from imagenet_textcorrupt.commands.help import ExampleHelpFormatter, add_command, example
from imagenet_textcorrupt.commands.leaderboard import cmd_leaderboard, cmd_submit
from imagenet_textcorrupt.commands.scoring import cmd_evaluate, cmd_report, print_summary
from imagenet_textcorrupt.compare_study.cli import add_parser as add_compare_study_parser
from imagenet_textcorrupt.errors import ImageNetTCError, UnknownNameError

__all__ = ["EXIT_USAGE", "build_parser", "cmd_demo", "cmd_evaluate", "cmd_hierarchy", "cmd_leaderboard",
           "cmd_prompts", "cmd_report", "cmd_show", "cmd_submit", "main", "print_summary"]

EXIT_USAGE = 2


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
    """`imagenet-tc` and every command's parser, in the order `imagenet-tc --help` lists them."""
    parser = argparse.ArgumentParser(
        prog="imagenet-tc", description="ImageNet-TC: text-guided corruptions of ImageNet, a robustness benchmark for "
                                        "image classifiers.",
        epilog=example("imagenet-tc demo", "imagenet-tc COMMAND --help",
                       note="Each command's --help ends with an example of it."),
        formatter_class=ExampleHelpFormatter)
    parser.add_argument("--version", action="version", version=f"imagenet-tc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = add_command(
        commands, "demo", help="the whole product on its embedded defaults, offline, in about two minutes",
        description="Builds the smoke recipe (real sample photos, a tiny random-weight diffusion model), assembles "
                    "and validates the release, loads it with datasets, evaluates a pretrained EfficientNet-Lite0, "
                    "writes a report with plots, edits held-out scenes of the micro world with the study's editor on "
                    "the trained micro model, and says where everything is. Rerunning resumes.",
        epilog=example("imagenet-tc demo --out imagenet-tc-demo"))
    demo.add_argument("--out", default="imagenet-tc-demo", help="the folder to work in (default: imagenet-tc-demo)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(run=cmd_demo)

    browse.add_parsers(commands)
    scoring.add_parsers(commands)
    leaderboard.add_parsers(commands)
    add_audit_parser(commands)
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
