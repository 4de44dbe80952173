"""The comparison figure: per benchmark, grouped bars per metric, one bar per model, 95% CI error bars.

    fig = draw_comparison_figure(stats.summary, model_order=["base", "sft", "production"])
    save_figure(fig, Path("runs/demo/report"))  # figure.png + figure.svg

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


def save_figure(fig: Figure, out_dir: Path, stem: str = "figure") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    return paths


def _wrap(metric: str) -> str:
    return "\n".join(textwrap.wrap(metric.replace("_", " ").replace("[", " ["), width=16)) or metric
