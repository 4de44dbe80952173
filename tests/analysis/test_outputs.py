"""The outputs: figure (one bar per model x metric, with CIs), CSV contract, report, CLI, W&B offline."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.csv as pacsv
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from stagewise.analysis.analyze import analyze_store
from stagewise.analysis.config import AnalysisConfig
from stagewise.analysis.figure import draw_comparison_figure
from stagewise.analysis.store import load_graded_values
from stagewise.analysis.summary import compute_statistics
from stagewise.analysis.synthetic import write_synthetic_store
from stagewise.cli import main

SUMMARY_COLUMNS = ["model", "stage", "benchmark", "metric", "rate", "n", "unscored", "ci_low", "ci_high", "method"]
COMPARISON_COLUMNS = ["model_a", "model_b", "benchmark", "metric", "diff", "ci_low", "ci_high", "p_value", "p_holm",
                      "equivalent"]


def test_figure_has_one_bar_and_one_error_bar_per_model_and_metric(small_store):
    order = ["base", "sft", "prod"]
    summary = compute_statistics(load_graded_values(small_store), AnalysisConfig(), order, []).summary
    fig = draw_comparison_figure(summary, order)
    axes = [ax for ax in fig.get_axes() if ax.get_visible()]
    assert sorted(ax.get_title() for ax in axes) == ["harmbench", "xstest"]
    for ax in axes:
        metrics = {r["metric"] for r in summary.to_pylist() if r["benchmark"] == ax.get_title()}
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        errors = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert [len(b) for b in bars] == [len(metrics)] * len(order)
        assert len(errors) == len(order)
        for model, bar in zip(order, bars):  # bar heights are the rates, in the metric order of the axis
            rows = {r["metric"]: r for r in summary.to_pylist() if r["benchmark"] == ax.get_title() and r["model"] == model}
            assert [round(p.get_height(), 9) for p in bar] == [round(rows[m]["rate"], 9) for m in sorted(metrics)]
        for model, err in zip(order, errors):  # whiskers span [ci_low, ci_high]
            segments = err.lines[2][0].get_segments()
            rows = [r for r in summary.to_pylist() if r["benchmark"] == ax.get_title() and r["model"] == model]
            spans = sorted((round(s[0][1], 9), round(s[1][1], 9)) for s in segments)
            assert spans == sorted((round(r["ci_low"], 9), round(r["ci_high"], 9)) for r in rows)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["base (base)", "sft (sft)", "prod (production)"]


def test_analyze_store_writes_the_contract(small_store, tmp_path):
    out = analyze_store(small_store, tmp_path / "report", AnalysisConfig(bootstrap_resamples=500),
                        model_order=["base", "sft", "prod"], study_name="demo")
    summary, comparisons = pacsv.read_csv(out.summary_csv), pacsv.read_csv(out.comparisons_csv)
    assert summary.column_names[:10] == SUMMARY_COLUMNS and comparisons.column_names[:10] == COMPARISON_COLUMNS
    assert summary.num_rows == 3 * 3  # 3 models x (harmbench: 2 metrics, xstest: 1)
    pairs = set(zip(comparisons["model_a"].to_pylist(), comparisons["model_b"].to_pylist()))
    assert comparisons.num_rows == 2 * 3 and pairs == {("base", "sft"), ("sft", "prod")}
    low, high, rate = (np.array(summary[c].to_pylist()) for c in ("ci_low", "ci_high", "rate"))
    assert ((low <= rate) & (rate <= high)).all()
    for path in (out.figure_png, out.figure_svg, out.report_md, out.report_html, out.disagreements_csv):
        assert path.stat().st_size > 0
    md = out.report_md.read_text()
    for heading in ("## Rates", "## Stage vs stage", "### base (base) → sft (sft)", "## Where the stages disagree",
                    "![", "figure.png"):
        assert heading in md
    dis = pacsv.read_csv(out.disagreements_csv).to_pylist()
    assert dis and all(d["response_a"].startswith(d["model_a"]) and d["response_b"].startswith(d["model_b"]) for d in dis)
    assert all(d["value_a"] != d["value_b"] for d in dis if d["metric"] == "refusal_rate")
    assert "<table>" in out.report_html.read_text()


def test_configured_pair_with_unknown_model_is_an_error(small_store, tmp_path):
    from stagewise.core.errors import StagewiseError

    with pytest.raises(StagewiseError, match="analysis.comparisons: model 'dpo' has no graded rows"):
        analyze_store(small_store, tmp_path / "r", AnalysisConfig(comparisons=[("sft", "dpo")]))


def test_cli_on_a_study_dir_without_config(small_store, capsys):
    study_dir = small_store.parent
    assert main(["analyze", str(study_dir), "wandb.mode=disabled", "analysis.bootstrap_resamples=200"]) == 0
    out = capsys.readouterr().out
    assert "base -> sft: equivalent on" in out and (study_dir / "report" / "summary.csv").exists()
    assert main(["analyze", str(study_dir / "nope")]) == 2
    assert main(["analyze", str(study_dir), "analysis.confidence=2"]) == 2
    assert "analysis.confidence" in capsys.readouterr().err


def test_wandb_offline_runs_and_report_spec(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    store = tmp_path / "results"
    write_synthetic_store(store, {"base": "base", "sft": "sft"}, items=30, seed=2)
    out = analyze_store(store, tmp_path / "report", AnalysisConfig(bootstrap_resamples=200, wandb_sample_rows=20),
                        study_name="demo", wandb_settings=SimpleNamespace(mode="offline", project="stagewise",
                                                                          entity=None), wandb_dir=tmp_path)
    assert out.wandb is not None, out.notes
    assert set(out.wandb.run_dirs) == {"base", "sft"}
    for run_dir in out.wandb.run_dirs.values():
        assert run_dir.startswith(str(tmp_path / "wandb"))
        media = Path(run_dir) / "files" / "media"
        ci_table = json.loads(next(media.glob("table/ci_table_*.table.json")).read_text())
        assert {"rate", "ci_low", "ci_high"} <= set(ci_table["columns"]) and len(ci_table["data"]) == 3
        assert next(media.glob("table/graded_samples_*.table.json")) and next(media.glob("images/ci_figure_*.png"))
    spec = json.loads(out.wandb.report_spec.read_text())
    assert spec["displayName"].startswith("demo") and (tmp_path / "wandb" / "ci_chart.vega.json").exists()
    assert "ci_figure" in json.dumps(spec) and "graded_samples" in json.dumps(spec)


def test_wandb_failure_never_blocks_the_report(small_store, tmp_path):
    out = analyze_store(small_store, tmp_path / "report", AnalysisConfig(bootstrap_resamples=200),
                        wandb_settings=SimpleNamespace(mode="bogus-mode", project="p", entity=None))
    assert out.report_md.exists() and any("W&B logging failed" in n for n in out.notes)


def test_cli_on_a_study_dir_reads_its_study_yaml(small_store, capsys):
    from stagewise.config import dump_study, validate_study

    study_dir = small_store.parent
    study = validate_study({
        "name": "demo", "output_dir": "/somewhere/else",  # the dir was moved: the argument wins
        "models": [{"id": m, "stage": s, "source": f"hf/{m}"} for m, s in
                   (("base", "base"), ("sft", "sft"), ("prod", "production"))],
        "analysis": {"comparisons": [["base", "prod"]], "bootstrap_resamples": 200}, "wandb": {"mode": "disabled"}})
    (study_dir / "study.yaml").write_text(dump_study(study))
    assert main(["analyze", str(study_dir), "analysis.equivalence_margin=0.05"]) == 0
    comparisons = pacsv.read_csv(study_dir / "report" / "comparisons.csv").to_pylist()
    # The configured pair, and the headline's (analysis.headline: sft -> production), a comparison of its own.
    assert {(c["model_a"], c["model_b"]) for c in comparisons} == {("base", "prod"), ("sft", "prod")}
    assert {c["margin"] for c in comparisons} == {0.05}
    assert "base -> prod" in capsys.readouterr().out


def test_wandb_runs_are_grouped_by_study_and_tagged_by_family_and_stage(tmp_path, monkeypatch):
    from stagewise.core.wandb_run import WandbSettings, start_run

    monkeypatch.setenv("WANDB_SILENT", "true")
    run = start_run(WandbSettings(mode="offline"), tmp_path, name="m", job_type="analysis", study="fam",
                    family="olmo", stage="sft", reinit="create_new", tags=["extra"])
    try:
        assert run.group == "fam" and set(run.tags) == {"family:olmo", "stage:sft", "extra"}
        assert (run.config["family"], run.config["stage"]) == ("olmo", "sft")
    finally:
        run.finish()
    store = tmp_path / "results"
    write_synthetic_store(store, {"a-sft": "sft", "a-prod": "production", "b-sft": "sft", "b-prod": "production"},
                          items=20, seed=2)
    families = {"a-sft": "a", "a-prod": "a", "b-sft": "b", "b-prod": "b"}
    out = analyze_store(store, tmp_path / "report", AnalysisConfig(bootstrap_resamples=200, wandb_sample_rows=5),
                        study_name="fam", families=families, wandb_dir=tmp_path,
                        wandb_settings=WandbSettings(mode="offline"))
    assert out.wandb is not None and set(out.wandb.run_dirs) == set(families), out.notes
    assert out.wandb.group == "fam"
    assert '"name": "family.value"' in out.wandb.report_spec.read_text()  # a report section grouped by family
    for model, tags in out.wandb.run_tags.items():
        assert set(tags) == {f"family:{families[model]}", f"stage:{model.split('-')[1].replace('prod', 'production')}"}
