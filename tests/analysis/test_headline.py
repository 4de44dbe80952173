"""The headline table (SFT-only vs production per family), its pooled estimate, and the per-family figure."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from stagewise.analysis.analyze import analyze_store, study_pairs
from stagewise.analysis.config import AnalysisConfig
from stagewise.analysis.figure import draw_family_figure
from stagewise.analysis.headline import HEADLINE_SCHEMA, headline_pairs, pooled_table
from stagewise.analysis.store import load_graded_values
from stagewise.analysis.summary import compute_statistics
from stagewise.analysis.synthetic import write_synthetic_store

STAGES = {"a-base": "base", "a-sft": "sft", "a-prod": "production",
          "b-base": "base", "b-sft": "sft", "b-ours": "sft", "b-prod": "production"}
FAMILIES = {m: m.split("-")[0] for m in STAGES}
ORDER = list(STAGES)


@pytest.fixture
def family_store(tmp_path):
    results = tmp_path / "results"
    write_synthetic_store(results, STAGES, items=80, shifts={"a-sft": 1.5, "a-prod": 1.5, "b-sft": 1.0,
                                                             "b-ours": 1.2, "b-prod": 2.0}, seed=3)
    return results


def _row(family, diff, se, bench="xstest", metric="refusal_rate", n=100):
    return {"family": family, "model_a": f"{family}-sft", "stage_a": "sft", "model_b": f"{family}-prod",
            "stage_b": "production", "benchmark": bench, "metric": metric, "rate_a": 0.5, "rate_b": 0.5 + diff,
            "diff": diff, "ci_low": diff - 0.1, "ci_high": diff + 0.1, "se": se, "p_value": 0.5, "p_holm": 0.5,
            "equivalent": False, "tost_p": 0.5, "margin": 0.1, "test": "bootstrap_wald", "n_items": n}


def test_pooled_estimate_matches_a_hand_computed_case():
    # Family a: diff 0.10, SE 0.05 (weight 400); family b: diff 0.30, SE 0.10 (weight 100).
    # Pooled = (400 * 0.10 + 100 * 0.30) / 500 = 0.14; SE = sqrt(1 / 500) = 0.044721;
    # CI = 0.14 -+ 1.959964 * 0.044721 = [0.052348, 0.227652]; z = 0.14 / 0.044721 = 3.1305, p = 0.001745;
    # Q = 400 * 0.04^2 + 100 * 0.16^2 = 3.2 on 1 df, p = 0.073638. TOST at margin 0.10:
    # max(P(Z > (0.14 + 0.1) / se), P(Z > (0.1 - 0.14) / se)) = P(Z > -0.894427) = 0.814453.
    headline = pa.Table.from_pylist([_row("a", 0.10, 0.05), _row("b", 0.30, 0.10),
                                     _row("a", 0.0, 0.02, metric="other"), _row("b", 0.02, 0.02, metric="other")],
                                    schema=HEADLINE_SCHEMA)
    pairs = [("a", "a-sft", "a-prod"), ("b", "b-sft", "b-prod")]
    pooled = {r["metric"]: r for r in pooled_table(headline, pairs, AnalysisConfig()).to_pylist()}
    r = pooled["refusal_rate"]
    assert r["diff"] == pytest.approx(0.14)
    assert r["se"] == pytest.approx(0.0447214, abs=1e-6)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.052348, 0.227652), abs=1e-6)
    assert r["p_value"] == pytest.approx(0.001745, abs=1e-6)
    assert r["heterogeneity_q"] == pytest.approx(3.2) and r["heterogeneity_p"] == pytest.approx(0.073638, abs=1e-6)
    assert r["tost_p"] == pytest.approx(0.814453, abs=1e-6) and not r["equivalent"]
    assert (r["k"], r["families"], r["n_items"]) == (2, "a, b", 200)
    assert "inverse-variance" in r["method"]
    # Holm across the two pooled metrics: the smaller p doubles.
    other = pooled["other"]
    assert other["diff"] == pytest.approx(0.01) and other["se"] == pytest.approx(0.02 / np.sqrt(2))
    assert r["p_holm"] == pytest.approx(2 * r["p_value"])
    assert other["equivalent"]  # 0.01 +- 1.645 * 0.0141 lies inside +-0.10


def test_one_family_has_nothing_to_pool():
    headline = pa.Table.from_pylist([_row("a", 0.1, 0.05)], schema=HEADLINE_SCHEMA)
    assert pooled_table(headline, [("a", "a-sft", "a-prod")], AnalysisConfig()).num_rows == 0


def test_pairs_stay_inside_each_family():
    cfg = AnalysisConfig()
    assert study_pairs(cfg, ORDER, STAGES, FAMILIES, None) == [
        ("a-base", "a-sft"), ("a-sft", "a-prod"), ("b-base", "b-sft"), ("b-sft", "b-ours"), ("b-ours", "b-prod")]
    by_stage = AnalysisConfig(stage_comparisons=[("base", "sft")])
    assert study_pairs(by_stage, ORDER, STAGES, FAMILIES, None) == [
        ("a-base", "a-sft"), ("b-base", "b-sft"), ("b-base", "b-ours")]
    assert headline_pairs(ORDER, STAGES, FAMILIES, ("sft", "production")) == [
        ("a", "a-sft", "a-prod"), ("b", "b-sft", "b-prod"), ("b", "b-ours", "b-prod")]


def test_analysis_writes_the_headline_and_pools_each_familys_first_pair(family_store, tmp_path):
    out = analyze_store(family_store, tmp_path / "report", AnalysisConfig(bootstrap_resamples=300),
                        model_order=ORDER, families=FAMILIES, study_name="fam")
    comparisons = out.statistics.comparisons.to_pylist()
    assert all(FAMILIES[c["model_a"]] == FAMILIES[c["model_b"]] for c in comparisons)
    headline = pacsv.read_csv(out.headline_csv).to_pylist()
    # 3 pairs (a: sft -> prod; b: sft -> prod and ours -> prod) x 3 benchmark metrics, each a comparisons row.
    assert len(headline) == 9
    for h in headline:
        (c,) = [c for c in comparisons if (c["model_a"], c["model_b"], c["benchmark"], c["metric"])
                == (h["model_a"], h["model_b"], h["benchmark"], h["metric"])]
        assert (h["diff"], h["p_holm"], h["equivalent"], h["se"]) == pytest.approx(
            (c["diff"], c["p_holm"], c["equivalent"], c["se"]))
    pooled = pacsv.read_csv(out.headline_pooled_csv).to_pylist()
    assert len(pooled) == 3 and {p["families"] for p in pooled} == {"a, b"}
    for p in pooled:  # recomputed from the two families' first pairs
        mine = [h for h in headline if (h["benchmark"], h["metric"]) == (p["benchmark"], p["metric"])
                and h["model_a"] in ("a-sft", "b-sft")]
        w = np.array([1 / h["se"] ** 2 for h in mine])
        assert p["diff"] == pytest.approx(sum(w * [h["diff"] for h in mine]) / w.sum())
    md = out.report_md.read_text()
    assert "## Headline: sft vs production, per family" in md and "Pooled across families" in md
    assert "**a**: `a-base` → `a-sft` → `a-prod`" in md


def test_family_figure_has_one_bar_per_family_stage_and_metric_with_its_ci(family_store):
    graded = load_graded_values(family_store)
    summary = compute_statistics(graded, AnalysisConfig(bootstrap_resamples=200), ORDER, []).summary
    fig = draw_family_figure(summary, ORDER, FAMILIES)
    axes = [ax for ax in fig.get_axes() if ax.get_visible()]
    rows = summary.to_pylist()
    panels = sorted({(r["benchmark"], r["metric"]) for r in rows})
    assert len(axes) == len(panels) == 3
    for ax, (bench, metric) in zip(axes, panels):
        assert ax.get_title().replace("\n", " ") == f"{bench}: {metric}"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]  # bars grouped by family
        bars = {b.get_gid(): b for c in ax.containers if isinstance(c, BarContainer) for b in c}
        errs = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == len(errs) == len(STAGES)  # one bar and one whisker per family x stage model
        for model, err in zip(ORDER, errs):
            r = next(r for r in rows if (r["model"], r["benchmark"], r["metric"]) == (model, bench, metric))
            bar = bars[f"bar:{model}:{bench}/{metric}"]
            assert bar.get_height() == pytest.approx(r["rate"])
            (segment,) = err.lines[2][0].get_segments()  # the whisker spans [ci_low, ci_high] at the bar
            assert segment[0][0] == pytest.approx(bar.get_x() + bar.get_width() / 2)
            assert (segment[0][1], segment[1][1]) == pytest.approx((r["ci_low"], r["ci_high"]))
        colour = {m: bars[f"bar:{m}:{bench}/{metric}"].get_facecolor() for m in ORDER}
        for m1 in ORDER:  # one colour per stage
            assert all((colour[m1] == colour[m2]) == (STAGES[m1] == STAGES[m2]) for m2 in ORDER)
        assert bars[f"bar:b-ours:{bench}/{metric}"].get_hatch() == "//"
        # family a's bars left of family b's
        assert max(bars[f"bar:a-{s}:{bench}/{metric}"].get_x() for s in ("base", "sft", "prod")) < \
            min(bars[f"bar:b-{s}:{bench}/{metric}"].get_x() for s in ("base", "sft", "ours", "prod"))
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["base", "sft", "production", "sft (b-ours)"]
