"""Release commands: a finished build becomes a release folder in the Hub's layout, is checked, and is published.

`release` assembles a build into a release folder: parquet data files per config, the dataset card, the licence,
the Hub's benchmark spec (`eval.yaml`) and `release.json`:

```bash
python -m builder release --build build/smoke --out releases/smoke
```

`validate` checks a release folder as `publish` will (files, checksums, card, configs, review figures):

```bash
python -m builder validate releases/smoke
```

`publish` uploads a validated release to a gated dataset repo on the Hub and tags its version; `--dry-run` prints
what it would send and touches nothing:

```bash
python -m builder publish releases/smoke --repo-id ORG/imagenet-tc --version v0.0.1 --dry-run
```

`metric-space` regenerates (or checks) the metric Space's standalone copy of the metrics:

```bash
python -m builder metric-space --check
```
"""

from __future__ import annotations

import argparse
import sys

from builder.cli.common import Commands, add_command


def add_parsers(commands: Commands) -> None:
    """Add `release`, `validate`, `publish` and `metric-space` to `python -m builder`'s commands."""
    release = add_command(
        commands, "release", help="assemble a build into a release folder (Hub layout)",
        description="Assembles a finished build into a new release folder: the data files of each config, the "
                    "dataset card and licence, eval.yaml and release.json (with the review figures and the hard "
                    "subset when the build has them).",
        example="python -m builder release --build build/smoke --out releases/smoke")
    release.add_argument("--build", required=True, help="the build folder")
    release.add_argument("--out", required=True, help="the release folder to create (must not exist or be empty)")
    release.add_argument("--previous", help="the previous release folder, for the card's changelog")
    release.add_argument("--target-mb", type=float, default=500.0, help="target size of a data file (MB)")
    release.set_defaults(run=cmd_release)

    check = add_command(
        commands, "validate", help="check a release folder (publishing refuses a failing one)",
        description="Checks a release folder: every problem is printed, and the exit status is 1 when there is one. "
                    "`publish` runs the same checks and refuses a failing release.",
        example="python -m builder validate releases/smoke")
    check.add_argument("release", help="the release folder")
    check.set_defaults(run=cmd_validate)

    publish = add_command(
        commands, "publish", help="upload a validated release to the Hub and tag its version",
        description="Validates the release, uploads it to the dataset repo (gated: the images are under ImageNet's "
                    "terms) and tags its version; a rerun after a failure resumes, skipping the files already sent.",
        example="python -m builder publish releases/smoke --repo-id ORG/imagenet-tc --version v0.0.1 --dry-run")
    publish.add_argument("release", help="the release folder")
    publish.add_argument("--repo-id", required=True, help="ORG/NAME of the dataset repo")
    publish.add_argument("--version", required=True, help="the tag, vX.Y.Z (refused if it exists)")
    publish.add_argument("--dry-run", action="store_true",
                         help="print the files, sizes, commits and tag; touch nothing")
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

    space = add_command(
        commands, "metric-space", help="regenerate the metric Space's own copy of the metrics",
        description="Writes imagenet_tc_core.py and its siblings, the copies of imagenet_textcorrupt/metrics/paired.py "
                    "and of the modules it imports that the evaluate module in eval/imagenet_tc/ imports "
                    "(imagenet-textcorrupt is not on PyPI, so a Space cannot install it), and removes a copy no "
                    "longer made.",
        example="python -m builder metric-space --check")
    space.add_argument("--space", default="eval/imagenet_tc", help="the Space folder (default eval/imagenet_tc)")
    space.add_argument("--dataset", help="the published dataset (ORG/NAME) to name in the Space card's datasets:")
    space.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when it differs")
    space.set_defaults(run=cmd_metric_space)


def cmd_release(args: argparse.Namespace) -> int:
    from builder.release.assemble import assemble

    out = assemble(args.build, args.out, int(args.target_mb * 1024 * 1024), args.previous)
    print(f"wrote {out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from builder.release.validate import validate

    problems = validate(args.release)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{args.release}: {len(problems)} problems", file=sys.stderr)
        return 1
    print(f"{args.release}: valid")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from huggingface_hub.errors import HfHubHTTPError

    from builder.release.publish import publish

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
    from builder.release.metric_space import set_dataset, write_copies

    if args.dataset and not args.check:
        print(f"{set_dataset(args.space, args.dataset)}: datasets: [{args.dataset}]")
    outcome = write_copies(args.space, check=args.check)
    differing = [path for path, current in outcome if not current]
    if not differing:
        print(f"{', '.join(str(path) for path, _ in outcome)}: current")
        return 0
    if args.check:
        for path in differing:
            print(f"{path} differs from the metrics in imagenet_textcorrupt/metrics/ (or is a copy no longer made): "
                  f"regenerate with python -m builder metric-space --space {args.space}", file=sys.stderr)
        return 1
    for path in differing:
        print(f"{'wrote' if path.exists() else 'removed'} {path}")
    return 0
