"""W&B views of a study: one group per study, one run per model/stage, and a comparison report.

    log_study(stats, settings=study.wandb, wandb_dir=study.output_dir, study_name=study.name, ...)

Each run (name = model id, group = study name, job_type "analysis", tags `family:<f>` and `stage:<s>`, the same
in its config) gets:
- summary `<benchmark>/<metric>` = rate, with `.../ci_low`, `.../ci_high`, `.../n`, `.../unscored`, and for
  the pairs where it is model b, `vs_<model_a>/<benchmark>/<metric>/{diff,ci_low,ci_high,p_holm,equivalent}`;
- `graded_samples`: a table of graded rows (prompt, response, label, score) read from the store;
- `ci_table` + `ci_chart`: the per-metric rates with their own CIs, drawn by the custom Vega chart
  `CI_CHART_SPEC` (W&B's built-in bar error bars aggregate across runs, which is not this interval), and
  `ci_figure`, the report's matplotlib figure, which renders everywhere with no chart preset installed.

The comparison report is built in code with `wandb_workspaces.reports.v2`: saved to W&B when the mode is
"online", and always written as a spec file (`<wandb_dir>/wandb/report_spec.json`, the JSON W&B stores
for a report), which is all there is offline. The Vega spec is written beside it (`ci_chart.vega.json`): W&B custom charts read their spec
from the server, so install it once as the preset named by `CI_CHART_SPEC`. Nothing here is needed
for the Markdown/HTML report.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from stagewise.analysis.config import AnalysisConfig
from stagewise.analysis.store import grades_dir
from stagewise.evaluate.schema import PARTITIONING
from stagewise.analysis.report import benchmark_label
from stagewise.analysis.summary import Statistics
from stagewise.core.wandb_run import WandbSettings

CI_CHART_SPEC = "stagewise/ci-bars"
SAMPLE_COLUMNS = ["benchmark", "item_id", "sample_idx", "autorater", "label", "score", "unscored", "response", "messages"]


@dataclass
class WandbOutputs:
    run_dirs: dict[str, str] = field(default_factory=dict)  # model -> local run directory
    run_tags: dict[str, list[str]] = field(default_factory=dict)  # model -> its run's tags (family:, stage:)
    group: str | None = None  # the W&B group of the runs: the study
    report_spec: Path | None = None
    report_url: str | None = None
    chart_spec: Path | None = None


def log_study(stats: Statistics, *, settings: WandbSettings, wandb_dir: Path, results_dir: Path, study_name: str,
              model_order: list[str], stages: dict[str, str], cfg: AnalysisConfig,
              figure_png: Path | None = None, families: dict[str, str | None] | None = None) -> WandbOutputs:
    import wandb

    from stagewise.core.wandb_run import start_run

    wandb_dir.mkdir(parents=True, exist_ok=True)  # runs go to <wandb_dir>/wandb/ (init's `dir`, as WANDB_DIR)
    out = WandbOutputs()
    summary, comparisons = stats.summary.to_pylist(), stats.comparisons.to_pylist()
    for model in model_order:
        mine = [r for r in summary if r["model"] == model]
        if not mine:
            continue
        family = (families or {}).get(model)
        run = start_run(settings, wandb_dir, name=model, job_type="analysis", study=study_name, family=family,
                        stage=stages.get(model) or None, reinit="create_new",
                        config={"study": study_name, "model": model,
                                "analysis": cfg.model_dump(mode="json"),
                                "sources": {r["benchmark"]: r["source"] for r in mine}})
        try:
            for r in mine:
                key = f"{r['benchmark']}/{r['metric']}"
                run.summary[key] = r["rate"]
                for part in ("ci_low", "ci_high", "n", "unscored", "method"):
                    run.summary[f"{key}/{part}"] = r[part]
            for c in comparisons:
                if c["model_b"] == model:
                    key = f"vs_{c['model_a']}/{c['benchmark']}/{c['metric']}"
                    for part in ("diff", "ci_low", "ci_high", "p_holm", "equivalent", "mdd_80"):
                        run.summary[f"{key}/{part}"] = c[part]
            ci_table = wandb.Table(columns=["label", "model", "stage", "benchmark", "metric", "rate", "ci_low",
                                            "ci_high", "n", "method", "source"],
                                   data=[[f"{benchmark_label(r['benchmark'], r['source'])}/{r['metric']}", model,
                                          r["stage"], r["benchmark"], r["metric"], r["rate"], r["ci_low"],
                                          r["ci_high"], r["n"], r["method"], r["source"]] for r in mine])
            benchmarks = sorted({r["benchmark"] for r in mine})
            logged = {"ci_table": ci_table, "graded_samples": _sample_table(wandb, results_dir, model, benchmarks, cfg),
                      "ci_chart": wandb.plot_table(CI_CHART_SPEC, ci_table, {"label": "label", "rate": "rate",
                                                   "low": "ci_low", "high": "ci_high", "model": "model"},
                                                   {"title": f"{model}: rates with {cfg.confidence:.0%} CIs"})}
            if figure_png is not None and figure_png.exists():
                logged["ci_figure"] = wandb.Image(str(figure_png), caption=f"{study_name}: rates with CIs")
            run.log(logged)
            out.run_dirs[model] = str(Path(run.dir).parent)
            out.run_tags[model], out.group = list(run.tags), run.group
        finally:
            run.finish()
    out.chart_spec = wandb_dir / "wandb" / "ci_chart.vega.json"
    out.chart_spec.parent.mkdir(parents=True, exist_ok=True)
    out.chart_spec.write_text(json.dumps(ci_chart_vega_spec(), indent=1), encoding="utf-8")
    report = build_comparison_report(stats, settings=settings, study_name=study_name, cfg=cfg,
                                     by_family=any((families or {}).values()))
    if settings.mode == "online":
        report.save()
        out.report_url = report.url
    out.report_spec = wandb_dir / "wandb" / "report_spec.json"
    out.report_spec.write_text(report_spec_json(report), encoding="utf-8")
    return out


def _sample_table(wandb, results_dir: Path, model: str, benchmarks: list[str], cfg: AnalysisConfig):
    """Up to `cfg.wandb_sample_rows` graded rows of a model, split over its benchmarks (scans that stop early)."""
    dataset = ds.dataset(grades_dir(results_dir), format="parquet", partitioning=PARTITIONING)
    per_bench = max(1, cfg.wandb_sample_rows // max(len(benchmarks), 1))
    parts = [dataset.scanner(columns=SAMPLE_COLUMNS, filter=(ds.field("model") == model) & (ds.field("benchmark") == b))
             .head(per_bench) for b in benchmarks] if cfg.wandb_sample_rows else []
    rows = pa.concat_tables(parts).to_pylist() if parts else []
    columns = ["benchmark", "item_id", "sample_idx", "autorater", "label", "score", "unscored", "prompt", "response"]
    data = [[r["benchmark"], r["item_id"], r["sample_idx"], r["autorater"], r["label"], r["score"], r["unscored"],
             (r["messages"] or [{"content": ""}])[-1]["content"], r["response"]] for r in rows]
    return wandb.Table(columns=columns, data=data)


def build_comparison_report(stats: Statistics, *, settings: WandbSettings, study_name: str, cfg: AnalysisConfig,
                            by_family: bool = False):
    """The study's W&B comparison report (wandb-workspaces), filtered to this study's group of runs; `by_family`:
    with a section whose runs are grouped by model family, then stage (the runs' config.family / config.stage)."""
    import wandb_workspaces.reports.v2 as wr
    from wandb_workspaces import expr

    online = settings.mode == "online"
    metrics = sorted({f"{r['benchmark']}/{r['metric']}" for r in stats.summary.to_pylist()})
    # Offline the run set names no entity/project: resolving them needs the W&B API.
    runset = wr.Runset(entity=(settings.entity or "") if online else "", project=settings.project if online else "",
                       name=study_name, filters=[expr.Metric("Group") == study_name])
    comparison_md = "\n".join(
        ["| a → b | benchmark | metric | diff [CI] | p (Holm) | equivalent |", "|---|---|---|---|---|---|"]
        + [f"| {c['model_a']} → {c['model_b']} | {c['benchmark']} | {c['metric']} | {c['diff']:+.3f} "
           f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] | {c['p_holm']:.3g} | {'yes' if c['equivalent'] else 'no'} |"
           for c in stats.comparisons.to_pylist()])
    family_blocks = [
        wr.H1("Families side by side (runs grouped by family, then stage)"),
        wr.PanelGrid(runsets=[wr.Runset(entity=runset.entity, project=runset.project, name=f"{study_name} by family",
                                        filters=[expr.Metric("Group") == study_name],
                                        groupby=["config.family", "config.stage"])],
                     panels=[wr.BarPlot(title="Rates by family and stage", metrics=metrics, orientation="v")]),
    ] if by_family else []
    return wr.Report(
        project=settings.project, entity=settings.entity or "",
        title=f"{study_name}: safety behaviour by training stage",
        description=f"Rates with {cfg.confidence:.0%} CIs per model/stage and paired stage-vs-stage comparisons "
                    f"(equivalence margin ±{cfg.equivalence_margin:g}).",
        blocks=[
            wr.H1("Rates by stage, with each rate's own confidence interval"),
            wr.PanelGrid(runsets=[runset], panels=[
                wr.MediaBrowser(title="Rates with CIs (figure)", media_keys=["ci_figure"], num_columns=1),
                wr.CustomChart(query={"summaryTable": {"tableKey": "ci_table"}}, chart_name=CI_CHART_SPEC,
                               chart_fields={"label": "label", "rate": "rate", "low": "ci_low", "high": "ci_high",
                                             "model": "model"}),
                wr.BarPlot(title="Rates (point estimates)", metrics=metrics, orientation="v"),
                wr.WeavePanelSummaryTable(table_name="ci_table"),
            ]),
            *family_blocks,
            wr.H1("Stage vs stage (paired, same items)"),
            wr.MarkdownBlock(text=comparison_md or "No comparisons."),
            wr.H1("Graded samples"),
            wr.PanelGrid(runsets=[runset], panels=[wr.WeavePanelSummaryTable(table_name="graded_samples"),
                                                   wr.RunComparer()]),
        ],
    )


