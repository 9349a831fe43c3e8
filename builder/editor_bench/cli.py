"""The `editor-bench` command's arguments (added to `python -m builder`'s parser) and its run."""

from __future__ import annotations

import argparse
import shlex

from builder.editor_bench.run import DEFAULT_EDITORS, BenchSettings

EXAMPLE = ("example: python -m builder editor-bench --editors p2p-nulltext,p2p-directinv,p2p-directinv+pixel-blend "
           "--scenes 48 --out editor-bench")


def add_parser(commands: argparse._SubParsersAction) -> None:
    defaults = BenchSettings()
    bench = commands.add_parser(
        "editor-bench", help="judge editors on held-out micro-world scenes against their ground truth",
        description="Edits held-out scenes of the micro world (colour swaps, background swaps and no-op edits at "
                    "every severity) with each editor on the shipped micro model, and measures, with 95% intervals: "
                    "target reached, label (shape) kept, mask IoU with the true object, the untouched region's PSNR "
                    "and change, reconstruction PSNR, and seconds and UNet rows per edit. Writes editor-bench.json, "
                    "editor-bench.md and contact_sheet.png; each editor's results are kept, so a rerun with the "
                    "same settings resumes.", epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--editors", default=",".join(DEFAULT_EDITORS),
                       help="comma-separated registry names, each optionally NAME+blend (local blend in latents) or "
                            f"NAME+pixel-blend (composited in pixels) (default {','.join(DEFAULT_EDITORS)})")
    bench.add_argument("--scenes", type=int, default=defaults.scenes,
                       help=f"held-out scenes (default {defaults.scenes})")
    bench.add_argument("--steps", type=int, default=defaults.steps, help=f"DDIM steps (default {defaults.steps})")
    bench.add_argument("--seed", type=int, default=defaults.seed,
                       help="which held-out scenes (each seed its own range) and the edits' seeds (default 0)")
    bench.add_argument("--severities", default=",".join(map(str, defaults.severities)),
                       help="comma-separated severity levels (default 1,2,3)")
    bench.add_argument("--blend-threshold", type=float, default=defaults.blend_threshold,
                       help="local blend threshold of the +blend variants (default 0.8: the micro model's shape word "
                            "attends to the background at about 0.65 of its peak, so the authors' 0.3 selects "
                            "everything)")
    bench.add_argument("--device", default=defaults.device, help="torch device (default cpu)")
    bench.add_argument("--out", default="editor-bench", help="the output folder (default editor-bench)")
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.set_defaults(run=cmd_editor_bench)


def _severities(text: str) -> tuple[int, ...]:
    from builder.editor_bench.run import BenchError

    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise BenchError(f"--severities must be comma-separated integers, got {text!r}") from None


def cmd_editor_bench(args: argparse.Namespace) -> int:
    from builder.editor_bench.bench import run_bench
    from builder.editor_bench.run import parse_editors

    settings = BenchSettings(args.scenes, args.steps, args.seed, _severities(args.severities),
                             args.blend_threshold, args.device)
    settings.check()
    specs = parse_editors(args.editors)
    command = "python -m builder editor-bench " + shlex.join([
        "--editors", ",".join(s.label for s in specs), "--scenes", str(settings.scenes), "--steps", str(settings.steps),
        "--seed", str(settings.seed), "--severities", ",".join(map(str, settings.severities)),
        "--blend-threshold", f"{settings.blend_threshold:g}", "--out", str(args.out)])
    report = run_bench(args.out, specs, settings, command, progress=not args.no_progress)
    print(f"wrote {args.out}/editor-bench.md, editor-bench.json and contact_sheet.png "
          f"({len(report['editors'])} editors, {settings.scenes} scenes)")
    return 0
