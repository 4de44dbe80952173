"""Agreement between two raters (an autorater and reference labels, or two judges): the numbers that say how far a
grader can be trusted.

    k = cohen_kappa(reference, predicted)              # Kappa(kappa, ci_low, ci_high, se, n, method)
    confusion_matrix(reference, predicted, labels)     # rows: reference, columns: predicted
    calibration_summary(reference, predicted, categories, binary=is_refusal)   # accuracy, kappa, confusion, ...
    krippendorff_alpha(table, level="ordinal")         # units x raters, NaN = no value
    score_agreement(a, b, threshold=3)                 # exact / within one point / same decision (>= threshold)

Methods, as the outputs name them:
- Cohen's kappa's 95% CI is analytic: kappa +- z * SE with the large-sample SE of Fleiss, Cohen & Everitt (1969)
  (statsmodels' `cohens_kappa(...).std_kappa` is the same number), clipped to [-1, 1]. With n in the tens the
  normal approximation is rough; the n is printed beside it.
- Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"): the coincidence-matrix
  form, nominal / ordinal / interval distances, any number of raters, missing values allowed. Its 95% CI is a
  percentile bootstrap over units (the unit, an item, is what was sampled), `resamples` draws, seeded.
- Proportions (accuracy, exact / within-one / decision agreement) ship with n and a Wilson interval.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from stagewise.analysis.intervals import wilson_interval
from stagewise.core.errors import StagewiseError

KAPPA_METHOD = "analytic SE (Fleiss, Cohen & Everitt 1969), normal 95% CI"
ALPHA_METHOD = "percentile bootstrap over units"
RATE_METHOD = "wilson"


@dataclass(frozen=True)
class Rate:
    """A proportion with its n, interval and method."""

    value: float
    n: int
    ci_low: float
    ci_high: float
    method: str = RATE_METHOD

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Kappa:
    kappa: float
    ci_low: float
    ci_high: float
    se: float
    n: int
    method: str = KAPPA_METHOD

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Alpha:
    alpha: float
    ci_low: float
    ci_high: float
    n_units: int  # units with at least two values (the pairable ones)
    n_values: int  # pairable values
    level: str
    method: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rate(successes: int, n: int, confidence: float = 0.95) -> Rate:
    low, high = wilson_interval(np.array([successes]), np.array([n]), confidence)
    return Rate(successes / n if n else float("nan"), int(n), float(low[0]), float(high[0]))


# -- two raters, categories ---------------------------------------------------------------------------------


def confusion_matrix(a: Sequence[Any], b: Sequence[Any], labels: Sequence[Any] | None = None) -> np.ndarray:
    """Counts: row = a's class, column = b's class, in `labels` order (default: sorted union)."""
    if len(a) != len(b):
        raise ValueError(f"two raters with {len(a)} and {len(b)} ratings")
    labels = list(labels) if labels is not None else sorted(set(a) | set(b), key=str)
    index = {lab: i for i, lab in enumerate(labels)}
    out = np.zeros((len(labels), len(labels)), np.int64)
    for x, y in zip(a, b):
        out[index[x], index[y]] += 1
    return out


def kappa_from_table(table: np.ndarray, confidence: float = 0.95) -> Kappa:
    """Cohen's kappa of a square confusion table with the large-sample SE of Fleiss, Cohen & Everitt (1969)."""
    t = np.asarray(table, np.float64)
    n = t.sum()
    if n == 0:
        return Kappa(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    p = t / n
    rows, cols = p.sum(1), p.sum(0)
    p_o, p_e = np.trace(p), float(rows @ cols)
    if p_e >= 1:  # one class only, in both raters: agreement is perfect but chance explains all of it
        return Kappa(float("nan"), float("nan"), float("nan"), float("nan"), int(n))
    kappa = (p_o - p_e) / (1 - p_e)
    diag = np.diag(p)
    a = float((diag * (1 - (rows + cols) * (1 - kappa)) ** 2).sum())
    off = p * (cols[:, None] + rows[None, :]) ** 2  # p_ij (p_.i + p_j.)^2
    b = float((1 - kappa) ** 2 * (off.sum() - np.trace(off)))
    c = float((kappa - p_e * (1 - kappa)) ** 2)
    se = float(np.sqrt(max(a + b - c, 0.0) / (n * (1 - p_e) ** 2)))
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    return Kappa(float(kappa), float(max(-1.0, kappa - z * se)), float(min(1.0, kappa + z * se)), se, int(n))


def cohen_kappa(a: Sequence[Any], b: Sequence[Any], labels: Sequence[Any] | None = None,
                confidence: float = 0.95) -> Kappa:
    return kappa_from_table(confusion_matrix(a, b, labels), confidence)


def calibration_summary(reference: Sequence[str], predicted: Sequence[str], *, labels: Sequence[str],
                        binary: Callable[[str], bool], categories: Sequence[str] | None = None,
                        confidence: float = 0.95) -> dict[str, Any]:
    """Agreement of predicted with reference labels, on the classes themselves and collapsed to the binary
    decision `binary(label)` (e.g. refusal, full or partial, vs compliance); per category too when given.

    Rows whose predicted label is not one of `labels` (e.g. an unscored grade) are not counted here; the
    caller reports them. Keys: n, accuracy (+ CI), kappa (+ CI), confusion, binary_* the same on the decision,
    by_category.
    """
    ref, pred = list(reference), list(predicted)
    cats = list(categories) if categories is not None else None
    for i, lab in enumerate(ref):
        if lab not in labels:
            raise StagewiseError(f"reference label {lab!r} (row {i + 1}) is not one of {', '.join(labels)}")
    keep = [i for i, p in enumerate(pred) if p in labels]
    ref, pred = [ref[i] for i in keep], [pred[i] for i in keep]
    out = _agreement(ref, pred, list(labels), binary, confidence)
    if cats is not None:
        cats = [cats[i] for i in keep]
        out["by_category"] = {}
        for cat in sorted(set(cats)):
            mine = [i for i, c in enumerate(cats) if c == cat]
            part = _agreement([ref[i] for i in mine], [pred[i] for i in mine], list(labels), binary, confidence)
            out["by_category"][cat] = {k: part[k] for k in ("n", "accuracy", "binary_accuracy", "binary_confusion")}
    return out


def _agreement(ref: list[str], pred: list[str], labels: list[str], binary: Callable[[str], bool],
               confidence: float) -> dict[str, Any]:
    n = len(ref)
    conf = confusion_matrix(ref, pred, labels)
    bref, bpred = [binary(x) for x in ref], [binary(x) for x in pred]
    bconf = confusion_matrix(bref, bpred, [True, False])
    acc, bacc = rate(int(np.trace(conf)), n, confidence), rate(int(np.trace(bconf)), n, confidence)
    k, bk = kappa_from_table(conf, confidence), kappa_from_table(bconf, confidence)
    return {
        "n": n, "labels": labels,
        "accuracy": acc.value, "accuracy_ci": [acc.ci_low, acc.ci_high],
        "kappa": k.kappa, "kappa_ci": [k.ci_low, k.ci_high], "kappa_se": k.se,
        "confusion": conf.tolist(),
        "binary_accuracy": bacc.value, "binary_accuracy_ci": [bacc.ci_low, bacc.ci_high],
        "binary_kappa": bk.kappa, "binary_kappa_ci": [bk.ci_low, bk.ci_high],
        "binary_confusion": bconf.tolist(),  # rows: reference [positive, negative]; columns: predicted
        # Of the reference positives (e.g. refusals), the share the grader found; of its positives, the share right.
        "binary_recall": _share(bconf[0, 0], bconf[0].sum()), "binary_precision": _share(bconf[0, 0], bconf[:, 0].sum()),
        "methods": {"accuracy": RATE_METHOD, "kappa": KAPPA_METHOD},
    }


def _share(x: int, n: int) -> float:
    return float(x / n) if n else float("nan")


# -- Krippendorff's alpha ----------------------------------------------------------------------------------

Level = Literal["nominal", "ordinal", "interval"]


def _distances(values: np.ndarray, marginals: np.ndarray, level: Level) -> np.ndarray:
    """delta^2 between every pair of values (Krippendorff 2011, section on difference functions)."""
    if level == "nominal":
        return 1.0 - np.eye(len(values))
    if level == "interval":
        return (values[:, None] - values[None, :]) ** 2
    if level == "ordinal":
        # (sum of marginals from c to k, minus half of each end's)^2, over ranks of the values present.
        cum = np.concatenate([[0.0], np.cumsum(marginals)])
        lo = np.minimum.outer(np.arange(len(values)), np.arange(len(values)))
        hi = np.maximum.outer(np.arange(len(values)), np.arange(len(values)))
        span = cum[hi + 1] - cum[lo]
        return (span - (marginals[lo] + marginals[hi]) / 2) ** 2
    raise ValueError(f"level {level!r}: expected nominal, ordinal or interval")


def _alpha(counts: np.ndarray, weights: np.ndarray, values: np.ndarray, level: Level) -> float:
    """Alpha from per-unit value counts (units x values), each unit weighted (a bootstrap's draw counts)."""
    m = counts.sum(1)
    w = weights / np.where(m > 1, m - 1, np.inf)  # units with one value pair with nothing
    coincidence = (counts * w[:, None]).T @ counts - np.diag(w @ counts)
    marginals = coincidence.sum(1)
    n = marginals.sum()
    if n <= 1:
        return float("nan")
    delta = _distances(values, marginals, level)
    observed = (coincidence * delta).sum()
    expected = (np.outer(marginals, marginals) * delta).sum() / (n - 1)
    return float(1 - observed / expected) if expected > 0 else float("nan")


def krippendorff_alpha(table: Any, level: Level = "ordinal", *, confidence: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> Alpha:
    """Krippendorff's alpha of a units x raters table (NaN/None: no value), with a bootstrap CI over units."""
    data = np.asarray(table, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError("krippendorff_alpha: expected a units x raters table")
    values = np.unique(data[~np.isnan(data)])
    counts = np.stack([(data == v).sum(1) for v in values], axis=1).astype(np.float64) if len(values) else \
        np.zeros((len(data), 0))
    pairable = counts.sum(1) >= 2
    counts = counts[pairable]
    units = len(counts)
    estimate = _alpha(counts, np.ones(units), values, level) if units else float("nan")
    reps = []
    if units:
        rng = np.random.default_rng(seed)
        for _ in range(resamples):
            draw = np.bincount(rng.integers(0, units, units), minlength=units).astype(np.float64)
            reps.append(_alpha(counts, draw, values, level))
    reps_arr = np.array(reps)
    reps_arr = reps_arr[~np.isnan(reps_arr)]
    if len(reps_arr):
        low, high = np.quantile(reps_arr, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
    else:
        low = high = float("nan")
    return Alpha(estimate, float(low), float(high), units, int(counts.sum()), level,
                 f"{ALPHA_METHOD} ({resamples} resamples, seed {seed})")


# -- two judges on a numeric scale -------------------------------------------------------------------------


def score_agreement(a: Sequence[float | None], b: Sequence[float | None], *, threshold: float = 3,
                    confidence: float = 0.95, level: Level = "ordinal", resamples: int = 2000,
                    seed: int = 0) -> dict[str, Any]:
    """Two judges' scores of the same cells: exact agreement, within one point, the same decision
    (score >= threshold on both sides or on neither), the decision's kappa, and Krippendorff's alpha.
    Cells either judge left empty (None/NaN) are not counted (alpha also uses them only where both scored)."""
    if len(a) != len(b):
        raise ValueError(f"two judges with {len(a)} and {len(b)} scores")
    x = np.array([np.nan if v is None else v for v in a], np.float64)
    y = np.array([np.nan if v is None else v for v in b], np.float64)
    both = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[both], y[both]
    n = int(both.sum())
    dx, dy = x >= threshold, y >= threshold
    alpha = krippendorff_alpha(np.stack([x, y], axis=1), level, confidence=confidence, resamples=resamples, seed=seed)
    return {
        "n": n, "n_missing": int((~both).sum()), "threshold": threshold,
        "exact": rate(int((x == y).sum()), n, confidence).as_dict(),
        "within_one": rate(int((np.abs(x - y) <= 1).sum()), n, confidence).as_dict(),
        "decision": rate(int((dx == dy).sum()), n, confidence).as_dict(),
        "decision_kappa": cohen_kappa(list(dx), list(dy), [True, False], confidence).as_dict(),
        "decision_rates": {"a": float(dx.mean()) if n else float("nan"), "b": float(dy.mean()) if n else float("nan")},
        "alpha": alpha.as_dict(),
    }
