"""Wilson against published values; the cluster bootstrap's coverage in a seeded simulation."""
from __future__ import annotations

import numpy as np
import pytest

from stagewise.analysis.config import AnalysisConfig
from stagewise.analysis.intervals import resample_counts, wilson_interval
from stagewise.analysis.summary import compute_statistics
from tests.analysis.stores import graded_values


def test_wilson_matches_newcombe_1998():
    # Newcombe (1998), Stat Med 17:857, Table II, method 3 (score interval without continuity correction).
    published = {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605), (0, 20): (0.0, 0.1611),
                 (1, 29): (0.0061, 0.1718)}
    k, n = np.array(list(published)).T
    low, high = wilson_interval(k, n, 0.95)
    expected = np.array(list(published.values()))
    np.testing.assert_allclose(low, expected[:, 0], atol=5e-5)
    np.testing.assert_allclose(high, expected[:, 1], atol=5e-5)


def test_wilson_empty_is_nan():
    low, high = wilson_interval(np.array([0]), np.array([0]))
    assert np.isnan(low[0]) and np.isnan(high[0])


def test_resample_counts_draw_every_group_total_times():
    chunks = list(resample_counts(np.random.default_rng(0), n_groups=7, resamples=23))
    counts = np.concatenate(chunks)
    assert counts.shape == (23, 7)
    assert (counts.sum(axis=1) == 7).all()


def _clustered_replicates(rng, reps: int, groups: int, per_group: int, samples: int, shift: float = 0.0):
    """`reps` independent datasets; a group's items share p ~ 0.9 * Beta(2, 5); several samples per item."""
    n_items = groups * per_group
    p_group = 0.9 * rng.beta(2, 5, size=(reps, groups))
    p_row = np.repeat(np.repeat(p_group, per_group, axis=1), samples, axis=1).ravel()
    u = rng.random(len(p_row))
    item = np.tile(np.repeat(np.arange(n_items), samples), reps)
    model = np.repeat(np.arange(reps), n_items * samples)
    return model, item, item // per_group, (u < p_row).astype(float), (u < p_row + shift).astype(float)


def test_cluster_bootstrap_covers_95_percent_and_wilson_on_rows_would_not():
    rng = np.random.default_rng(20240601)
    reps, truth = 300, 0.9 * 2 / 7
    model, item, group, y, _ = _clustered_replicates(rng, reps, groups=80, per_group=3, samples=3)
    graded = graded_values(model, item, y, group=group, sample_idx=np.tile(np.arange(3), len(y) // 3))
    order = [f"m{i}" for i in range(reps)]
    summary = compute_statistics(graded, AnalysisConfig(seed=3), order, []).summary.to_pydict()
    assert set(summary["method"]) == {"cluster_bootstrap"}
    covered = np.mean([lo <= truth <= hi for lo, hi in zip(summary["ci_low"], summary["ci_high"])])
    assert 0.915 <= covered <= 0.98, covered  # 1,000 replicates of this design give 0.938
    # The same data treated as independent rows: Wilson's interval is too narrow under clustering.
    k, n = np.array(summary["rate"]) * np.array(summary["n"]), np.array(summary["n"])
    low, high = wilson_interval(k, n)
    naive = np.mean((low <= truth) & (truth <= high))
    assert naive < covered - 0.06, (naive, covered)  # 0.844 with 1,000 replicates


def test_paired_bootstrap_covers_the_true_difference():
    rng = np.random.default_rng(11)
    reps, shift = 200, 0.05  # p + 0.05 stays below 1, so the true difference is exactly 0.05
    model, item, group, y_a, y_b = _clustered_replicates(rng, reps, groups=60, per_group=2, samples=2, shift=shift)
    graded = graded_values(np.concatenate([model, model + reps]), np.concatenate([item, item]),
                           np.concatenate([y_a, y_b]), group=np.concatenate([group, group]),
                           sample_idx=np.tile(np.arange(2), len(y_a)))
    order = [f"m{i}" for i in range(2 * reps)]
    pairs = [(f"m{i}", f"m{i + reps}") for i in range(reps)]
    comp = compute_statistics(graded, AnalysisConfig(seed=5), order, pairs).comparisons.to_pydict()
    assert len(comp["diff"]) == reps and set(comp["ci_method"]) == {"paired_bootstrap"}
    covered = np.mean([lo <= shift <= hi for lo, hi in zip(comp["ci_low"], comp["ci_high"])])
    assert 0.91 <= covered <= 0.985, covered


@pytest.mark.parametrize("values,method", [([1.0] * 6, "wilson_clusters"), ([0.0, 1.0] * 3, "cluster_bootstrap")])
def test_degenerate_bootstrap_falls_back_to_wilson_on_groups(values, method):
    item = np.arange(6)
    graded = graded_values(np.zeros(6, int), item, np.array(values), group=item // 3)  # 2 groups of 3 items
    row = compute_statistics(graded, AnalysisConfig(), ["m0"], []).summary.to_pylist()[0]
    assert row["method"] == method
    if method == "wilson_clusters":  # all 6 refused, but only 2 independent groups: a wide interval
        low, high = wilson_interval(np.array([2]), np.array([2]))
        assert row["ci_low"] == pytest.approx(low[0]) and row["ci_high"] == pytest.approx(high[0])
