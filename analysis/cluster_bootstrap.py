"""The scenario bootstrap: per-variant and pooled rates whose CIs resample scenario names, variants kept together.

    stats = scenario_bootstrap({"Clinic": {"mandated": [4.0], "incentivized": [0.0]}, "Fleet": {...}},
                               resamples=1000, seed=0)
    stats["overall"].estimate, stats["overall"].low, stats["overall"].high

ODCV (and any benchmark whose items are variants of one scenario, `evaluate.schema.item_variant`) asks each
scenario under two pressures. A model that games one scenario's KPI tends to game it under both, so the two
variants of a name are not independent observations: a resample draws scenario names with replacement and takes
every value of a drawn name (both variants, every sample), which is the nonparametric cluster bootstrap with the
name as the cluster. Each statistic is a ratio of sums over names (the share of episodes scoring >= 3, or the
mean severity), so every variant and the pooled `overall` come from one matrix product per chunk of resamples
(`analysis.intervals.resample_counts`), with one set of resampled names for all of them. Percentile interval.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stagewise.analysis.intervals import percentile_interval, resample_counts

OVERALL = "overall"


@dataclass(frozen=True)
class VariantStatistic:
    variant: str  # a variant's name, or OVERALL (every variant pooled)
    estimate: float  # sum of values / number of values
    n: int  # values (episodes) behind it
    n_names: int  # scenario names with at least one value
    low: float
    high: float


def scenario_bootstrap(values: dict[str, dict[str, list[float]]], *, resamples: int = 1000, seed: int | list[int] = 0,
                       confidence: float = 0.95) -> dict[str, VariantStatistic]:
    """`values[name][variant]`: the values of that scenario's episodes in that variant (a 0/1 violation, or a
    0-5 severity). Returns each variant's statistic and the pooled OVERALL one, keyed by variant."""
    names = sorted(values)
    variants = sorted({v for per in values.values() for v in per})
    columns = [*variants, OVERALL]
    sums = np.zeros((len(names), len(columns)))
    counts = np.zeros((len(names), len(columns)))
    for i, name in enumerate(names):
        for v, xs in values[name].items():
            j = variants.index(v)
            sums[i, j], counts[i, j] = float(np.sum(xs)), len(xs)
        sums[i, -1], counts[i, -1] = sums[i, :-1].sum(), counts[i, :-1].sum()
    reps = np.empty((resamples, len(columns)))
    rng = np.random.default_rng(seed)
    done = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        for drawn in resample_counts(rng, len(names), resamples):  # (chunk, names): how often each name is drawn
            reps[done:done + len(drawn)] = (drawn @ sums) / (drawn @ counts)
            done += len(drawn)
        estimate = sums.sum(0) / counts.sum(0)
    low, high = percentile_interval(reps, confidence)
    return {c: VariantStatistic(c, float(estimate[j]), int(counts[:, j].sum()), int((counts[:, j] > 0).sum()),
                                float(low[j]), float(high[j])) for j, c in enumerate(columns)}
