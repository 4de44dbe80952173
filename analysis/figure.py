"""The study's figures, bars with each bar's own 95% CI.

    fig = draw_family_figure(stats.summary, model_order, families={"base": "olmo", ...})  # the report's figure
    fig = draw_comparison_figure(stats.summary, model_order=["base", "sft", "production"])  # per benchmark
    save_figure(fig, Path("runs/demo/report"))  # figure.png + figure.svg

`draw_family_figure` is drawn like the published study's: a panel per benchmark metric, bars grouped by model
family, one colour per stage (a family's second model of one stage is hatched). `draw_comparison_figure`:
per benchmark, grouped bars per metric, one bar per model.

The error bars are each bar's own interval from `summary` (Wilson or cluster bootstrap), never an
aggregate across runs. Built on `matplotlib.figure.Figure` with the Agg canvas: no pyplot global state,
no display needed.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PANEL_COLUMNS = 3


def draw_comparison_figure(summary: pa.Table, model_order: list[str] | None = None, confidence: float = 0.95,
                           title: str | None = None) -> Figure:
    rows = summary.to_pylist()
    if not rows:
        raise ValueError("draw_comparison_figure: the summary is empty")
    models = model_order or list(dict.fromkeys(r["model"] for r in rows))
    models = [m for m in models if any(r["model"] == m for r in rows)]
    stage = {r["model"]: r["stage"] for r in rows}
    benchmarks = sorted({r["benchmark"] for r in rows})
    by_key = {(r["benchmark"], r["metric"], r["model"]): r for r in rows}
    shown = [v for r in rows for v in (r["ci_low"], r["ci_high"], r["rate"]) if v is not None and not math.isnan(v)]
    in_unit = all(0 <= v <= 1 for v in shown)

    # Rows of up to PANEL_COLUMNS panels; a panel is as wide as its metrics, so every bar has the same width.
    n_metrics = {b: len({r["metric"] for r in rows if r["benchmark"] == b}) for b in benchmarks}
    grid = [benchmarks[i:i + PANEL_COLUMNS] for i in range(0, len(benchmarks), PANEL_COLUMNS)]
    units = max(sum(n_metrics[b] for b in row) for row in grid)
    unit_w = 0.38 * len(models) + 0.5
    fig = Figure(figsize=(units * unit_w + 1.1 * min(PANEL_COLUMNS, len(benchmarks)) + 0.4, 3.4 * len(grid) + 1.2),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = []
    for sub, row in zip(np.atleast_1d(fig.subfigures(len(grid), 1)), grid):
        ratios = [n_metrics[b] for b in row]
        pad = units - sum(ratios)
        row_axes = np.atleast_1d(sub.subplots(1, len(row) + (pad > 0), width_ratios=ratios + ([pad] if pad else [])))
        for extra in row_axes[len(row):]:
            extra.set_visible(False)
        axes.extend(row_axes[:len(row)])
    colors = [f"C{i % 10}" for i in range(len(models))]
    width = 0.8 / len(models)
    for ax, bench in zip(axes, benchmarks):
        metrics = sorted({r["metric"] for r in rows if r["benchmark"] == bench})
        x = np.arange(len(metrics))
        for j, model in enumerate(models):
            cells = [by_key.get((bench, m, model)) for m in metrics]
            rate = np.array([c["rate"] if c and c["rate"] is not None else np.nan for c in cells], float)
            low = np.array([c["ci_low"] if c and c["ci_low"] is not None else np.nan for c in cells], float)
            high = np.array([c["ci_high"] if c and c["ci_high"] is not None else np.nan for c in cells], float)
            pos = x - 0.4 + width * (j + 0.5)
            ax.bar(pos, np.nan_to_num(rate), width, color=colors[j], label=f"{model} ({stage[model]})",
                   gid=f"bar:{model}")
            yerr = np.vstack([np.nan_to_num(rate - low), np.nan_to_num(high - rate)]).clip(min=0)
            ax.errorbar(pos, np.nan_to_num(rate), yerr=yerr, fmt="none", ecolor="black", elinewidth=1, capsize=3,
                        gid=f"ci:{model}")
            for p, r in zip(pos, rate):
                if np.isnan(r):
                    ax.text(p, 0.01, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
        source = next((r.get("source") or "" for r in rows if r["benchmark"] == bench), "")
        ax.set_title(bench + (f"\n({source})" if source.endswith(", embedded") else ""), fontsize=11,
                     fontweight="bold")  # an embedded lookalike is never shown under the public name alone
        ax.set_xticks(x, [_wrap(m) for m in metrics], fontsize=9)
        ax.set_xlim(-0.5, len(metrics) - 0.5)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        if in_unit:
            ax.set_ylim(0, 1.05)
        ax.set_ylabel("rate / mean score", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(models), 6), frameon=False, fontsize=9)
    pct = f"{confidence:.0%}"
    fig.suptitle(title or f"Safety metrics by model/stage, {pct} confidence intervals", fontsize=12)
    return fig


FAMILY_PANEL_COLUMNS = 4


def draw_family_figure(summary: pa.Table, model_order: list[str] | None = None,
                       families: dict[str, str | None] | None = None, confidence: float = 0.95,
                       title: str | None = None) -> Figure:
    """A panel per benchmark metric; in each, one group of bars per family and one bar per model of that family
    (coloured by its stage), with its CI whisker. Bars carry `gid` `bar:<model>:<benchmark>/<metric>`."""
    rows = [r for r in summary.to_pylist() if r["n"]]  # an all-unscored cell has no bar to draw
    if not rows:
        raise ValueError("draw_family_figure: the summary has no scored rows")
    families = families or {}
    models = [m for m in (model_order or list(dict.fromkeys(r["model"] for r in rows)))
              if any(r["model"] == m for r in rows)]
    stage = {r["model"]: r["stage"] for r in rows}
    groups = list(dict.fromkeys(families.get(m) for m in models))
    members = {g: [m for m in models if families.get(m) == g] for g in groups}
    stages = list(dict.fromkeys(stage[m] for m in models))
    colour = {s: f"C{i % 10}" for i, s in enumerate(stages)}
    hatch = {}  # a family's second (third...) model of one stage: same colour, hatched
    for g in groups:
        seen: dict[str, int] = {}
        for m in members[g]:
            hatch[m] = ("", "//", "..", "xx")[min(seen.get(stage[m], 0), 3)]
            seen[stage[m]] = seen.get(stage[m], 0) + 1
    panels = list(dict.fromkeys((r["benchmark"], r["metric"]) for r in sorted(rows, key=lambda r: (r["benchmark"], r["metric"]))))
    by_key = {(r["benchmark"], r["metric"], r["model"]): r for r in rows}
    source = {r["benchmark"]: r.get("source") or "" for r in rows}
    cols = min(FAMILY_PANEL_COLUMNS, len(panels))
    n_rows = math.ceil(len(panels) / cols)
    widest = max(len(v) for v in members.values())
    fig = Figure(figsize=(cols * max(2.6, 0.32 * widest * len(groups) + 1.2), 2.9 * n_rows + 1.1), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(n_rows, cols, squeeze=False)).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    width = 0.8 / widest
    for ax, (bench, metric) in zip(axes, panels):
        cells = [by_key.get((bench, metric, m)) for m in models]
        in_unit = all(0 <= v <= 1 for c in cells if c for v in (c["rate"], c["ci_low"], c["ci_high"])
                      if v is not None and not math.isnan(v))
        for gi, g in enumerate(groups):
            mine = members[g]
            for j, m in enumerate(mine):
                c = by_key.get((bench, metric, m))
                if c is None:
                    continue
                x = gi - 0.4 + width * (j + 0.5) + (0.8 - width * len(mine)) / 2  # centred in the group
                rate = c["rate"]
                ax.bar([x], [rate], width, color=colour[stage[m]], hatch=hatch[m], edgecolor="white",
                       label=stage[m] if not hatch[m] else f"{stage[m]} ({m})", gid=f"bar:{m}:{bench}/{metric}")
                low, high = (rate if v is None or math.isnan(v) else v for v in (c["ci_low"], c["ci_high"]))
                ax.errorbar([x], [rate], yerr=[[max(rate - low, 0)], [max(high - rate, 0)]],
                            fmt="none", ecolor="black", elinewidth=1, capsize=3, gid=f"ci:{m}:{bench}/{metric}")
        label = bench + (f" ({source[bench]})" if source[bench].endswith(", embedded") else "")
        ax.set_title("\n".join(textwrap.wrap(f"{label}: {metric}", 34)), fontsize=9, fontweight="bold")
        ax.set_xticks(range(len(groups)), [_wrap(g or "all models") for g in groups], fontsize=8)
        ax.set_xlim(-0.5, len(groups) - 0.5)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        if in_unit:
            ax.set_ylim(0, 1.05)
        ax.tick_params(axis="y", labelsize=8)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("rate / mean score", fontsize=9)
    legend = {}
    for ax in axes[:len(panels)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(lab, h)
    fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncols=min(len(legend), 6),
               frameon=False, fontsize=9, title="stage")
    fig.suptitle(title or f"Safety metrics by model family and stage, {confidence:.0%} confidence intervals",
                 fontsize=12)
    return fig


def save_figure(fig: Figure, out_dir: Path, stem: str = "figure") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    return paths


def _wrap(metric: str) -> str:
    return "\n".join(textwrap.wrap(metric.replace("_", " ").replace("[", " ["), width=16)) or metric
