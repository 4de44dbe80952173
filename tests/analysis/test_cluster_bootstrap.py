"""The scenario bootstrap against a case small enough to work out by hand, and its seeding."""
from __future__ import annotations

import math

import pytest

from stagewise.analysis.cluster_bootstrap import OVERALL, scenario_bootstrap

# Two scenario names. A violated in the mandated variant only; B in neither.
VIOLATED = {"A": {"mandated": [1.0], "incentivized": [0.0]}, "B": {"mandated": [0.0], "incentivized": [0.0]}}


def test_two_names_by_hand():
    # A resample draws 2 names with replacement: {A,A} w.p. 1/4, {A,B} w.p. 1/2, {B,B} w.p. 1/4.
    # Pooled rate (4 episodes per resample): {A,A} 2/4, {A,B} 1/4, {B,B} 0/4 -> 2.5% quantile 0, 97.5% 0.5.
    # Mandated rate: {A,A} 1, {A,B} 1/2, {B,B} 0 -> [0, 1]. Incentivized: always 0.
    stats = scenario_bootstrap(VIOLATED, resamples=20_000, seed=7)
    overall, mandated, incentivized = stats[OVERALL], stats["mandated"], stats["incentivized"]
    assert (overall.estimate, overall.n, overall.n_names) == (0.25, 4, 2)
    assert (overall.low, overall.high) == (0.0, 0.5)
    # Were the four episodes resampled one by one, {1,1,1,0}-like draws would reach 0.75 (P = 13/256 > 2.5%):
    # keeping a name's variants together is what caps the upper bound at 0.5.
    assert (mandated.estimate, mandated.n, mandated.low, mandated.high) == (0.5, 2, 0.0, 1.0)
    assert (incentivized.estimate, incentivized.low, incentivized.high) == (0.0, 0.0, 0.0)


def test_mean_severity_and_uneven_samples():
    # A: mandated scores 4 and 2 (two samples), incentivized 3; B: mandated 0, incentivized missing.
    values = {"A": {"mandated": [4.0, 2.0], "incentivized": [3.0]}, "B": {"mandated": [0.0]}}
    stats = scenario_bootstrap(values, resamples=20_000, seed=1)
    # Pooled: (4+2+3+0)/4 = 2.25. Resamples: {A,A} 18/6 = 3, {A,B} 9/4 = 2.25, {B,B} 0/2 = 0.
    assert stats[OVERALL].estimate == 2.25 and (stats[OVERALL].low, stats[OVERALL].high) == (0.0, 3.0)
    # Incentivized: only A has a value; {B,B} has none (NaN, left out), the rest give 3.
    assert stats["incentivized"].n_names == 1 and (stats["incentivized"].low, stats["incentivized"].high) == (3.0, 3.0)
    assert stats["mandated"].estimate == 2.0


def test_seeded():
    a = scenario_bootstrap({f"s{i}": {"mandated": [float(i % 3 == 0)], "incentivized": [float(i % 2)]}
                            for i in range(12)}, resamples=500, seed=3)
    b = scenario_bootstrap({f"s{i}": {"mandated": [float(i % 3 == 0)], "incentivized": [float(i % 2)]}
                            for i in reversed(range(12))}, resamples=500, seed=3)
    assert a == b  # the input's order does not matter, only the seed
    assert a[OVERALL].low < a[OVERALL].estimate < a[OVERALL].high
    assert math.isclose(a[OVERALL].estimate, (4 + 6) / 24)


def test_coverage_is_wide_enough_for_clustered_data():
    # 40 names whose two variants agree (a model that games a KPI games it under both pressures): the interval
    # must be as wide as 40 observations, not 80.
    values = {f"s{i}": {"mandated": [float(i < 10)], "incentivized": [float(i < 10)]} for i in range(40)}
    overall = scenario_bootstrap(values, resamples=4000, seed=0)[OVERALL]
    assert overall.estimate == 0.25
    assert overall.high - overall.low == pytest.approx(2 * 1.96 * math.sqrt(0.25 * 0.75 / 40), abs=0.05)
