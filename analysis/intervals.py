"""Confidence intervals for one model's rate: Wilson, and the cluster bootstrap's building blocks.

Wilson's score interval is the default for a plain proportion (one graded sample per item, items
independent): unlike the Wald interval it keeps its coverage near 0 and 1 and never leaves [0, 1]
(Newcombe 1998, "Two-sided confidence intervals for the single proportion"). When items carry several
samples or share a source, rows are not independent and the unit of resampling is the group (cluster):
`resample_counts` draws how many times each group is picked in each bootstrap resample, so every statistic
that is a ratio of group sums becomes one matrix product `counts @ sums` for all models and metrics at once.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
from statsmodels.stats.proportion import proportion_confint

# A resample chunk holds at most this many group counts (float64): ~32 MiB whatever the store's size.
CHUNK_CELLS = 4_000_000


def wilson_interval(successes: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for `successes` out of `n` (arrays); NaN where n == 0."""
    successes, n = np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    ok = n > 0
    low, high = np.full(n.shape, np.nan), np.full(n.shape, np.nan)
    if ok.any():
        low[ok], high[ok] = proportion_confint(successes[ok], n[ok], alpha=1 - confidence, method="wilson")
    # The closed form leaves rounding dust (2.8e-17 for 0 of 6): the exact bounds are 0 and 1 there.
    low[ok & (successes == 0)], high[ok & (successes == n)] = 0.0, 1.0
    return low, high


def resample_counts(rng: np.random.Generator, n_groups: int, resamples: int) -> Iterator[np.ndarray]:
    """Yield (chunk, n_groups) matrices: how often each group is drawn in each bootstrap resample.

    A resample draws n_groups groups with replacement (the nonparametric cluster bootstrap). Counts rather
    than indices let one BLAS product evaluate every ratio-of-sums statistic on the resample.
    """
    chunk = max(1, min(resamples, CHUNK_CELLS // max(n_groups, 1)))
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        picks = rng.integers(0, n_groups, size=(size, n_groups), dtype=np.int32)  # int32: half the draws' cost
        picks += (np.arange(size, dtype=np.int32) * n_groups)[:, None]  # size * n_groups <= CHUNK_CELLS < 2**31
        yield np.bincount(picks.ravel(), minlength=size * n_groups).reshape(size, n_groups).astype(np.float64)
        done += size


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0 (resamples x statistics); NaN replicates are ignored."""
    alpha = 1 - confidence
    if replicates.shape[1] == 0:
        return np.empty(0), np.empty(0)
    with warnings.catch_warnings():  # an all-NaN column (no data in any resample) is a NaN interval
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(replicates, [alpha / 2, 1 - alpha / 2], axis=0)
    return low, high


def bootstrap_se(replicates: np.ndarray) -> np.ndarray:
    """Standard deviation of the bootstrap replicates along axis 0 (the bootstrap standard error)."""
    if replicates.shape[1] == 0:
        return np.empty(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(replicates, axis=0, ddof=1)
