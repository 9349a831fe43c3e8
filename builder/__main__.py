"""`python -m builder`: the maintainers' commands.

Exit codes: 0 success, 1 a failed check or error, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from imagenet_textcorrupt.errors import ImageNetTCError


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
