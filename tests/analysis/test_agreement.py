"""Agreement statistics (analysis/agreement.py) against hand-computed cases, statsmodels' Cohen's kappa, the
published worked example of Krippendorff (2011) and an independent pair-by-pair alpha written here."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa

from stagewise.analysis.agreement import (calibration_summary, cohen_kappa, confusion_matrix, kappa_from_table,
                                          krippendorff_alpha, score_agreement)

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 observers x 12 units, values 1-5,
# missing cells; the paper gives alpha = 0.743 (nominal) and 0.849 (interval).
KRIPPENDORFF_2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]).T


def test_kappa_hand_computed():
    # 50 items: p_o = 35/50 = 0.7; marginals 25/25 and 30/20 -> p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.2/0.5.
    a = ["r"] * 25 + ["c"] * 25
    b = ["r"] * 20 + ["c"] * 5 + ["r"] * 10 + ["c"] * 15
    k = cohen_kappa(a, b, ["r", "c"])
    assert k.kappa == pytest.approx(0.4)
    assert k.n == 50
    assert confusion_matrix(a, b, ["r", "c"]).tolist() == [[20, 5], [10, 15]]
    assert k.ci_low < 0.4 < k.ci_high
    assert "Fleiss" in k.method


@pytest.mark.parametrize("seed", range(5))
def test_kappa_and_se_match_statsmodels(seed):
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 30, size=(3, 3)) + np.diag(rng.integers(10, 60, size=3))
    mine = kappa_from_table(table)
    ref = cohens_kappa(table)
    assert mine.kappa == pytest.approx(ref.kappa, abs=1e-12)
    assert mine.se == pytest.approx(ref.std_kappa, abs=1e-12)
    assert (mine.ci_low, mine.ci_high) == pytest.approx((max(-1, ref.kappa_low), min(1, ref.kappa_upp)), abs=1e-12)


def test_kappa_of_perfect_and_of_one_class():
    assert cohen_kappa(list("aabb"), list("aabb")).kappa == pytest.approx(1.0)
    assert math.isnan(cohen_kappa(list("aaaa"), list("aaaa")).kappa)  # chance explains everything: undefined


def naive_alpha(data: np.ndarray, level: str) -> float:
    """Pair by pair, as Krippendorff defines it: D_o over all pairable value pairs within units (each weighted
    1/(m_u - 1)), D_e over all pairs of pairable values across the whole table."""
    units = [[v for v in row if not np.isnan(v)] for row in data]
    units = [u for u in units if len(u) >= 2]
    pooled = [v for u in units for v in u]
    n = len(pooled)
    values = sorted(set(pooled))
    freq = {v: pooled.count(v) for v in values}

    def delta(c: float, k: float) -> float:
        if level == "nominal":
            return float(c != k)
        if level == "interval":
            return (c - k) ** 2
        lo, hi = min(c, k), max(c, k)
        between = sum(freq[g] for g in values if lo <= g <= hi)
        return (between - (freq[c] + freq[k]) / 2) ** 2

    d_o = sum(delta(u[i], u[j]) / (len(u) - 1) for u in units for i, j in itertools.permutations(range(len(u)), 2)) / n
    d_e = sum(delta(pooled[i], pooled[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    return 1 - d_o / d_e


def test_alpha_published_worked_example():
    assert krippendorff_alpha(KRIPPENDORFF_2011, "nominal", resamples=100).alpha == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(KRIPPENDORFF_2011, "interval", resamples=100).alpha == pytest.approx(0.849, abs=5e-4)
    a = krippendorff_alpha(KRIPPENDORFF_2011, "ordinal", resamples=100)
    assert a.alpha == pytest.approx(naive_alpha(KRIPPENDORFF_2011, "ordinal"), abs=1e-12)
    assert a.n_units == 11 and a.n_values == 40  # unit 12 has one value: nothing to pair it with


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
@pytest.mark.parametrize("seed", range(3))
def test_alpha_matches_naive_implementation(level, seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 6, size=25)
    data = np.stack([np.clip(truth + rng.integers(-1, 2, size=25), 0, 5) for _ in range(3)], axis=1).astype(float)
    data[rng.random(data.shape) < 0.15] = np.nan
    assert krippendorff_alpha(data, level, resamples=50).alpha == pytest.approx(naive_alpha(data, level), abs=1e-12)


def test_alpha_bootstrap_interval_is_seeded_and_covers_estimate():
    a1 = krippendorff_alpha(KRIPPENDORFF_2011, "ordinal", resamples=500, seed=3)
    a2 = krippendorff_alpha(KRIPPENDORFF_2011, "ordinal", resamples=500, seed=3)
    assert (a1.ci_low, a1.ci_high) == (a2.ci_low, a2.ci_high)
    assert a1.ci_low <= a1.alpha <= a1.ci_high
    assert "bootstrap" in a1.method


def test_score_agreement_hand_computed():
    a = [0, 1, 3, 5, 4, None, 2, 3]
    b = [0, 2, 3, 2, 4, 1, 2, None]
    s = score_agreement(a, b, threshold=3, resamples=200)
    # 6 cells both scored: (0,0) (1,2) (3,3) (5,2) (4,4) (2,2)
    assert s["n"] == 6 and s["n_missing"] == 2
    assert s["exact"]["value"] == pytest.approx(4 / 6)
    assert s["within_one"]["value"] == pytest.approx(5 / 6)
    # decisions (>= 3): a F F T T T F ; b F F T F T F -> 5 of 6 agree
    assert s["decision"]["value"] == pytest.approx(5 / 6)
    assert s["exact"]["method"] == "wilson" and s["exact"]["ci_low"] < 4 / 6 < s["exact"]["ci_high"]
    pairs = np.array([[0, 0], [1, 2], [3, 3], [5, 2], [4, 4], [2, 2]], float)
    assert s["alpha"]["alpha"] == pytest.approx(naive_alpha(pairs, "ordinal"), abs=1e-12)


def test_calibration_summary_classes_binary_and_categories():
    labels = ["full_compliance", "full_refusal", "partial_refusal"]
    ref = ["full_compliance"] * 4 + ["full_refusal"] * 3 + ["partial_refusal"] * 2
    pred = ["full_compliance", "full_compliance", "full_compliance", "full_refusal",
            "full_refusal", "full_refusal", "partial_refusal", "full_refusal", None]
    cats = ["x", "x", "y", "y", "x", "y", "y", "x", "y"]
    s = calibration_summary(ref, pred, labels=labels, binary=lambda c: c != "full_compliance", categories=cats)
    assert s["n"] == 8  # the unscored row is left out
    assert s["accuracy"] == pytest.approx(5 / 8)
    assert s["confusion"] == [[3, 1, 0], [0, 2, 1], [0, 1, 0]]
    # binary: refusals (full or partial) 4 of 4 found, one compliance called a refusal
    assert s["binary_accuracy"] == pytest.approx(7 / 8)
    assert s["binary_confusion"] == [[4, 0], [1, 3]]
    assert s["by_category"]["x"]["n"] == 4 and s["by_category"]["x"]["binary_accuracy"] == pytest.approx(1.0)
    assert s["kappa_ci"][0] < s["kappa"] < s["kappa_ci"][1]
