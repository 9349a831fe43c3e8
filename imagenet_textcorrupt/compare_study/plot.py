"""The plot beside the table: one panel per model, the study's top-1 (x) against ours under its protocol (y, with
its 95% interval) for the originals and each domain, and the diagonal where the two agree. matplotlib's Agg canvas
only, as the report's plots.
"""

from __future__ import annotations

import math
from pathlib import Path

from imagenet_textcorrupt.compare_study.table import ModelRows
from imagenet_textcorrupt.study_protocol import AVERAGE, COLUMNS

PANELS_PER_ROW = 6
# (study %, ours %, column) drawn per model: the originals and the domains (the Average is their mean, not a point)
Points = dict[str, list[tuple[float, float, str]]]


def plot_points(models: list[ModelRows]) -> Points:
    """What the plot draws, per model: the columns where both figures are known."""
    return {m.study_model: [(r.study, r.ours, r.column) for r in m.rows
                            if r.column != AVERAGE and r.study is not None and r.ours is not None]
            for m in models}


def draw_plot(models: list[ModelRows], path: Path) -> Points:
    """Writes the PNG; returns the points drawn."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    points = plot_points(models)
    columns = [c for c in COLUMNS if c != AVERAGE]
    colours = dict(zip(columns, (colormaps["tab10"](i) for i in range(len(columns)))))
    count = len(models)
    per_row = min(PANELS_PER_ROW, count)
    rows = math.ceil(count / per_row)
    figure = Figure(figsize=(max(5.5, 2.4 * per_row + 0.6), 2.4 * rows + 1.2), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes_grid = figure.subplots(rows, per_row, squeeze=False, sharex=True, sharey=True)
    for index, axes in enumerate(axes_grid.flat):
        if index >= count:
            axes.set_visible(False)
            continue
        model = models[index]
        axes.plot([0, 100], [0, 100], color="gray", linewidth=0.8, linestyle="--", zorder=1)
        for row in model.rows:
            if row.column == AVERAGE or row.study is None or row.ours is None:
                continue
            low = row.ours - row.ours_low if row.ours_low is not None else 0.0
            high = row.ours_high - row.ours if row.ours_high is not None else 0.0
            axes.errorbar([row.study], [row.ours], yerr=[[max(low, 0.0)], [max(high, 0.0)]], fmt="o", markersize=4,
                          color=colours[row.column], ecolor=colours[row.column], elinewidth=1, capsize=2, zorder=2,
                          label=row.column)
        axes.set_xlim(0, 100)
        axes.set_ylim(0, 100)
        axes.set_aspect("equal")
        axes.set_title(model.study_model, fontsize=9)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
        if index // per_row == rows - 1 or index + per_row >= count:
            axes.set_xlabel("the study's top-1 (%)", fontsize=8)
        if index % per_row == 0:
            axes.set_ylabel("ours (%, 95% CI)", fontsize=8)
    handles = [Line2D([], [], marker="o", linestyle="", color=colours[c], label=c) for c in columns
               if any(column == c for drawn in points.values() for _, _, column in drawn)]
    figure.legend(handles=handles, fontsize=8, loc="outside lower center", ncols=min(len(handles), 4) or 1)
    figure.suptitle("Top-1 of the study's table against ours (dashed: equal)", fontsize=10)
    figure.savefig(path, format="png")
    return points
