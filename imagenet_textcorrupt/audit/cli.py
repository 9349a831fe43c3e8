"""The `imagenet-tc audit` command: its arguments and what it prints."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.commands.help import ExampleHelpFormatter

EXAMPLE = """example:
  imagenet-tc audit results/resnet50-all.json --rows 200 --out resnet50-all.audit.json

exit status: 0 audited (every audited row agreed), 1 refused (some row disagreed, or the results do not match
their predictions), 2 unauditable (the model, checkpoint or dataset revision cannot be had again)."""


def add_parser(subparsers: Any) -> None:
    from imagenet_textcorrupt.audit.run import DEFAULT_ROWS

    parser = subparsers.add_parser(
        "audit", help="check a results file by rerunning its model on a random sample of its rows",
        description="Reruns the model a results file names, at its recorded revision or checkpoint, on a "
                    "stratified random sample of the recorded dataset revision's rows, and compares each rerun "
                    "top-1 with the submitted prediction; checks every row's label and metadata against the "
                    "dataset. Writes an audit record.",
        epilog=EXAMPLE, formatter_class=ExampleHelpFormatter)
    parser.add_argument("results", help="the results JSON (its predictions file beside it)")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"rows to rerun (default {DEFAULT_ROWS}: catches a 2%% forgery with probability 0.98)")
    parser.add_argument("--seed", type=int, help="the draw's seed (default: drawn from the OS and recorded)")
    parser.add_argument("--device", help="cuda, cpu, ... (default cuda when available)")
    parser.add_argument("--checkpoint", help="the local .safetensors checkpoint the results record (default: the "
                                             "recorded file name beside the results)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", help="the audit record (default RESULTS.audit.json beside the results)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=cmd_audit)


def default_record_path(results: str | Path) -> Path:
    from imagenet_textcorrupt.audit import AUDIT_SUFFIX

    path = Path(results)
    return path.with_name(path.stem + AUDIT_SUFFIX)


def cmd_audit(args: argparse.Namespace) -> int:
    import sys

    from imagenet_textcorrupt.audit import AuditError, audit_results, write_record
    from imagenet_textcorrupt.audit.record import EXIT_STATUS, UNAUDITABLE

    try:
        record = audit_results(args.results, rows=args.rows, seed=args.seed, device=args.device,
                               checkpoint=args.checkpoint, batch_size=args.batch_size, progress=not args.quiet)
    except AuditError as error:  # nothing was audited: the exit status says unauditable, not refused
        print(f"imagenet-tc audit: error: {error}", file=sys.stderr)
        return EXIT_STATUS[UNAUDITABLE]
    out = Path(args.out) if args.out else default_record_path(args.results)
    write_record(record, out)
    print(record.summary())
    if record.detection:
        caught = next(d for d in record.detection if d["share"] == 0.02)
        print(f"a forgery of 2% of the {record.population} rows would have been caught with probability "
              f"{caught['probability_caught']:.3f}; {caught['rows_needed']} rows catch it with probability 0.98")
    print(f"audit record: {out}")
    return record.exit_status
