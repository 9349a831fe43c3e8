"""The report's Markdown tables: one column per model, one row per figure, each figure written as
`61.3 [58.0, 64.1]` (percent with its interval). `markdown_table` is the one table renderer of the report and the
leaderboard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from imagenet_textcorrupt import metrics
from imagenet_textcorrupt.estimate import MISSING, Estimate, format_estimate, format_number
from imagenet_textcorrupt.report.sections import IDENTITY_FIELDS, Column, Section, identity, shown
from imagenet_textcorrupt.results import Figures, Results
from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS, DOMAINS, domain_order, severity_order

MIN_MODELS_FOR_EFFECTIVE_ROBUSTNESS = 3
_ALIGN = {"l": ":---", "r": "---:", "c": ":---:"}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub Markdown table. `align` has one letter per column (l, r, c); by default the first column is
    left-aligned and the figures right-aligned."""
    align = align or "l" + "r" * (len(header) - 1)
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "|".join(_ALIGN[a] for a in align) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def union(columns: Sequence[Column], read: Callable[[Results], dict[str, Any]]) -> list[str]:
    """The keys (domains, severities, groups) that any of the columns has, in the order first seen."""
    keys: list[str] = []
    for column in columns:
        keys += [k for k in read(column.results) if k not in keys]
    return keys


def _figure(figures: Figures | None, name: str) -> Estimate | None:
    return (figures or {}).get(name)


def _overview_rows(columns: Sequence[Column]) -> list[list[str]]:
    def row(name: str, get: Callable[[Results], Any]) -> list[str]:
        return [name, *(get(c.results) for c in columns)]

    def est(part: str, name: str) -> Callable[[Results], str]:
        return lambda r: format_estimate(_figure(getattr(r.metrics, part), name))

    def has(part: str, name: str) -> bool:
        return any(_figure(getattr(c.results.metrics, part), name) for c in columns)

    rows = [
        ["family", *(c.family for c in columns)],
        row("config", lambda r: shown(r.dataset.config)),
        row("dataset revision", lambda r: r.dataset.revision_label),
        row("rows (edits + originals)", lambda r: shown(r.dataset.rows)),
        row("clean top-1, all 1000 classes (%)", est("clean", "top1")),
        row("edited top-1, all 1000 classes (%)", est("edited", "top1")),
        row("paired clean top-1 of the edits (%)", est("edited", "clean_top1")),
    ]
    if has("edited", "top5"):
        rows += [row("clean top-5 (%)", est("clean", "top5")), row("edited top-5 (%)", est("edited", "top5"))]
    rows += [
        row("drop in top-1 (points)", est("edited", "drop")),
        row("relative robustness (%)", est("edited", "relative_robustness")),
        row("flip rate (%)", est("edited", "flip_rate")),
    ]
    if has("edited", "top1_config") or has("clean", "top1_config"):
        rows += [row("clean top-1 among the config's classes only (%)", est("clean", "top1_config")),
                 row("edited top-1 among the config's classes only (%)", est("edited", "top1_config"))]
    if has("imagenet_c", "top1"):
        rows += [row("ImageNet-C top-1 on the same photos, all corruptions (%)", est("imagenet_c", "top1")),
                 row("ImageNet-C drop in top-1 (points)", est("imagenet_c", "drop"))]
    return rows


def _breakdown(columns: Sequence[Column], keys: Sequence[str], block: Callable[[Results, str], Figures | None],
               metric: str, key_name: str) -> str:
    rows = [[key, *(format_estimate(_figure(block(c.results, key), metric)) for c in columns)] for key in keys]
    return markdown_table([key_name, *(c.label for c in columns)], rows)


def domain_tables(columns: Sequence[Column], level: str = "95%") -> str:
    domains = sorted(union(columns, lambda r: r.metrics.by_domain), key=domain_order)
    if not domains:
        return "No edits by domain."

    def block(r: Results, domain: str) -> Figures | None:
        return r.metrics.by_domain.get(domain)

    return "\n\n".join([
        f"Edited top-1 (%), {level} CI:", _breakdown(columns, domains, block, "top1", "domain"),
        "Drop in top-1 (points) against the same images' originals:",
        _breakdown(columns, domains, block, "drop", "domain"),
    ])


def severity_tables(columns: Sequence[Column], level: str = "95%") -> str:
    severities = sorted(union(columns, lambda r: r.metrics.by_severity), key=severity_order)
    if not severities:
        return "No edits by severity."

    def block(r: Results, key: str) -> Figures | None:
        return r.metrics.clean if key == "0 (clean)" else r.metrics.by_severity.get(key)

    return "\n\n".join([
        f"Top-1 (%), {level} CI; severity 0 is the originals:",
        _breakdown(columns, ["0 (clean)", *severities], block, "top1", "severity"),
        "Drop in top-1 (points):",
        _breakdown(columns, severities, block, "drop", "severity"),
    ])


