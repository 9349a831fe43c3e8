"""Micro-world commands: the small text-to-image model that runs on a CPU, and the editor bench that judges editors
on it against a known ground truth.

`train-micro` trains the micro model (a Stable-Diffusion-shaped pipeline at micro size) on procedural captioned
images, on a CPU in under an hour; the trained model ships as `tiny:micro`:

```bash
python -m builder train-micro --out micro-model
```

`editor-bench` edits held-out micro-world scenes with each editor and measures, against the scenes' truth, whether
the target was reached, the label kept and the rest of the image left alone:

```bash
python -m builder editor-bench --editors p2p-nulltext,p2p-directinv+pixel-blend --scenes 48
```
"""

from __future__ import annotations

import argparse
import shlex
import sys

from builder.cli.common import Commands, add_command
from builder.editor_bench.run import DEFAULT_EDITORS, BenchSettings


def add_parsers(commands: Commands) -> None:
    """Add `train-micro` and `editor-bench` to `python -m builder`'s commands."""
    from builder.micro.train import TrainSettings

    micro = add_command(
        commands, "train-micro", help="train the micro text-to-image model (CPU, under an hour)",
        description="Trains a Stable-Diffusion-shaped pipeline at micro size (VAE, CLIP text encoder, UNet with "
                    "cross-attention, DDIM) on procedural images captioned 'a red star on grass', and saves it with "
                    "save_pretrained, with training.json (command, seed, versions, losses) and loss.png.",
        example="python -m builder train-micro --out micro-model")
    micro.add_argument("--out", required=True, help="the folder to create (must not exist or be empty)")
    settings = TrainSettings()
    micro.add_argument("--seed", type=int, default=settings.seed, help=f"the seed (default {settings.seed})")
    micro.add_argument("--images", type=int, default=settings.images,
                       help=f"distinct training images (default {settings.images})")
    micro.add_argument("--vae-steps", type=int, default=settings.vae_steps,
                       help=f"VAE training steps (default {settings.vae_steps})")
    micro.add_argument("--unet-steps", type=int, default=settings.unet_steps,
                       help=f"UNet and text-encoder training steps (default {settings.unet_steps})")
    micro.add_argument("--batch-size", type=int, default=settings.batch_size,
                       help=f"images per UNet step (default {settings.batch_size})")
    micro.add_argument("--vae-batch-size", type=int, default=settings.vae_batch_size,
                       help=f"images per VAE step (default {settings.vae_batch_size})")
    micro.add_argument("--threads", type=int, default=settings.threads,
                       help=f"torch CPU threads (default {settings.threads}: the result depends on it)")
    micro.add_argument("--no-progress", action="store_true", help="no progress bars")
    micro.set_defaults(run=cmd_train_micro, command_line=None)

    defaults = BenchSettings()
    bench = add_command(
        commands, "editor-bench", help="judge editors against the micro world's ground truth",
        description="Edits held-out scenes of the micro world (colour swaps, background swaps and no-op edits at "
                    "every severity) with each editor on the shipped micro model, and measures, with 95% intervals: "
                    "target reached, label (shape) kept, mask IoU with the true object, the untouched region's PSNR "
                    "and change, reconstruction PSNR, and seconds and UNet rows per edit. Writes editor-bench.json, "
                    "editor-bench.md and contact_sheet.png; each editor's results are kept, so a rerun with the "
                    "same settings resumes.",
        example="python -m builder editor-bench --editors p2p-nulltext,p2p-directinv+pixel-blend --scenes 48")
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


def cmd_train_micro(args: argparse.Namespace) -> int:
    from builder.micro.train import TrainSettings, train

    settings = TrainSettings(seed=args.seed, images=args.images, vae_steps=args.vae_steps, unet_steps=args.unet_steps,
                             batch_size=args.batch_size, vae_batch_size=args.vae_batch_size, threads=args.threads)
    command = "python -m builder " + shlex.join(sys.argv[1:] if args.command_line is None else args.command_line)
    try:
        out = train(args.out, settings, progress=not args.no_progress, command=command)
    except FileExistsError as error:
        print(f"python -m builder train-micro: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out} (loss curves: {out / 'loss.png'})")
    return 0
