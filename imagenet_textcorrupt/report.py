"""Reports that compare evaluated models: `imagenet-tc report RESULTS... --out DIR [--reference RESULTS]`.

`write_report` reads the results dicts that `imagenet-tc evaluate` writes (see `results`) and puts into one folder
a Markdown report (`report.md`) with the models side by side, one column per model, and PNG plots. Nothing is
recomputed from predictions: every figure, interval included, is the one stored in the results' "metrics".

Results are only compared when they were scored on the same images with the same formulas: they are grouped by
(dataset id, split, config, dataset sha, fingerprint and version, metrics version), and each group gets its own
section, its own tables and its own plots, with a note saying how it differs from the others. With one group the
plots are `accuracy_by_domain.png`, `clean_vs_edited.png` and `accuracy_by_severity.png`; with several, each
group's plots carry the group's number and config as a suffix (`accuracy_by_domain-2-animals.png`).

matplotlib is imported only when the plots are drawn, and only its Agg canvas is used (no pyplot, no global
backend switch), so importing this module stays light.
"""

from __future__ import annotations

import io
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagenet_textcorrupt import metrics
from imagenet_textcorrupt.atomic import atomic_write_bytes, atomic_write_text
from imagenet_textcorrupt.prompts import DOMAINS
from imagenet_textcorrupt.results import ResultsError, check_results, load_results

REPORT_FILE = "report.md"
MISSING = "–"
MIN_MODELS_FOR_EFFECTIVE_ROBUSTNESS = 3
# what makes two results comparable: (what the note calls it, path in the results dict)
IDENTITY_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dataset id", ("dataset", "id")),
    ("dataset split", ("dataset", "split")),
    ("config", ("dataset", "config")),
    ("dataset sha", ("dataset", "sha")),
    ("dataset fingerprint", ("dataset", "fingerprint")),
    ("dataset version", ("dataset", "version")),
    ("metrics version", ("metrics", "metrics_version")),
)
# marker and colour per architecture family (models.py's families); anything else is drawn as "other"
FAMILY_STYLE: dict[str, tuple[str, str]] = {
    "cnn": ("o", "tab:blue"),
    "transformer": ("^", "tab:orange"),
    "hybrid": ("s", "tab:green"),
    "mlp": ("D", "tab:red"),
    "other": ("X", "tab:gray"),
}

Estimate = Mapping[str, Any]  # {"value", "ci_low", "ci_high"}, fractions


# ------------------------------------------------------------------------------------------------ small helpers
def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _value(estimate: Estimate | None) -> float | None:
    value = _get(estimate, "value")
    return None if value is None or not math.isfinite(value) else float(value)


def format_number(value: float | None, signed: bool = False) -> str:
    """One decimal (`61.3`, `+2.0` when signed); never `-0.0`; `–` where undefined."""
    if value is None or not math.isfinite(value):
        return MISSING
    rounded = round(value, 1) or 0.0  # -0.0 -> 0.0
    return f"{rounded:+.1f}" if signed else f"{rounded:.1f}"


def format_estimate(estimate: Estimate | None, scale: float = 100.0, signed: bool = False) -> str:
    """`61.3 [58.0, 64.1]` for a fraction with its interval (in percent by default); `–` where undefined."""
    value = _value(estimate)
    if value is None:
        return MISSING
    text = format_number(value * scale, signed)
    low, high = _get(estimate, "ci_low"), _get(estimate, "ci_high")
    if low is not None and high is not None:
        text += f" [{format_number(low * scale, signed)}, {format_number(high * scale, signed)}]"
    return text


def _short(text: str | None, size: int = 8) -> str | None:
    if not text:
        return None
    return text.split(":", 1)[-1][:size]


