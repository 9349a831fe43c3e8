"""Review commands: people judge whether the edits keep their label, and the figures and the hard subset follow.

`review` serves a local page that shows a seeded stratified sample of a build's (or release's) text-guided edits,
one at a time beside its original; each answer is saved at once to `FOLDER/reviews/<reviewer>.jsonl`:

```bash
python -m builder review build/smoke --reviewer alice
```

`review-stats` turns the verdicts into label-keeping rates with 95% intervals, the reviewers' agreement and the QC
thresholds that keep a target rate (`plan --reviews` reads the same figures):

```bash
python -m builder review-stats build/smoke
```

`hard` scores the QC-passing edits with surrogate classifiers and records those that most of them get wrong, which
`release` then ships as the `hard` config:

```bash
python -m builder hard build/smoke --models timm:tf_efficientnet_lite0,timm:tf_efficientnet_lite1
```
"""

from __future__ import annotations

import argparse
import sys

from builder.cli.common import Commands, add_command


def add_parsers(commands: Commands) -> None:
    """Add `review`, `review-stats` and `hard` to `python -m builder`'s commands."""
    review = add_command(
        commands, "review", help="a local page to judge whether edits keep their label",
        description="Serves a stratified seeded sample (domain x severity x passed_qc) of the folder's text-guided "
                    "edits, one at a time beside its original; keys 1/2/3 answer same class / not that class / "
                    "can't tell, arrows move. Answers go to FOLDER/reviews/<reviewer>.jsonl. Every reviewer gets "
                    "the same sample; a restart resumes.",
        example="python -m builder review build/smoke --reviewer alice")
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

    stats = add_command(
        commands, "review-stats", help="label-keeping rates, agreement, QC thresholds from reviews",
        description="Reads FOLDER/reviews/*.jsonl: the share of edits that keep their label among rows that passed "
                    "and failed QC (overall, per domain, per severity) with 95% intervals that respect the "
                    "stratified sample, Cohen's or Fleiss' kappa, and for each QC score the loosest threshold whose "
                    "passing edits keep their label at --target, with the share of edits it keeps.",
        example="python -m builder review-stats build/smoke")
    stats.add_argument("folder", metavar="FOLDER", help="a reviewed build or release folder")
    stats.add_argument("--target", type=float, default=0.95, help="the label-keeping rate to calibrate for (0.95)")
    stats.add_argument("--json", action="store_true", help="print the summary as JSON (as release.json holds it)")
    stats.set_defaults(run=cmd_review_stats)

    hard = add_command(
        commands, "hard", help="find the QC-passing edits most surrogate classifiers miss",
        description="Scores the build's QC-passing text-guided edits with each surrogate and writes BUILD/hard.json: "
                    "the edits that more than half of them get wrong. `release` then adds a `hard` config with "
                    "those edits and their originals, and the card states its size, the surrogates and the "
                    "reviewed label-keeping rate on it.",
        example="python -m builder hard build/smoke --models timm:tf_efficientnet_lite0,timm:tf_efficientnet_lite1")
    hard.add_argument("build", metavar="BUILD", help="a finished build folder")
    hard.add_argument("--models", required=True, help="surrogates, comma-separated: timm:NAME, hf:ID, ...")
    hard.add_argument("--checkpoint", action="append", default=[], metavar="MODEL=FILE",
                      help="local safetensors weights for one of --models (repeatable)")
    hard.add_argument("--device", help="torch device (default cpu)")
    hard.add_argument("--no-progress", action="store_true", help="no progress bar")
    hard.set_defaults(run=cmd_hard)


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
    from builder.review.stats_text import render_text

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
    from builder.review.hard import find_hard

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
