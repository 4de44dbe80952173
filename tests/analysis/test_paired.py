"""McNemar against statsmodels' exact test, Holm against statsmodels, TOST on equivalent and shifted data."""
from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from stagewise.analysis.config import AnalysisConfig
from stagewise.analysis.paired import holm, mcnemar_exact_p, min_detectable_difference, tost_p
from stagewise.analysis.summary import compute_statistics
from tests.analysis.stores import graded_values


def test_mcnemar_matches_statsmodels_exact():
    rng = np.random.default_rng(0)
    tables = [rng.integers(0, 40, size=(2, 2)) for _ in range(50)] + [np.array([[5, 0], [0, 7]]), np.array([[0, 3], [0, 0]])]
    ours = mcnemar_exact_p(np.array([t[0, 1] for t in tables]), np.array([t[1, 0] for t in tables]))
    theirs = [mcnemar(t, exact=True).pvalue for t in tables]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def _paired_binary(rng, n: int, p_a: float, p_b: float, agree: float = 0.7):
    """One sample per independent item; with probability `agree` b copies a's outcome (paired data)."""
    a = (rng.random(n) < p_a).astype(float)
    b = np.where(rng.random(n) < agree, a, (rng.random(n) < p_b).astype(float))
    return a, b


def _compare(a: np.ndarray, b: np.ndarray, cfg: AnalysisConfig | None = None) -> dict:
    n = len(a)
    graded = graded_values(np.repeat([0, 1], n), np.tile(np.arange(n), 2), np.concatenate([a, b]), models=["a", "b"])
    stats = compute_statistics(graded, cfg or AnalysisConfig(), ["a", "b"], [("a", "b")])
    return stats.comparisons.to_pylist()[0]


def test_pipeline_uses_exact_mcnemar_for_single_sample_binary_items():
    a, b = _paired_binary(np.random.default_rng(1), 300, 0.4, 0.5)
    row = _compare(a, b)
    assert row["test"] == "mcnemar_exact"
    table = np.array([[np.sum((a == 1) & (b == 1)), np.sum((a == 1) & (b == 0))],
                      [np.sum((a == 0) & (b == 1)), np.sum((a == 0) & (b == 0))]])
    assert row["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert row["diff"] == pytest.approx(b.mean() - a.mean())
    assert row["ci_low"] < row["diff"] < row["ci_high"]


def test_tost_accepts_equivalent_and_rejects_shifted():
    rng = np.random.default_rng(2)
    a, b = _paired_binary(rng, 2000, 0.30, 0.30)
    same = _compare(a, b)
    assert same["equivalent"] and same["tost_p"] < 0.05 and abs(same["diff"]) < 0.03
    a, b = _paired_binary(rng, 2000, 0.30, 0.80)  # b's rate ~0.45: 15 points away, outside the 0.10 margin
    shifted = _compare(a, b)
    assert not shifted["equivalent"] and shifted["tost_p"] > 0.5
    assert shifted["p_value"] < 1e-6 and shifted["ci_low"] > 0.10
    # Equivalent data, but too few items to show it: not "equivalent" (absence of evidence is not evidence).
    a, b = _paired_binary(rng, 30, 0.30, 0.30)
    assert not _compare(a, b)["equivalent"]


def test_tost_p_values_by_formula():
    # diff 0, SE 0.03, margin 0.1: each one-sided z = 3.33.
    assert tost_p(np.array([0.0]), np.array([0.03]), 0.1)[0] == pytest.approx(4.29e-4, rel=1e-2)
    assert tost_p(np.array([0.1]), np.array([0.03]), 0.1)[0] == pytest.approx(0.5)


@pytest.mark.parametrize("n,equivalent", [(20, False), (60, True)])
def test_identical_grades_use_exact_bounds_not_a_zero_width_interval(n, equivalent):
    a = (np.arange(n) % 3 == 0).astype(float)
    row = _compare(a, a.copy())
    assert row["ci_method"] == "exact_no_discordance"
    bound = 1 - 0.025 ** (1 / n)
    assert row["ci_low"] == pytest.approx(-bound) and row["ci_high"] == pytest.approx(bound)
    assert row["equivalent"] is equivalent and row["p_value"] == 1.0 and row["mdd_80"] > 0


def test_holm_matches_statsmodels_per_family():
    rng = np.random.default_rng(3)
    p = rng.random(40) ** 3
    families = rng.integers(0, 4, 40)
    p[5] = np.nan
    ours = holm(p, families)
    for f in range(4):
        idx = np.flatnonzero((families == f) & ~np.isnan(p))
        np.testing.assert_allclose(ours[idx], multipletests(p[idx], method="holm")[1], rtol=1e-12)
    assert np.isnan(ours[5])


def test_min_detectable_difference_is_z_sum_times_se():
    assert min_detectable_difference(np.array([0.01]))[0] == pytest.approx((1.959964 + 0.841621) * 0.01, rel=1e-5)


def test_holm_family_study_pools_all_pairs():
    a, b = _paired_binary(np.random.default_rng(4), 200, 0.3, 0.4)
    n = len(a)
    graded = graded_values(np.repeat([0, 1, 2], n), np.tile(np.arange(n), 3), np.concatenate([a, b, a]),
                           models=["x", "y", "z"])
    pairs = [("x", "y"), ("y", "z")]
    by_pair = compute_statistics(graded, AnalysisConfig(), ["x", "y", "z"], pairs).comparisons.to_pydict()
    pooled = compute_statistics(graded, AnalysisConfig(holm_family="study"), ["x", "y", "z"], pairs).comparisons.to_pydict()
    np.testing.assert_allclose(by_pair["p_holm"], by_pair["p_value"])  # one metric per pair: nothing to adjust
    np.testing.assert_allclose(pooled["p_holm"], multipletests(pooled["p_value"], method="holm")[1])


def test_intervals_do_not_depend_on_the_order_rows_were_stored_in():
    """Same grades, other dictionary order (the store's files written in another order): same bootstrap CIs."""
    import pyarrow as pa

    rng = np.random.default_rng(3)
    n, groups = 60, 12
    item = np.tile(np.arange(n), 2)
    group = item % groups
    value = (rng.random(2 * n) < 0.4).astype(float)
    model = np.repeat([0, 1], n)
    first = graded_values(model, item, value, group=group, models=["a", "b"])
    # Relabel codes so each label keeps its rows but gets another code (another dictionary order).
    perm_i, perm_g = rng.permutation(n), rng.permutation(groups)
    v = first.values
    relabelled = v.set_column(v.schema.get_field_index("item_id"), "item_id", pa.DictionaryArray.from_arrays(
        pa.array(perm_i[item].astype(np.int32)), pa.array([f"i{i}" for i in np.argsort(perm_i)])))
    relabelled = relabelled.set_column(relabelled.schema.get_field_index("group"), "group", pa.DictionaryArray.from_arrays(
        pa.array(perm_g[group].astype(np.int32)), pa.array([f"g{g}" for g in np.argsort(perm_g)])))
    second = graded_values(model, item, value, group=group, models=["a", "b"])
    second.values = relabelled
    cfg = AnalysisConfig()
    a = compute_statistics(first, cfg, ["a", "b"], [("a", "b")])
    b = compute_statistics(second, cfg, ["a", "b"], [("a", "b")])
    assert a.comparisons.to_pylist() == b.comparisons.to_pylist()
    assert a.summary.to_pylist() == b.summary.to_pylist()
