"""The report's PNG plots of one section: top-1 by domain, clean against edited top-1 (with the effective
robustness fit), top-1 by severity. matplotlib is imported only when a plot is drawn, and only its Agg canvas is
used (no pyplot, no global backend switch), so importing the report stays light.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Callable
from typing import Any

from imagenet_textcorrupt import metrics
from imagenet_textcorrupt.estimate import Estimate
from imagenet_textcorrupt.report.sections import Section
from imagenet_textcorrupt.report.tables import union
from imagenet_textcorrupt.results import Figures
from imagenet_textcorrupt.schema import domain_order, severity_order

# marker and colour per architecture family (classifier.py's families); anything else is drawn as "other"
FAMILY_STYLE: dict[str, tuple[str, str]] = {
    "cnn": ("o", "tab:blue"),
    "transformer": ("^", "tab:orange"),
    "hybrid": ("s", "tab:green"),
    "mlp": ("D", "tab:red"),
    "zero-shot": ("*", "tab:purple"),  # image-text models scored zero-shot (zero_shot/)
    "other": ("X", "tab:gray"),
}


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


def _top1_bar(figures: Figures | None) -> tuple[float, float, float]:
    return ((figures or {}).get("top1") or Estimate(None)).error_bar()


def plot_by_domain(section: Section) -> bytes:
    """Grouped bars: per category (clean, then each domain) one bar per model, with its interval."""
    columns = section.columns
    categories = ["clean", *sorted(union(columns, lambda r: r.metrics.by_domain), key=domain_order)]
    width = 0.8 / len(columns)
    figure, axes = _new_figure(max(6.0, 1.2 + len(categories) * (0.5 + 0.35 * len(columns))), 4.8)
    for index, (column, colour) in enumerate(zip(columns, _colours(len(columns)))):
        m = column.results.metrics
        blocks = [m.clean] + [m.by_domain.get(c) for c in categories[1:]]
        values, down, up = zip(*(_top1_bar(b) for b in blocks))
        offsets = [c + (index - (len(columns) - 1) / 2) * width for c in range(len(categories))]
        axes.bar(offsets, values, width, yerr=[down, up], capsize=3, color=colour, label=column.label,
                 error_kw={"elinewidth": 1, "ecolor": "black"})
    axes.set_xticks(range(len(categories)), categories)
    axes.set_xlabel("domain (clean = the original photos)")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_ylim(0, 105)
    axes.set_title(f"Top-1 accuracy by domain, {section.level} CI\n{section.title}", fontsize=10)
    axes.grid(axis="y", alpha=0.3)
    figure.legend(fontsize=8, loc="outside lower center", ncols=min(len(columns), 3))
    return _png(figure)


def plot_clean_vs_edited(section: Section) -> bytes:
    """Clean against edited top-1 per model, styled by family, with y = x and the logit-linear fit."""
    figure, axes = _new_figure(6.4, 5.6)
    points = []
    for column in section.columns:
        x, x_down, x_up = _top1_bar(column.results.metrics.clean)
        y, y_down, y_up = _top1_bar(column.results.metrics.edited)
        if not (math.isnan(x) or math.isnan(y)):
            points.append((column, x, y, (x_down, x_up), (y_down, y_up)))
    families_shown: set[str] = set()
    for column, x, y, xerr, yerr in points:
        family = column.family if column.family in FAMILY_STYLE else "other"
        marker, colour = FAMILY_STYLE[family]
        axes.errorbar([x], [y], xerr=[[xerr[0]], [xerr[1]]], yerr=[[yerr[0]], [yerr[1]]], fmt=marker, color=colour,
                      markersize=8, ecolor=colour, elinewidth=0.8, alpha=0.9,
                      label=None if family in families_shown else family)
        families_shown.add(family)
        axes.annotate(column.label, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    # the axes hold the intervals too, not only the points
    values = [v for _, x, y, xerr, yerr in points for v in (x - xerr[0], x + xerr[1], y - yerr[0], y + yerr[1])
              if not math.isnan(v)]
    low = max(0.0, min(values, default=0.0) - 5)
    high = min(100.0, max(values, default=100.0) + 5)
    axes.plot([low, high], [low, high], "--", color="gray", linewidth=1, label="y = x (no drop)")
    clean = [x / 100 for _, x, _, _, _ in points]
    if len(set(clean)) >= 2:
        fit = metrics.effective_robustness(clean, [y / 100 for _, _, y, _, _ in points])
        axes.plot(*metrics.fitted_curve(fit["slope"], fit["intercept"], low, high), "-", color="black",
                  linewidth=1, label="logit-linear fit")
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
    columns = section.columns
    severities = sorted(union(columns, lambda r: r.metrics.by_severity), key=severity_order)
    numeric = [s for s in severities if severity_order(s)[0] != sys.maxsize]
    figure, axes = _new_figure(6.8, 4.6)
    for column, colour in zip(columns, _colours(len(columns))):
        m = column.results.metrics
        xs = [0] + [int(s) for s in numeric]
        values, down, up = zip(*(_top1_bar(b) for b in [m.clean] + [m.by_severity.get(s) for s in numeric]))
        axes.plot(xs, values, "-o", color=colour, label=column.label, markersize=5)
        axes.fill_between(xs, [v - d for v, d in zip(values, down)], [v + u for v, u in zip(values, up)],
                          color=colour, alpha=0.15, linewidth=0)
    ticks = [0] + [int(s) for s in numeric]
    axes.set_xticks(ticks, ["0\n(clean)"] + [str(t) for t in ticks[1:]])
    axes.set_xlabel("edit severity")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_ylim(0, 105)
    axes.set_title(f"Top-1 accuracy by severity, {section.level} CI bands\n{section.title}", fontsize=10)
    axes.grid(alpha=0.3)
    figure.legend(fontsize=8, loc="outside lower center", ncols=min(len(columns), 3))
    return _png(figure)


# file name (without the section suffix) -> (title in the report, plotter)
PLOTTERS: dict[str, tuple[str, Callable[[Section], bytes]]] = {
    "accuracy_by_domain": ("Top-1 by domain", plot_by_domain),
    "clean_vs_edited": ("Clean vs edited top-1", plot_clean_vs_edited),
    "accuracy_by_severity": ("Top-1 by severity", plot_by_severity),
}