def imagenet_c_tables(columns: Sequence[Column], level: str = "95%") -> str | None:
    """Top-1 by ImageNet-C severity (its own 1-5 scale) over all corruptions; None without ImageNet-C rows."""
    severities = sorted(union(columns, lambda r: r.metrics.imagenet_c_by_severity), key=severity_order)
    if not severities:
        return None

    def block(r: Results, key: str) -> Figures | None:
        return r.metrics.clean if key == "0 (clean)" else r.metrics.imagenet_c_by_severity.get(key)

    return "\n\n".join([
        f"ImageNet-C (Hendrycks & Dietterich 2019) rendered on the same source photos, all corruptions together; "
        f"top-1 (%), {level} CI; severity 0 is the originals (each corruption is a row of the domain tables):",
        _breakdown(columns, ["0 (clean)", *severities], block, "top1", "severity"),
        "Drop in top-1 (points):",
        _breakdown(columns, severities, block, "drop", "severity"),
    ])


def group_tables(columns: Sequence[Column]) -> str:
    groups = sorted(union(columns, lambda r: r.metrics.by_group))
    if not groups:
        return "No class groups in these results."

    def part(name: str) -> Callable[[Results, str], Figures | None]:
        return lambda r, group: r.metrics.by_group.get(group, {}).get(name)

    return "\n\n".join([
        "Clean top-1 (%) of the originals in each group:",
        _breakdown(columns, groups, part("clean"), "top1", "group"),
        "Edited top-1 (%):",
        _breakdown(columns, groups, part("edited"), "top1", "group"),
        "Drop in top-1 (points):",
        _breakdown(columns, groups, part("edited"), "drop", "group"),
    ])


def reference_block(section: Section, reference: Results) -> tuple[list[list[str]], list[str]]:
    """Overview rows with each model's mCE and relative mCE, and the notes that go with them."""
    name = f"{reference.model.id} ({reference.dataset.revision_label})"
    if identity(reference) != section.key:
        differ = [label for (label, _), ours, theirs in zip(IDENTITY_FIELDS, section.key, identity(reference))
                  if ours != theirs]
        note = (f"mCE not computed: the reference {name} was scored on other data or with other metrics "
                f"({', '.join(differ)} differ), and corruption errors only compare errors on the same images.")
        return [], [note]
    rows: list[list[str]] = []
    notes = [f"mCE and relative mCE (ImageNet-C, Hendrycks & Dietterich 2019) against the reference {name}, over "
             f"the domains and severities both have; below 100 means fewer errors than the reference. The "
             f"text-guided domains and ImageNet-C's corruptions are averaged apart."]
    has_corruptions = any(set(c.results.metrics.errors) & set(CORRUPTION_DOMAINS) for c in section.columns)
    kinds = [("", DOMAINS)] + ([("ImageNet-C ", CORRUPTION_DOMAINS)] if has_corruptions else [])
    for kind, domains in kinds:
        scores = {c.label: metrics.corruption_error(c.results, reference, domains) for c in section.columns}
        rows += [[f"{kind}mCE vs reference (100 = reference)",
                  *(format_number(scores[c.label].mce) for c in section.columns)],
                 [f"{kind}relative mCE vs reference",
                  *(format_number(scores[c.label].relative_mce) for c in section.columns)]]
        for label, score in scores.items():
            if score.skipped:
                notes.append(f"{label}{' (ImageNet-C)' if kind else ''}: skipped {', '.join(score.skipped)}.")
            notes += [f"{label}{' (ImageNet-C)' if kind else ''}: {problem}." for problem in score.problems]
        if not any(s.skipped for s in scores.values()):
            notes.append(f"No {'corruption' if kind else 'domain'} or severity was skipped: every model and the "
                         f"reference share them all.")
    return rows, notes


def effective_robustness_block(columns: Sequence[Column]) -> tuple[list[list[str]], list[str]]:
    """The effective robustness row (Taori et al. 2020) when 3+ models share the section; else nothing."""
    if len(columns) < MIN_MODELS_FOR_EFFECTIVE_ROBUSTNESS:
        return [], []
    points = {c.label: (c.results.metrics.clean.get("top1"), c.results.metrics.edited.get("top1")) for c in columns}
    usable = [label for label, (c, d) in points.items() if c and c.value is not None and d and d.value is not None]
    try:
        fit = metrics.effective_robustness([points[k][0].value for k in usable], [points[k][1].value for k in usable])
    except metrics.MetricInputError as error:
        return [], [f"Effective robustness not computed: {error}."]
    residual = dict(zip(usable, fit["residual"]))
    row = ["effective robustness (points)",
           *(format_number(100 * residual[c.label], signed=True) if c.label in residual else MISSING
             for c in columns)]
    note = (f"Effective robustness: edited top-1 minus the top-1 predicted from clean top-1 by the fit "
            f"logit(edited) = {fit['slope']:.3f} · logit(clean) {'+' if fit['intercept'] >= 0 else '−'} "
            f"{abs(fit['intercept']):.3f} over the {len(usable)} "
            f"models of this section; positive is more robust than the clean accuracy explains. With few models "
            f"the fit, and so the figure, is rough.")
    return [row], [note]


def overview_table(section: Section, reference: Results | None) -> tuple[str, list[str]]:
    """The overview table of a section (with mCE rows against the reference and effective robustness where they
    apply) and the notes that explain those rows."""
    rows = _overview_rows(section.columns)
    notes: list[str] = []
    if reference is not None:
        more_rows, more = reference_block(section, reference)
        rows += more_rows
        notes += more
    more_rows, more = effective_robustness_block(section.columns)
    rows += more_rows
    notes += more
    return markdown_table(["", *(c.label for c in section.columns)], rows), notes
