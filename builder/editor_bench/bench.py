"""`python -m builder editor-bench`: every editor asked for on the same held-out scenes, resuming what a previous
run of the same settings finished, then the figures, tables and contact sheet of this run's editors."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from builder.editor_bench.folder import FORMAT, BenchFolder
from builder.editor_bench.report import contact_sheet, editor_figures, markdown
from builder.editor_bench.run import MODEL, BenchSettings, EditorRun, EditorSpec, run_editor, scenes

SHEET_SCENES = 6


def sheet_severity(settings: BenchSettings) -> int:
    """The severity the contact sheet shows: the middle one asked for."""
    levels = sorted(settings.severities)
    return levels[len(levels) // 2]


def run_bench(out: str | Path, specs: Sequence[EditorSpec], settings: BenchSettings, command: str,
              progress: bool = True, log: Callable[[str], None] = print, cache_dir: str | None = None
              ) -> dict[str, Any]:
    """Run (or reuse) every editor of `specs` on the bench's scenes; write and return the report. `cache_dir`: where
    the prompt-to-prompt editors keep their inversions (see `run_editor`)."""
    from builder.editor_bench.run import environment
    from builder.planning.pins import pin_model

    settings.check()
    folder = BenchFolder(out, settings)
    folder.open()
    truths = scenes(settings)
    runs: list[EditorRun] = []
    for spec in specs:
        done = folder.load(spec)
        if done is not None:
            log(f"  {spec.label}: reused ({folder.editors / spec.label}.json)")
            runs.append(done)
            continue
        run = run_editor(spec, settings, truths, SHEET_SCENES, sheet_severity(settings), progress, cache_dir)
        folder.save(run)
        log(f"  {spec.label}: {run.cost['edits']} edits, {run.cost['seconds_per_edit']:.3f} s and "
            f"{run.cost['unet_rows_per_edit']:.1f} UNet rows per edit")
        runs.append(run)
    report = {"format": FORMAT, "command": command, "settings": settings.comparable(),
              "scene_seeds": settings.scene_seeds, "model": f"{MODEL} ({pin_model(MODEL).identity})",
              "environment": {**environment(), "device": settings.device},
              "editors": {run.spec.label: editor_figures(run, settings.seed) for run in runs}}
    folder.write_report("editor-bench.json", json.dumps(report, indent=1) + "\n")
    folder.write_report("editor-bench.md", markdown(report))
    folder.write_report("contact_sheet.png", contact_sheet(truths, runs))
    return report