def revision_label(results: Mapping[str, Any]) -> str:
    """The dataset revision a result was scored on, short: `v0.1.0, sha 1a2b3c4d` (what is known of it)."""
    dataset = results.get("dataset") or {}
    parts = []
    if dataset.get("version"):
        parts.append(f"v{dataset['version']}")
    if dataset.get("sha"):
        parts.append(f"sha {_short(dataset['sha'])}")
    if dataset.get("fingerprint"):
        parts.append(f"fingerprint {_short(dataset['fingerprint'])}")
    return ", ".join(parts) if parts else "unknown revision"


def _domain_order(domain: str) -> tuple[int, str]:
    return (DOMAINS.index(domain), "") if domain in DOMAINS else (len(DOMAINS), domain)


def _severity_order(severity: str) -> tuple[int, str]:
    try:
        return int(severity), ""
    except ValueError:
        return sys.maxsize, str(severity)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; the first column is left-aligned, the figures right-aligned."""
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-") or "x"


# ---------------------------------------------------------------------------------------------- grouping, labels
def identity(results: Mapping[str, Any]) -> tuple[Any, ...]:
    """What two results must share to be compared in one table."""
    return tuple(_get(results, *path) for _, path in IDENTITY_FIELDS)


@dataclass
class Entry:
    label: str
    results: Mapping[str, Any]

    @property
    def m(self) -> Mapping[str, Any]:
        return self.results["metrics"]

    @property
    def family(self) -> str:
        return str(_get(self.results, "model", "family") or "other")


@dataclass
class Section:
    number: int
    key: tuple[Any, ...]
    entries: list[Entry] = field(default_factory=list)
    suffix: str = ""

    @property
    def results(self) -> Mapping[str, Any]:
        return self.entries[0].results

    @property
    def level(self) -> str:
        return confidence_label([e.results for e in self.entries])

    @property
    def title(self) -> str:
        r = self.results
        return (f"{_get(r, 'dataset', 'id')} · config {_get(r, 'dataset', 'config')} · {revision_label(r)} · "
                f"metrics {_get(r, 'metrics', 'metrics_version')}")


def confidence_label(results: Sequence[Mapping[str, Any]]) -> str:
    """The interval level the results were computed at, as `95%` (`mixed-level` if they differ)."""
    levels = {_get(r, "metrics", "bootstrap", "confidence") for r in results}
    if len(levels) != 1 or not isinstance(next(iter(levels)), (int, float)):
        return "mixed-level"
    return f"{100 * next(iter(levels)):g}%"


def model_labels(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """One column title per result: the model id, with the config, dataset revision, checkpoint, dtype or a
    counter added where two would otherwise be equal."""
    details: list[Callable[[Mapping[str, Any]], Any]] = [
        lambda r: _get(r, "dataset", "config"),
        revision_label,
        lambda r: _short(_get(r, "model", "checkpoint", "sha256")),
        lambda r: _get(r, "run", "dtype"),
    ]
    labels = [str(_get(r, "model", "id")) for r in results]
    extras: list[list[str]] = [[] for _ in results]
    for detail in details:
        clashing = [i for i, label in enumerate(labels) if labels.count(label) > 1]
        if not clashing:
            break
        values = {i: detail(results[i]) for i in clashing}
        for i in clashing:
            same = [j for j in clashing if labels[j] == labels[i]]
            if values[i] is not None and len({str(values[j]) for j in same}) > 1:
                extras[i].append(str(values[i]))
        labels = [f"{_get(r, 'model', 'id')} ({', '.join(e)})" if e else str(_get(r, "model", "id"))
                  for r, e in zip(results, extras)]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if labels.count(label) == 1 else f"{label} #{seen[label]}")
    return unique


def group_results(results: Sequence[Mapping[str, Any]]) -> list[Section]:
    """Sections of comparable results, in the order their first result was given."""
    labels = model_labels(results)
    sections: dict[tuple[Any, ...], Section] = {}
    for label, result in zip(labels, results):
        key = identity(result)
        if key not in sections:
            sections[key] = Section(len(sections) + 1, key)
        sections[key].entries.append(Entry(label, result))
    ordered = list(sections.values())
    if len(ordered) > 1:
        for section in ordered:
            section.suffix = f"-{section.number}-{_slug(str(_get(section.results, 'dataset', 'config')))}"
    return ordered


def _shown(value: Any) -> str:
    return "none" if value is None else str(value)


def separation_note(section: Section, sections: Sequence[Section]) -> str | None:
    """Why this section is apart from the others: the identity fields that differ, with both values."""
    if len(sections) < 2:
        return None
    reasons = []
    for index, (name, _) in enumerate(IDENTITY_FIELDS):
        others = [(s.number, s.key[index]) for s in sections if s is not section and s.key[index] != section.key[index]]
        if others:
            elsewhere = "; ".join(f"section {n}: {_shown(v)}" for n, v in others)
            reasons.append(f"{name} is {_shown(section.key[index])} ({elsewhere})")
    return ("**Kept apart from the other sections** because its " + ", its ".join(reasons) + ". Results on "
            "different dataset revisions, configs or metric versions are not comparable, so they never share a "
            "table or a plot.")


def section_warnings(section: Section) -> list[str]:
    """Things inside one section that a reader must know before comparing its columns."""
    notes = []
    entries = section.entries
    if all(_get(section.results, "dataset", k) is None for k in ("sha", "fingerprint", "version")):
        notes.append("The dataset revision of these results is unknown (no sha, fingerprint or version was "
                     "recorded): they may come from different revisions.")
    rows = {e.label: _get(e.results, "dataset", "rows") for e in entries}
    limits = {e.label: _get(e.results, "run", "limit") for e in entries}
    if len(set(rows.values())) > 1 or len(set(limits.values())) > 1:
        shown = ", ".join(f"{label}: {rows[label]} rows (limit {_shown(limits[label])})" for label in rows)
        notes.append(f"These models were scored on different numbers of rows ({shown}): their figures cover "
                     f"different images; compare with care.")
    confidences = {_get(e.m, "bootstrap", "confidence") for e in entries}
    if len(confidences) > 1:
        notes.append(f"The intervals were computed at different confidence levels ({sorted(map(str, confidences))}).")
    return notes


# ---------------------------------------------------------------------------------------------------- the tables
def _overview_rows(entries: Sequence[Entry]) -> list[list[str]]:
    def row(name: str, get: Callable[[Entry], Any]) -> list[str]:
        return [name, *(get(e) for e in entries)]

    def est(*path: str) -> Callable[[Entry], str]:
        return lambda e: format_estimate(_get(e.m, *path))

    rows = [
        row("family", lambda e: e.family),
        row("config", lambda e: _shown(_get(e.results, "dataset", "config"))),
        row("dataset revision", lambda e: revision_label(e.results)),
        row("rows (edits + originals)", lambda e: _shown(_get(e.results, "dataset", "rows"))),
        row("clean top-1, all 1000 classes (%)", est("clean", "top1")),
        row("edited top-1, all 1000 classes (%)", est("edited", "top1")),
        row("paired clean top-1 of the edits (%)", est("edited", "clean_top1")),
    ]
    if any(_get(e.m, "edited", "top5") for e in entries):
        rows += [row("clean top-5 (%)", est("clean", "top5")), row("edited top-5 (%)", est("edited", "top5"))]
    rows += [
        row("drop in top-1 (points)", est("edited", "drop")),
        row("relative robustness (%)", est("edited", "relative_robustness")),
        row("flip rate (%)", est("edited", "flip_rate")),
    ]
    if any(_get(e.m, "edited", "top1_config") or _get(e.m, "clean", "top1_config") for e in entries):
        rows += [row("clean top-1 among the config's classes only (%)", est("clean", "top1_config")),
                 row("edited top-1 among the config's classes only (%)", est("edited", "top1_config"))]
    return rows


def _breakdown(entries: Sequence[Entry], keys: Sequence[str], block: Callable[[Entry, str], Any], metric: str,
               key_name: str) -> str:
    rows = [[key, *(format_estimate(_get(block(e, key), metric)) for e in entries)] for key in keys]
    return markdown_table([key_name, *(e.label for e in entries)], rows)


def _union(entries: Sequence[Entry], *path: str) -> list[str]:
    keys: list[str] = []
    for e in entries:
        keys += [k for k in (_get(e.m, *path) or {}) if k not in keys]
    return keys


def domain_tables(entries: Sequence[Entry], level: str = "95%") -> str:
    domains = sorted(_union(entries, "by_domain"), key=_domain_order)
    if not domains:
        return "No edits by domain."
    block = lambda e, d: _get(e.m, "by_domain", d)  # noqa: E731
    return "\n\n".join([
        f"Edited top-1 (%), {level} CI:", _breakdown(entries, domains, block, "top1", "domain"),
        "Drop in top-1 (points) against the same images' originals:",
        _breakdown(entries, domains, block, "drop", "domain"),
    ])


def severity_tables(entries: Sequence[Entry], level: str = "95%") -> str:
    severities = sorted(_union(entries, "by_severity"), key=_severity_order)
    if not severities:
        return "No edits by severity."

    def block(e: Entry, key: str) -> Any:
        return _get(e.m, "clean") if key == "0 (clean)" else _get(e.m, "by_severity", key)

    return "\n\n".join([
        f"Top-1 (%), {level} CI; severity 0 is the originals:",
        _breakdown(entries, ["0 (clean)", *severities], block, "top1", "severity"),
        "Drop in top-1 (points):",
        _breakdown(entries, severities, lambda e, s: _get(e.m, "by_severity", s), "drop", "severity"),
    ])


def group_tables(entries: Sequence[Entry]) -> str:
    groups = sorted(_union(entries, "by_group"))
    if not groups:
        return "No class groups in these results."
    return "\n\n".join([
        "Clean top-1 (%) of the originals in each group:",
        _breakdown(entries, groups, lambda e, g: _get(e.m, "by_group", g, "clean"), "top1", "group"),
        "Edited top-1 (%):",
        _breakdown(entries, groups, lambda e, g: _get(e.m, "by_group", g, "edited"), "top1", "group"),
        "Drop in top-1 (points):",
        _breakdown(entries, groups, lambda e, g: _get(e.m, "by_group", g, "edited"), "drop", "group"),
    ])


# -------------------------------------------------------------------------------------------- mCE, effective rob.
def shared_errors(errors: Mapping[str, Mapping[str, float]], reference_errors: Mapping[str, Mapping[str, float]]
                  ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], list[str]]:
    """The model's and the reference's error tables cut to the (domain, severity) cells both have, and the cells
    left out, named."""
    ours: dict[str, dict[str, float]] = {}
    theirs: dict[str, dict[str, float]] = {}
    skipped = []
    for domain in sorted(set(errors) | set(reference_errors), key=_domain_order):
        a, b = errors.get(domain) or {}, reference_errors.get(domain) or {}
        both = sorted(set(a) & set(b), key=_severity_order)
        for severity in sorted(set(a) ^ set(b), key=_severity_order):
            skipped.append(f"{domain} severity {severity} (only the {'model' if severity in a else 'reference'} "
                           f"has it)")
        if both:
            ours[domain] = {s: a[s] for s in both}
            theirs[domain] = {s: b[s] for s in both}
    return ours, theirs, skipped


@dataclass
class CorruptionErrors:
    mce: float | None
    relative_mce: float | None
    skipped: list[str]
    problems: list[str]


def corruption_error(results: Mapping[str, Any], reference: Mapping[str, Any]) -> CorruptionErrors:
    """mCE and relative mCE (ImageNet-C, times 100) of one result against the reference, over shared cells."""
    ours, theirs, skipped = shared_errors(_get(results, "metrics", "errors") or {},
                                          _get(reference, "metrics", "errors") or {})
    problems: list[str] = []
    if not ours:
        return CorruptionErrors(None, None, skipped, ["no domain and severity in common with the reference"])
    mce = relative = None
    try:
        mce = metrics.mean_corruption_error(ours, theirs)
    except metrics.MetricInputError as error:
        problems.append(f"mCE: {error}")
    clean = _value(_get(results, "metrics", "clean", "top1"))
    reference_clean = _value(_get(reference, "metrics", "clean", "top1"))
    if clean is None or reference_clean is None:
        problems.append("relative mCE: no clean top-1")
    else:
        try:
            relative = metrics.relative_mean_corruption_error(ours, 1.0 - clean, theirs, 1.0 - reference_clean)
        except metrics.MetricInputError as error:
            problems.append(f"relative mCE: {error}")
    return CorruptionErrors(mce, relative, skipped, problems)


def reference_block(section: Section, reference: Mapping[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Overview rows with each model's mCE and relative mCE, and the notes that go with them."""
    name = f"{_get(reference, 'model', 'id')} ({revision_label(reference)})"
    if identity(reference) != section.key:
        differ = [label for (label, _), ours, theirs in zip(IDENTITY_FIELDS, section.key, identity(reference))
                  if ours != theirs]
        note = (f"mCE not computed: the reference {name} was scored on other data or with other metrics "
                f"({', '.join(differ)} differ), and corruption errors only compare errors on the same images.")
        return [], [note]
    scores = {e.label: corruption_error(e.results, reference) for e in section.entries}
    rows = [["mCE vs reference (100 = reference)", *(format_number(scores[e.label].mce) for e in section.entries)],
            ["relative mCE vs reference", *(format_number(scores[e.label].relative_mce) for e in section.entries)]]
    notes = [f"mCE and relative mCE (ImageNet-C, Hendrycks & Dietterich 2019) against the reference {name}, over "
             f"the domains and severities both have; below 100 means fewer errors than the reference."]
    for label, score in scores.items():
        if score.skipped:
            notes.append(f"{label}: skipped {', '.join(score.skipped)}.")
        notes += [f"{label}: {problem}." for problem in score.problems]
    if not any(s.skipped for s in scores.values()):
        notes.append("No domain or severity was skipped: every model and the reference share them all.")
    return rows, notes


