"""The build command: a recipe's shards, generated and quality-checked.

`build` renders every row of a recipe into a build folder, shard by shard; a rerun resumes where the last one
stopped. Split the shards across a job array with `--num-shards N --shard-index I`, or across GPUs with
`accelerate launch -m builder build ...` (each process builds the shards of its rank). The smoke recipe runs
offline on a CPU in about a minute:

```bash
python -m builder build --recipe smoke --out build/smoke
```
"""

from __future__ import annotations

import argparse

from builder.cli.common import Commands, add_command
from builder.cli.planning import RECIPE_HELP, SOURCE_HELP, load_recipe_argument


def add_parsers(commands: Commands) -> None:
    """Add `build` to `python -m builder`'s commands."""
    build = add_command(
        commands, "build", help="generate a release's shards (resumable; accelerate-aware)",
        description="Generates the recipe's shards into the build folder: each row edited, scored by the quality "
                    "checks and written with its metadata. Shards already done are kept, so a rerun resumes; "
                    "under `accelerate launch` or `torchrun` each process builds the shards of its rank.",
        example="python -m builder build --recipe smoke --out build/smoke")
    build.add_argument("--recipe", required=True, help=RECIPE_HELP)
    build.add_argument("--out", required=True, help="the build folder")
    build.add_argument("--source", metavar="FOLDER", help=SOURCE_HELP)
    build.add_argument("--num-shards", type=int, default=1, help="split the shards across N jobs (job arrays)")
    build.add_argument("--shard-index", type=int, default=0, help="this job's index in 0..N-1")
    build.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    build.add_argument("--no-resume", action="store_true", help="rebuild shards that are already done")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    build.set_defaults(run=cmd_build)


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
    from builder.generation.generate import Builder

    recipe = load_recipe_argument(args)
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
