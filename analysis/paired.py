"""Tests for two stages graded on the same items: McNemar, the bootstrap Wald test, TOST, Holm, MDD.

All functions take arrays (one entry per model pair x benchmark x metric) and are vectorised.

- Difference: exact McNemar when the outcome is binary with one sample per independent item (only the
  discordant pairs carry information: under H0 each is equally likely to go either way, a Binomial(b+c,
  1/2)); otherwise a Wald z-test with the paired cluster-bootstrap standard error.
- "Similar" is tested, not eyeballed: TOST (two one-sided tests, Schuirmann 1987) rejects
  |diff| >= margin when both one-sided tests reject at alpha; that is the (1 - 2 alpha) interval lying
  inside (-margin, margin). Each verdict is a level-alpha test on its own, and the claim "equivalent on
  every metric" is an intersection-union test that needs no multiplicity correction (Berger 1982).
- When no group differs between the two models, every bootstrap resample gives the same difference and
  the bootstrap SE is 0: it would call 5 agreeing items "equivalent". Then exact bounds are used instead.
  For metrics in [0, 1], |diff| is at most the probability that a group (the independent unit) differs;
  with 0 of G groups differing, that probability is below 1 - (alpha/2)^(1/G) (Clopper-Pearson), which
  is the CI, and TOST's p is P(no discordant group | rate = margin) = (1 - margin)^G. With 20 agreeing
  items the CI is +-0.17, so they are not "equivalent" at a 0.10 margin; with 60 they are. The test of
  a difference then gives p = 1 (or, if every group moved by the same nonzero amount, the sign test's
  2 * 2^-G).
- MDD: the smallest true difference a two-sided level-alpha test detects with the given power,
  (z_{1-alpha/2} + z_power) * SE, with the SE in hand.
"""
from __future__ import annotations

import numpy as np
from scipy import stats


def mcnemar_exact_p(a_only: np.ndarray, b_only: np.ndarray) -> np.ndarray:
    """Two-sided exact McNemar p-value from the discordant counts (as statsmodels' `mcnemar(exact=True)`)."""
    a_only, b_only = np.asarray(a_only, dtype=np.float64), np.asarray(b_only, dtype=np.float64)
    n = a_only + b_only
    p = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(a_only, b_only), n, 0.5))
    return np.where(n > 0, p, 1.0)


def no_discordance_bound(n_groups: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Two-sided exact upper bound on P(a group differs) after seeing none differ in n_groups."""
    n = np.maximum(np.asarray(n_groups, dtype=np.float64), 1)
    return 1 - ((1 - confidence) / 2) ** (1 / n)


def no_discordance_tost_p(n_groups: np.ndarray, margin: float) -> np.ndarray:
    """TOST p-value when none of n_groups differs: (1 - margin)^n (exact, conservative)."""
    return (1 - margin) ** np.asarray(n_groups, dtype=np.float64)


def wald_p(diff: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Two-sided p-value of H0: diff = 0 with a normal reference (se > 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2 * stats.norm.sf(np.abs(diff) / se)


def tost_p(diff: np.ndarray, se: np.ndarray, margin: float) -> np.ndarray:
    """TOST p-value of H0: |diff| >= margin (small p: equivalent within +-margin)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        above_lower = stats.norm.sf((diff + margin) / se)  # H0: diff <= -margin
        below_upper = stats.norm.sf((margin - diff) / se)  # H0: diff >= +margin
    return np.maximum(above_lower, below_upper)


def holm(p: np.ndarray, families: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values within each family; NaN p-values are left out and stay NaN.

    Vectorised over families (statsmodels' `multipletests` gives the same numbers, one family per call):
    sort by (family, p); the j-th smallest of m gets min(1, (m - j + 1) p), then a running max within the
    family.
    """
    p = np.asarray(p, dtype=np.float64)
    families = np.asarray(families)
    adjusted = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok) == 0:
        return adjusted
    _, fam = np.unique(families[ok], return_inverse=True)
    order = np.lexsort((p[ok], fam))
    fam_sorted = fam[order]
    start = np.searchsorted(fam_sorted, fam_sorted, "left")
    size = np.searchsorted(fam_sorted, fam_sorted, "right") - start
    rank = np.arange(len(order)) - start
    scaled = np.minimum(1.0, (size - rank) * p[ok][order])
    bounds = np.searchsorted(fam_sorted, np.arange(fam_sorted[-1] + 2))
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # one running max per family (model pair), not per row
        scaled[lo:hi] = np.maximum.accumulate(scaled[lo:hi])
    adjusted[ok[order]] = scaled
    return adjusted


def min_detectable_difference(se: np.ndarray, confidence: float = 0.95, power: float = 0.80) -> np.ndarray:
    z = stats.norm.ppf(1 - (1 - confidence) / 2) + stats.norm.ppf(power)
    return z * np.asarray(se, dtype=np.float64)
