"""Per model x benchmark metric means and a graded-sample table, to W&B (offline by default) and the console.

    summary = metric_means(ResultStore("runs/demo/results"))

These are raw means for a quick look while a study runs; the rates with 95% CIs and the stage-vs-stage
comparisons are `stagewise analyze` (analysis/), which reads the same store. `wandb.mode: disabled` skips
W&B entirely; offline runs land under `<output_dir>/wandb/`.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from stagewise.evaluate.store import ResultStore

if TYPE_CHECKING:
    from stagewise.core.context import RunContext
    from stagewise.evaluate.config import EvalConfig

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ["model", "stage", "benchmark", "item_id", "split", "sample_idx", "autorater", "label", "score",
                  "unscored", "prompt", "response", "metrics"]


def _current(t, keys: set[str] | None):
    """Only the rows this study asks for now (`keys`), so a superseded checkpoint or item never mixes in."""
    if keys is None:
        return t
    import pyarrow as pa

    return t.filter(pa.array([k in keys for k in t.column("key").to_pylist()], pa.bool_()))


def metric_means(store: ResultStore, keys: set[str] | None = None) -> list[dict[str, Any]]:
    """One dict per (model, benchmark, autorater, metric): mean, n scored rows, n unscored rows of that rater."""
    t = _current(store.read("grades", columns=["key", "model", "benchmark", "autorater", "unscored", "metrics"]), keys)
    t = t.drop_columns(["key"])
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0])
    unscored: dict[tuple, int] = defaultdict(int)
    for model, bench, rater, uns, metrics in zip(*(t.column(c).to_pylist() for c in t.column_names)):
        if uns:
            unscored[(model, bench, rater)] += 1
        for m in metrics or []:
            acc = sums[(model, bench, rater, m["name"])]
            acc[0] += m["value"]
            acc[1] += 1
    return [
        {"model": k[0], "benchmark": k[1], "autorater": k[2], "metric": k[3], "mean": s / n, "n": n,
         "unscored": unscored.get(k[:3], 0)}
        for k, (s, n) in sorted(sums.items())
    ]


def sample_rows(store: ResultStore, per_partition: int, keys: set[str] | None = None) -> list[list[Any]]:
    """The first `per_partition` graded rows (by key, so the table is the same every run) of each model x benchmark."""
    t = _current(store.read("grades"), keys)
    rows = sorted(t.to_pylist(), key=lambda r: (r["model"], r["benchmark"], r["key"]))
    kept: dict[tuple, int] = defaultdict(int)
    out = []
    for r in rows:
        part = (r["model"], r["benchmark"])
        if kept[part] >= per_partition:
            continue
        kept[part] += 1
        prompt = r["messages"][-1]["content"] if r["messages"] else ""
        metrics = json.dumps({m["name"]: m["value"] for m in r["metrics"] or []})
        out.append([r["model"], r["stage"], r["benchmark"], r["item_id"], r["split"], r["sample_idx"], r["autorater"],
                    r["label"], r["score"], r["unscored"], prompt, r["response"], metrics])
    return out


def log_evaluation(cfg: "EvalConfig", ctx: "RunContext", store: ResultStore, keys: set[str] | None = None,
                   sources: dict[str, dict] | None = None) -> list[dict[str, Any]]:
    """Print and (unless W&B is disabled) log the metric means and graded samples; return the means."""
    means = metric_means(store, keys)
    for m in means:
        log.info("eval: %s %s %s %s = %.3f (n=%d, unscored=%d)", m["model"], m["benchmark"], m["autorater"],
                 m["metric"], m["mean"], m["n"], m["unscored"])
    if ctx.wandb.mode == "disabled" or not means:
        return means
    import wandb

    from stagewise.core.wandb_run import start_run

    run = start_run(ctx.wandb, ctx.output_dir, name=f"{ctx.study}-eval", job_type="eval", group=ctx.study,
                    config={"evaluation": cfg.model_dump(mode="json"), "seed": ctx.seed,
                            "sources": {b: p.get("label") for b, p in (sources or {}).items()}},
                    reinit="finish_previous")
    try:
        for m in means:
            run.summary[f"{m['model']}/{m['benchmark']}/{m['autorater']}/{m['metric']}"] = m["mean"]
        run.log({
            "metric_means": wandb.Table(columns=list(means[0]), data=[list(m.values()) for m in means]),
            "graded_samples": wandb.Table(columns=SAMPLE_COLUMNS,
                                          data=sample_rows(store, cfg.wandb_table_rows, keys)),
        })
    finally:
        run.finish()
    return means