def effective_robustness_block(entries: Sequence[Entry]) -> tuple[list[list[str]], list[str]]:
    """The effective robustness row (Taori et al. 2020) when 3+ models share the section; else nothing."""
    if len(entries) < MIN_MODELS_FOR_EFFECTIVE_ROBUSTNESS:
        return [], []
    points = {e.label: (_value(_get(e.m, "clean", "top1")), _value(_get(e.m, "edited", "top1"))) for e in entries}
    usable = [label for label, (c, d) in points.items() if c is not None and d is not None]
    try:
        fit = metrics.effective_robustness([points[k][0] for k in usable], [points[k][1] for k in usable])
    except metrics.MetricInputError as error:
        return [], [f"Effective robustness not computed: {error}."]
    residual = dict(zip(usable, fit["residual"]))
    row = ["effective robustness (points)",
           *(format_number(100 * residual[e.label], signed=True) if e.label in residual else MISSING
             for e in entries)]
    note = (f"Effective robustness: edited top-1 minus the top-1 predicted from clean top-1 by the fit "
            f"logit(edited) = {fit['slope']:.3f} · logit(clean) {'+' if fit['intercept'] >= 0 else '−'} "
            f"{abs(fit['intercept']):.3f} over the {len(usable)} "
            f"models of this section; positive is more robust than the clean accuracy explains. With few models "
            f"the fit, and so the figure, is rough.")
    return [row], [note]


