"""The published study's headline comparison: SFT-only vs production, per model family and benchmark metric,
and one estimate pooled across the families.

    pairs = headline_pairs(order, stages, families, ("sft", "production"))   # (family, model_a, model_b)
    table = headline_table(stats.comparisons, pairs, stages)                   # report/headline.csv
    pooled = pooled_table(table, pairs, cfg)                                   # report/headline_pooled.csv

Per family the rows are the study's own paired comparisons (`analysis.summary`: same items, paired bootstrap
CI, McNemar or bootstrap Wald p, Holm-adjusted within the pair's family of tests, TOST equivalence): this
module selects and labels them, it computes no second version of them.

The pooled estimate is stratified by family: per benchmark metric, the inverse-variance weighted mean of the
per-family paired differences, sum(w_f d_f) / sum(w_f) with w_f = 1 / se_f^2 (a fixed-effect meta-analysis;
se_f is the SE the family's own test used), its SE sqrt(1 / sum(w_f)), a normal CI and Wald p, Holm-adjusted
across the pooled benchmark metrics, and TOST against the same margin. The SE treats the families'
differences as independent; they are graded on the same items, so where an item moves both families the
same way they correlate positively and the true SE is larger (up to the weighted mean of the family SEs when
the correlation is 1): read a pooled CI that barely excludes 0 with that in mind. Cochran's Q says whether the families
disagree more than their SEs allow (`heterogeneity_p`); when they do, the pooled number averages unlike
effects and the per-family rows are the finding. A family with several models of a headline stage pools its
first pair in the study's model order.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from scipy import stats as sps

from stagewise.analysis.config import AnalysisConfig
from stagewise.analysis.paired import holm, tost_p, wald_p

POOLING = "inverse-variance weighted mean of the per-family paired differences (fixed effect), normal CI"
HEADLINE_SCHEMA = pa.schema([
    ("family", pa.string()), ("model_a", pa.string()), ("stage_a", pa.string()), ("model_b", pa.string()),
    ("stage_b", pa.string()), ("benchmark", pa.string()), ("metric", pa.string()), ("rate_a", pa.float64()),
    ("rate_b", pa.float64()), ("diff", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()),
    ("se", pa.float64()), ("p_value", pa.float64()), ("p_holm", pa.float64()), ("equivalent", pa.bool_()),
    ("tost_p", pa.float64()), ("margin", pa.float64()), ("test", pa.string()), ("n_items", pa.int64()),
])
POOLED_SCHEMA = pa.schema([
    ("benchmark", pa.string()), ("metric", pa.string()), ("families", pa.string()), ("k", pa.int64()),
    ("diff", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("se", pa.float64()),
    ("p_value", pa.float64()), ("p_holm", pa.float64()), ("equivalent", pa.bool_()), ("tost_p", pa.float64()),
    ("margin", pa.float64()), ("heterogeneity_q", pa.float64()), ("heterogeneity_p", pa.float64()),
    ("n_items", pa.int64()), ("method", pa.string()),
])


def headline_pairs(model_order: list[str], stages: dict[str, str], families: dict[str, str | None],
                   headline: tuple[str, str] | None) -> list[tuple[str | None, str, str]]:
    """(family, model of stage a, model of stage b) for every family that has both stages, in model order."""
    if headline is None:
        return []
    out = []
    for family in dict.fromkeys(families.get(m) for m in model_order):
        mine = [m for m in model_order if families.get(m) == family]
        out += [(family, a, b) for a in mine if stages.get(a) == headline[0]
                for b in mine if stages.get(b) == headline[1]]
    return out


def headline_table(comparisons: pa.Table, pairs: list[tuple[str | None, str, str]],
                   stages: dict[str, str]) -> pa.Table:
    """The comparisons rows of the headline pairs, labelled with family and stages, in family order."""
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for r in comparisons.to_pylist():
        by_pair.setdefault((r["model_a"], r["model_b"]), []).append(r)
    rows = [{**{k: r[k] for k in HEADLINE_SCHEMA.names if k in r}, "family": family or "",
             "stage_a": stages.get(a, ""), "stage_b": stages.get(b, "")}
            for family, a, b in pairs for r in by_pair.get((a, b), [])]
    return pa.Table.from_pylist(rows, schema=HEADLINE_SCHEMA)


def pooled_table(headline: pa.Table, pairs: list[tuple[str | None, str, str]], cfg: AnalysisConfig) -> pa.Table:
    """Per benchmark metric, the families' differences pooled (module docstring); only with two or more families."""
    first = {}
    for family, a, b in pairs:
        first.setdefault(family or "", (a, b))
    if len(first) < 2:
        return POOLED_SCHEMA.empty_table()
    cells: dict[tuple[str, str], list[dict]] = {}
    for r in headline.to_pylist():
        if first.get(r["family"]) == (r["model_a"], r["model_b"]) and r["se"] is not None and r["se"] > 0:
            cells.setdefault((r["benchmark"], r["metric"]), []).append(r)
    z = sps.norm.ppf(1 - (1 - cfg.confidence) / 2)
    rows = []
    for (bench, metric), mine in cells.items():
        d = np.array([r["diff"] for r in mine])
        w = 1 / np.array([r["se"] for r in mine]) ** 2
        est, se = float((w * d).sum() / w.sum()), float(np.sqrt(1 / w.sum()))
        q = float((w * (d - est) ** 2).sum())
        rows.append(dict(benchmark=bench, metric=metric, families=", ".join(r["family"] for r in mine), k=len(mine),
                         diff=est, ci_low=est - z * se, ci_high=est + z * se, se=se,
                         p_value=float(wald_p(np.array(est), np.array(se))),
                         tost_p=float(tost_p(np.array(est), np.array(se), cfg.equivalence_margin)),
                         margin=cfg.equivalence_margin, heterogeneity_q=q,
                         heterogeneity_p=float(sps.chi2.sf(q, len(mine) - 1)) if len(mine) > 1 else float("nan"),
                         n_items=sum(r["n_items"] for r in mine), method=POOLING))
    if not rows:
        return POOLED_SCHEMA.empty_table()
    p_holm = holm(np.array([r["p_value"] for r in rows]), np.zeros(len(rows), np.int64))  # one family: the pooled rows
    alpha = 1 - cfg.confidence
    for r, ph in zip(rows, p_holm):
        r.update(p_holm=float(ph), equivalent=r["tost_p"] < alpha)
    return pa.Table.from_pylist(rows, schema=POOLED_SCHEMA)
