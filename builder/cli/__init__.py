"""`python -m builder`: the maintainers' commands, one module of argument parsing per group, in the order the data
goes through them.

- `builder.cli.planning`: `hierarchy`, `plan`
- `builder.cli.build`: `build`
- `builder.cli.review`: `review`, `review-stats`, `hard`
- `builder.cli.release`: `release`, `validate`, `publish`, `metric-space`
- `builder.cli.micro`: `train-micro`, `editor-bench`

Every command's `--help` ends with an example. Exit codes: 0 success, 1 a failed check or error, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from builder.cli.build import add_parsers as add_build
from builder.cli.common import HelpFormatter, example_epilog
from builder.cli.micro import add_parsers as add_micro
from builder.cli.planning import add_parsers as add_planning
from builder.cli.release import add_parsers as add_release
from builder.cli.review import add_parsers as add_review
from imagenet_textcorrupt.errors import ImageNetTCError

GROUPS = (add_planning, add_build, add_review, add_release, add_micro)  # the order `--help` lists the commands in


def build_parser() -> argparse.ArgumentParser:
    """The parser of `python -m builder`, with every group's commands."""
    parser = argparse.ArgumentParser(
        prog="python -m builder", formatter_class=HelpFormatter,
        description="ImageNet-TC maintainers' tools: plan, build, review, release and publish the benchmark, and "
                    "train and bench on the micro world. `python -m builder COMMAND --help` describes a command.",
        epilog=example_epilog("python -m builder plan --recipe smoke"))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_group in GROUPS:
        add_group(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (an `ImageNetTCError` is reported on one line, exit code 1)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ImageNetTCError as error:
        print(f"python -m builder {args.command}: error: {error}", file=sys.stderr)
        return 1