# ------------------------------------------------------------------------------------------------------ the plots
def _new_figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


def _percent(estimate: Estimate | None) -> tuple[float, float, float]:
    """value, and distances down and up to the interval ends, in percent (nan / 0 where undefined)."""
    value = _value(estimate)
    if value is None:
        return math.nan, 0.0, 0.0
    low, high = _get(estimate, "ci_low"), _get(estimate, "ci_high")
    low = value if low is None else low
    high = value if high is None else high
    return 100 * value, 100 * max(value - low, 0.0), 100 * max(high - value, 0.0)


def plot_by_domain(section: Section) -> bytes:
    """Grouped bars: per category (clean, then each domain) one bar per model, with its interval."""
    entries = section.entries
    categories = ["clean", *sorted(_union(entries, "by_domain"), key=_domain_order)]
    width = 0.8 / len(entries)
    figure, axes = _new_figure(max(6.0, 1.2 + len(categories) * (0.5 + 0.35 * len(entries))), 4.8)
    for index, (entry, colour) in enumerate(zip(entries, _colours(len(entries)))):
        blocks = [_get(entry.m, "clean")] + [_get(entry.m, "by_domain", c) for c in categories[1:]]
        values, down, up = zip(*(_percent(_get(b, "top1")) for b in blocks))
        offsets = [c + (index - (len(entries) - 1) / 2) * width for c in range(len(categories))]
        axes.bar(offsets, values, width, yerr=[down, up], capsize=3, color=colour, label=entry.label,
                 error_kw={"elinewidth": 1, "ecolor": "black"})
    axes.set_xticks(range(len(categories)), categories)
    axes.set_xlabel("domain (clean = the original photos)")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_ylim(0, 105)
    axes.set_title(f"Top-1 accuracy by domain, {section.level} CI\n{section.title}", fontsize=10)
    axes.grid(axis="y", alpha=0.3)
    figure.legend(fontsize=8, loc="outside lower center", ncols=min(len(entries), 3))
    return _png(figure)