def report_spec_json(report) -> str:
    return report._to_model().model_dump_json(by_alias=True, exclude_none=True, indent=1)


def ci_chart_vega_spec() -> dict:
    """Vega spec for bars with each bar's own [low, high] interval (fields bound by W&B's ${field:...})."""
    return {
        "$schema": "https://vega.github.io/schema/vega/v5.json",
        "padding": 5, "autosize": {"type": "fit-x", "contains": "padding"}, "width": 480, "height": 260,
        "title": "${string:title}",
        "data": [{"name": "wandb"}],
        "scales": [
            {"name": "x", "type": "band", "domain": {"data": "wandb", "field": "${field:label}"}, "range": "width",
             "padding": 0.2},
            {"name": "y", "type": "linear", "domain": [0, 1], "range": "height", "nice": True},
            {"name": "color", "type": "ordinal", "domain": {"data": "wandb", "field": "${field:model}"},
             "range": "category"},
        ],
        "axes": [{"orient": "bottom", "scale": "x", "labelAngle": -30, "labelAlign": "right"},
                 {"orient": "left", "scale": "y", "title": "rate"}],
        "legends": [{"fill": "color", "title": "model"}],
        "marks": [{
            "type": "group",
            "from": {"facet": {"data": "wandb", "name": "per_label", "groupby": "${field:label}"}},
            "encode": {"enter": {"x": {"scale": "x", "field": "${field:label}"}, "width": {"scale": "x", "band": 1}}},
            "signals": [{"name": "w", "update": "bandwidth('x')"}],
            "scales": [{"name": "inner", "type": "band", "range": "w",
                        "domain": {"data": "per_label", "field": "${field:model}"}}],
            "marks": [
                {"type": "rect", "from": {"data": "per_label"}, "encode": {"enter": {
                    "x": {"scale": "inner", "field": "${field:model}"}, "width": {"scale": "inner", "band": 1},
                    "y": {"scale": "y", "field": "${field:rate}"}, "y2": {"scale": "y", "value": 0},
                    "fill": {"scale": "color", "field": "${field:model}"},
                    "tooltip": {"signal": "datum"}}}},
                {"type": "rule", "from": {"data": "per_label"}, "encode": {"enter": {
                    "x": {"scale": "inner", "field": "${field:model}", "band": 0.5},
                    "y": {"scale": "y", "field": "${field:low}"}, "y2": {"scale": "y", "field": "${field:high}"},
                    "stroke": {"value": "black"}, "strokeWidth": {"value": 1.5}}}},
            ],
        }],
    }