def _logit_curve(slope: float, intercept: float, low: float, high: float) -> tuple[list[float], list[float]]:
    xs = [low + (high - low) * i / 200 for i in range(201)]
    ys = []
    for x in xs:
        p = min(max(x / 100, 1e-6), 1 - 1e-6)
        ys.append(100 / (1 + math.exp(-(slope * math.log(p / (1 - p)) + intercept))))
    return xs, ys


def plot_clean_vs_edited(section: Section) -> bytes:
    """Clean against edited top-1 per model, styled by family, with y = x and the logit-linear fit."""
    figure, axes = _new_figure(6.4, 5.6)
    points = []
    for entry in section.entries:
        x, x_down, x_up = _percent(_get(entry.m, "clean", "top1"))
        y, y_down, y_up = _percent(_get(entry.m, "edited", "top1"))
        if not (math.isnan(x) or math.isnan(y)):
            points.append((entry, x, y, (x_down, x_up), (y_down, y_up)))
    families_shown: set[str] = set()
    for entry, x, y, xerr, yerr in points:
        family = entry.family if entry.family in FAMILY_STYLE else "other"
        marker, colour = FAMILY_STYLE[family]
        axes.errorbar([x], [y], xerr=[[xerr[0]], [xerr[1]]], yerr=[[yerr[0]], [yerr[1]]], fmt=marker, color=colour,
                      markersize=8, ecolor=colour, elinewidth=0.8, alpha=0.9,
                      label=None if family in families_shown else family)
        families_shown.add(family)
        axes.annotate(entry.label, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    # the axes hold the intervals too, not only the points
    values = [v for _, x, y, xerr, yerr in points for v in (x - xerr[0], x + xerr[1], y - yerr[0], y + yerr[1])
              if not math.isnan(v)]
    low = max(0.0, min(values, default=0.0) - 5)
    high = min(100.0, max(values, default=100.0) + 5)
    axes.plot([low, high], [low, high], "--", color="gray", linewidth=1, label="y = x (no drop)")
    clean = [x / 100 for _, x, _, _, _ in points]
    if len(set(clean)) >= 2:
        fit = metrics.effective_robustness(clean, [y / 100 for _, _, y, _, _ in points])
        axes.plot(*_logit_curve(fit["slope"], fit["intercept"], low, high), "-", color="black", linewidth=1,
                  label="logit-linear fit")
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_aspect("equal", adjustable="box")
    axes.set_xlabel("clean top-1 accuracy (%)")
    axes.set_ylabel("edited top-1 accuracy (%)")
    axes.set_title(f"Clean vs edited top-1 ({section.level} CI)\n{section.title}", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    return _png(figure)


def plot_by_severity(section: Section) -> bytes:
    """Top-1 against severity (0 = clean) per model, with interval bands."""
    entries = section.entries
    severities = sorted(_union(entries, "by_severity"), key=_severity_order)
    numeric = [s for s in severities if _severity_order(s)[0] != sys.maxsize]
    figure, axes = _new_figure(6.8, 4.6)
    for entry, colour in zip(entries, _colours(len(entries))):
        xs = [0] + [int(s) for s in numeric]
        blocks = [_get(entry.m, "clean")] + [_get(entry.m, "by_severity", s) for s in numeric]
        values, down, up = zip(*(_percent(_get(b, "top1")) for b in blocks))
        axes.plot(xs, values, "-o", color=colour, label=entry.label, markersize=5)
        axes.fill_between(xs, [v - d for v, d in zip(values, down)], [v + u for v, u in zip(values, up)],
                          color=colour, alpha=0.15, linewidth=0)
    ticks = [0] + [int(s) for s in numeric]
    axes.set_xticks(ticks, ["0\n(clean)"] + [str(t) for t in ticks[1:]])
    axes.set_xlabel("edit severity")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_ylim(0, 105)
    axes.set_title(f"Top-1 accuracy by severity, {section.level} CI bands\n{section.title}", fontsize=10)
    axes.grid(alpha=0.3)
    figure.legend(fontsize=8, loc="outside lower center", ncols=min(len(entries), 3))
    return _png(figure)


PLOTTERS: dict[str, Callable[[Section], bytes]] = {
    "accuracy_by_domain": plot_by_domain,
    "clean_vs_edited": plot_clean_vs_edited,
    "accuracy_by_severity": plot_by_severity,
}


# ----------------------------------------------------------------------------------------------------- the report
HOW_TO_READ = """\
## How to read this

Every edit is scored against its own original photo. **Drop** is the paired clean top-1 (the originals of the \
edits counted, each once per edit) minus the edited top-1, in percentage points; it is not the clean top-1 of all \
originals minus the edited top-1 when images have different numbers of edits. **Relative robustness** is edited \
top-1 divided by paired clean top-1 (100% = no loss). **Flip rate** is the share of edits whose top-1 prediction \
differs from their original's, right or wrong. Intervals in brackets are {level} percentile bootstrap intervals that \
resample *source images* (an image's edits move together), so they reflect how many photos there are, not how many \
edits. "All 1000 classes" accuracies take the model's top class over all of ImageNet; the accuracies "among the \
config's classes only" mask the logits of the classes outside the config first (as ImageNet-R and ImageNet-A \
report theirs), which can only raise them: never compare one kind with the other. mCE (100 = the reference model) \
and effective robustness are shown only when a reference is given and when 3 or more models share a section. \
Results on different dataset revisions, configs or metric versions are in different sections and never compared.
"""


def _section_markdown(section: Section, sections: Sequence[Section], reference: Mapping[str, Any] | None,
                      plots: Mapping[str, str]) -> str:
    entries = section.entries
    parts = [f"## {section.number}. {section.title}" if len(sections) > 1 else f"## {section.title}"]
    note = separation_note(section, sections)
    if note:
        parts.append(f"> {note}")
    parts += [f"> **Warning:** {warning}" for warning in section_warnings(section)]
    overview = _overview_rows(entries)
    notes: list[str] = []
    if reference is not None:
        rows, more = reference_block(section, reference)
        overview += rows
        notes += more
    rows, more = effective_robustness_block(entries)
    overview += rows
    notes += more
    parts += ["### Overview", markdown_table(["", *(e.label for e in entries)], overview)]
    if notes:
        parts.append("\n".join(f"- {n}" for n in notes))
    parts += ["### By domain", domain_tables(entries, section.level), "### By severity",
              severity_tables(entries, section.level),
              "### By class group", group_tables(entries), "### Plots"]
    titles = {"accuracy_by_domain": "Top-1 by domain", "clean_vs_edited": "Clean vs edited top-1",
              "accuracy_by_severity": "Top-1 by severity"}
    parts += [f"![{titles[name]}]({file})" for name, file in plots.items()]
    return "\n\n".join(parts)


def render_markdown(sections: Sequence[Section], reference: Mapping[str, Any] | None,
                    plots: Mapping[int, Mapping[str, str]]) -> str:
    count = sum(len(s.entries) for s in sections)
    intro = ["# ImageNet-TC report", f"{count} result{'s' if count != 1 else ''}, one column per model."]
    if len(sections) > 1:
        intro.append(f"**These results form {len(sections)} sections that are not comparable with each other** "
                     f"(different dataset revisions, configs or metric versions); each section has its own tables "
                     f"and its own plots (file names end in -<section>-<config>).")
    body = [_section_markdown(s, sections, reference, plots[s.number]) for s in sections]
    level = confidence_label([e.results for s in sections for e in s.entries])
    reading = HOW_TO_READ.format(level=level if level != "mixed-level" else "the stated-level")
    return "\n\n".join([*intro, *body, reading])


def _checked(results: Sequence[Mapping[str, Any]], reference: Mapping[str, Any] | None) -> None:
    if not results:
        raise ResultsError("results", ["no results to report"])
    named = [(f"results[{i}]", r) for i, r in enumerate(results)]
    for source, data in named + ([("reference", reference)] if reference is not None else []):
        problems = check_results(data)
        if problems:
            raise ResultsError(source, problems)


def write_report(results: list[dict], out: str | Path, reference: dict | None = None) -> dict[str, Path]:
    """Writes report.md and the PNG plots into the folder `out` (each file atomically) and returns
    {file name: path}. Raises ResultsError if a results dict does not have the results layout."""
    _checked(results, reference)
    folder = Path(out)
    sections = group_results(results)
    written: dict[str, Path] = {}
    plots: dict[int, dict[str, str]] = {}
    for section in sections:
        plots[section.number] = {}
        for name, plot in PLOTTERS.items():
            file = f"{name}{section.suffix}.png"
            written[file] = atomic_write_bytes(folder / file, plot(section))
            plots[section.number][name] = file
    text = render_markdown(sections, reference, plots)
    written[REPORT_FILE] = atomic_write_text(folder / REPORT_FILE, text)
    return written


def report_main(paths: list[str], out: str, reference: str | None) -> int:
    """`imagenet-tc report`: loads the results files (and the reference), writes the report, prints where it is.
    Returns the exit status: 0, 1 when a file cannot be read or is not a results file, 2 with no files."""
    if not paths:
        print("imagenet-tc report: give at least one results file", file=sys.stderr)
        return 2
    try:
        loaded = [load_results(path) for path in paths]
        reference_results = load_results(reference) if reference else None
        written = write_report(loaded, out, reference_results)
    except ResultsError as error:
        print(f"imagenet-tc report: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"imagenet-tc report: cannot write to {out}: {error}", file=sys.stderr)
        return 1
    print(f"report: {written[REPORT_FILE]}")
    for name, path in written.items():
        if name != REPORT_FILE:
            print(f"plot:   {path}")
    return 0
