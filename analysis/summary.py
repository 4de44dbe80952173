"""Rates with CIs per model x benchmark x metric, and paired stage-vs-stage comparisons, in one pass.

    graded = load_graded_values("runs/demo/results")
    stats = compute_statistics(graded, AnalysisConfig(), model_order=["base", "sft", "production"],
                               pairs=[("sft", "production")])
    stats.summary      # SUMMARY_SCHEMA rows
    stats.comparisons  # COMPARISON_SCHEMA rows

Per model x benchmark x metric (`method` column):
- `wilson`: a 0/1 metric with one sample per item and every item its own group.
- `cluster_bootstrap`: a 0/1 metric whose items carry several samples or share a source (`group`): the
  percentile interval of the rate over resamples of whole groups.
- `cluster_bootstrap_mean`: a metric with non-0/1 values (StrongREJECT's score): the mean, with the same
  group-resampling percentile interval (with one sample per ungrouped item, the ordinary bootstrap).
- `wilson_clusters`: the bootstrap is degenerate (rate 0 or 1, or one group) and values lie in [0, 1]: a
  Wilson interval counting each group once, conservative as a [0, 1] variable's variance is at most
  mu (1 - mu) and a group holds at most one independent observation's worth.
- `none`: no scored rows (all unscored).

Metric names: `metric` is the metric's own name when one autorater grades it on that benchmark, and
`<metric>[<autorater>]` when several do, so two graders' versions are never mixed; the `autorater` column
is always there too.

Comparisons: `diff = rate(model_b) - rate(model_a)` on the items both models have scored (so "a -> b" reads
as "what going from stage a to stage b changed"); `ci_low/ci_high` from the paired cluster bootstrap (the
same resampled groups for both models); `test` is `mcnemar_exact`, `bootstrap_wald` or, when no group
differs, `exact_no_discordance` (so is `ci_method`), as explained in `analysis.paired`. Every model and pair
of one benchmark shares one set of resampled groups, so each statistic is a ratio of `counts @ group_sums`.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats as sps

from stagewise.analysis.config import AnalysisConfig
from stagewise.analysis.intervals import bootstrap_se, percentile_interval, resample_counts, wilson_interval
from stagewise.analysis.paired import (
    holm,
    mcnemar_exact_p,
    min_detectable_difference,
    no_discordance_bound,
    no_discordance_tost_p,
    tost_p,
    wald_p,
)
from stagewise.analysis.store import GradedValues
from stagewise.core.errors import StagewiseError

SUMMARY_SCHEMA = pa.schema([
    ("model", pa.string()), ("stage", pa.string()), ("benchmark", pa.string()), ("metric", pa.string()),
    ("rate", pa.float64()), ("n", pa.int64()), ("unscored", pa.int64()), ("ci_low", pa.float64()),
    ("ci_high", pa.float64()), ("method", pa.string()),
    # beyond the contract's columns:
    ("autorater", pa.string()), ("kind", pa.string()), ("n_items", pa.int64()), ("n_groups", pa.int64()),
    ("source", pa.string()),  # where the benchmark's items came from (embedded lookalike, file + sha256, hub id)
])
COMPARISON_SCHEMA = pa.schema([
    ("model_a", pa.string()), ("model_b", pa.string()), ("benchmark", pa.string()), ("metric", pa.string()),
    ("diff", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("p_value", pa.float64()),
    ("p_holm", pa.float64()), ("equivalent", pa.bool_()),
    # beyond the contract's columns:
    ("test", pa.string()), ("tost_p", pa.float64()), ("margin", pa.float64()), ("mdd_80", pa.float64()),
    ("rate_a", pa.float64()), ("rate_b", pa.float64()), ("n_items", pa.int64()), ("n_groups", pa.int64()),
    ("ci_method", pa.string()), ("autorater", pa.string()),
    ("se", pa.float64()),  # the SE behind p and TOST (paired bootstrap, or the exact bound's): analysis/headline.py pools with it
])


@dataclass
class Statistics:
    summary: pa.Table
    comparisons: pa.Table
    notes: list[str] = field(default_factory=list)
    # (benchmark, autorater, metric name) -> the `metric` label used in the tables
    metric_labels: dict[tuple[str, str, str], str] = field(default_factory=dict)


@dataclass
class _Codes:
    """The long table as integer codes (one entry per graded row x metric)."""

    model: np.ndarray  # position in model_order
    family: np.ndarray  # (benchmark, autorater, metric) id
    item: np.ndarray
    group: np.ndarray
    value: np.ndarray
    families: list[tuple[str, str, str]]  # family id -> (benchmark, autorater, metric name)


def compute_statistics(graded: GradedValues, cfg: AnalysisConfig, model_order: list[str],
                       pairs: list[tuple[str, str]]) -> Statistics:
    for a, b in pairs:
        for m in (a, b):
            if m not in model_order:
                raise StagewiseError(f"analysis.comparisons: model {m!r} has no graded rows in {graded.source}")
    codes = _encode(graded.values, model_order)
    benches = sorted({f[0] for f in codes.families})
    fam_bench = np.array([benches.index(f[0]) for f in codes.families], dtype=np.int64)
    binary, bounded = _family_kinds(codes)
    row_bench = fam_bench[codes.family] if len(codes.family) else np.array([], np.int64)
    order = np.argsort(row_bench, kind="stable")
    bounds = np.searchsorted(row_bench[order], np.arange(len(benches) + 1))
    cells, comps, notes = [], [], []
    for b, bench in enumerate(benches):
        c, p = _benchmark_statistics(codes, order[bounds[b]:bounds[b + 1]], binary, model_order, pairs, cfg,
                                     bench, notes)
        cells.append(c)
        comps.append(p)
    summary = _summary_table(cells, codes, binary, bounded, graded, model_order, cfg)
    summary = _with_variant_rows(summary, graded, cfg, model_order, notes)
    comparisons = _comparison_table(comps, codes, model_order, cfg)
    labels = dict(zip(codes.families, metric_names(codes.families)))
    return Statistics(summary=summary, comparisons=comparisons, notes=notes, metric_labels=labels)


# -- encoding ---------------------------------------------------------------------------------------------


def _encode(values: pa.Table, model_order: list[str]) -> _Codes:
    if values.num_rows == 0:
        empty = np.array([], np.int64)
        return _Codes(empty, empty, empty, empty, np.array([], np.float64), [])
    cols = {name: values[name].combine_chunks()
            for name in ("model", "benchmark", "autorater", "metric", "item_id", "group")}
    idx = {k: v.indices.to_numpy().astype(np.int64) for k, v in cols.items()}
    # The bootstrap draws counts per group in code order: codes must follow the labels, not the order the
    # store's files happened to be written in, or a rerun with the same grades gets other intervals.
    for k in ("item_id", "group"):
        idx[k] = _label_rank(cols[k].dictionary)[idx[k]]
    rank = np.array([model_order.index(m) for m in cols["model"].dictionary.to_pylist()], dtype=np.int64)
    n_rater, n_metric = len(cols["autorater"].dictionary), len(cols["metric"].dictionary)
    composite = (idx["benchmark"] * n_rater + idx["autorater"]) * n_metric + idx["metric"]
    fam_keys, family = np.unique(composite, return_inverse=True)
    bench_l, rater_l, metric_l = (cols[k].dictionary.to_pylist() for k in ("benchmark", "autorater", "metric"))
    families = [(bench_l[k // (n_rater * n_metric)], rater_l[(k // n_metric) % n_rater], metric_l[k % n_metric])
                for k in fam_keys.tolist()]
    return _Codes(model=rank[idx["model"]], family=family.astype(np.int64), item=idx["item_id"],
                  group=idx["group"], value=values["value"].to_numpy(), families=families)


def _label_rank(labels: pa.Array) -> np.ndarray:
    """For each dictionary code, its label's position in sorted order."""
    rank = np.empty(len(labels), np.int64)
    rank[pc.sort_indices(labels).to_numpy()] = np.arange(len(labels))
    return rank


def _family_kinds(codes: _Codes) -> tuple[np.ndarray, np.ndarray]:
    """Per family: all values 0/1 (a proportion), and all values in [0, 1]."""
    n_fam = len(codes.families)
    v = codes.value
    not_binary = np.bincount(codes.family, weights=(v != 0) & (v != 1), minlength=n_fam)
    out_of_unit = np.bincount(codes.family, weights=(v < 0) | (v > 1), minlength=n_fam)
    return not_binary == 0, out_of_unit == 0


# -- one benchmark: all its models' rates and all its pairs from one set of resamples ----------------------


def _benchmark_statistics(codes: _Codes, rows: np.ndarray, binary: np.ndarray, model_order: list[str],
                          pairs: list[tuple[str, str]], cfg: AnalysisConfig, bench: str,
                          notes: list[str]) -> tuple[dict, dict]:
    _, item = np.unique(codes.item[rows], return_inverse=True)
    groups, group = np.unique(codes.group[rows], return_inverse=True)
    n_items, n_groups = int(item.max()) + 1, len(groups)
    item_group = np.empty(n_items, np.int64)
    item_group[item] = group
    n_fam = len(codes.families)
    cell_keys, cell = np.unique(codes.model[rows] * n_fam + codes.family[rows], return_inverse=True)
    n_cells = len(cell_keys)
    value = codes.value[rows]

    def dense(index: np.ndarray, width: int, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(cell * width + index, weights=weights, minlength=n_cells * width).reshape(n_cells, width)

    item_sum, item_n = dense(item, n_items, value), dense(item, n_items)
    group_sum, group_n = dense(group, n_groups, value), dense(group, n_groups)
    cell_model, cell_family = cell_keys // n_fam, cell_keys % n_fam
    items_with_data, groups_with_data = (item_n > 0).sum(1), (group_n > 0).sum(1)
    independent = (item_n.max(1) <= 1) & (items_with_data == groups_with_data)  # Wilson / McNemar apply

    # Pairs: both models' rows restricted to the items both have scored.
    cell_of = {(int(m), int(f)): k for k, (m, f) in enumerate(zip(cell_model, cell_family))}
    ka, kb, pair_idx = [], [], []
    for j, (a, b) in enumerate(pairs):
        ma, mb = model_order.index(a), model_order.index(b)
        for f in sorted(set(cell_family.tolist())):
            fam = "/".join(codes.families[f][::2])
            if (ma, f) in cell_of and (mb, f) in cell_of:
                ka.append(cell_of[(ma, f)])
                kb.append(cell_of[(mb, f)])
                pair_idx.append(j)
            elif (ma, f) in cell_of or (mb, f) in cell_of:
                notes.append(f"no comparison {a} vs {b} on {fam}: {a if (ma, f) not in cell_of else b} has no scored rows")
    ka, kb = np.array(ka, np.int64), np.array(kb, np.int64)
    common = (item_n[ka] > 0) & (item_n[kb] > 0)
    by_group = np.argsort(item_group, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(item_group[by_group]) != 0])

    def to_groups(x: np.ndarray) -> np.ndarray:  # (pairs, items) -> (pairs, groups)
        return np.add.reduceat(x[:, by_group], starts, axis=1) if len(x) else np.zeros((0, n_groups))

    sa, na = to_groups(item_sum[ka] * common), to_groups(item_n[ka] * common)
    sb, nb = to_groups(item_sum[kb] * common), to_groups(item_n[kb] * common)

    # One set of group resamples for every statistic of this benchmark: replicate = counts @ sums.
    sums = np.concatenate([group_sum, group_n, sa, na, sb, nb], axis=0).T  # (groups, columns)
    n_pairs = len(ka)
    cell_reps = np.empty((cfg.bootstrap_resamples, n_cells))
    diff_reps = np.empty((cfg.bootstrap_resamples, n_pairs))
    rng = np.random.default_rng([cfg.seed, zlib.crc32(bench.encode())])
    done = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        for counts in resample_counts(rng, n_groups, cfg.bootstrap_resamples):
            r = counts @ sums
            size = len(counts)
            c0, p0 = 2 * n_cells, 2 * n_cells + 2 * n_pairs
            cell_reps[done:done + size] = r[:, :n_cells] / r[:, n_cells:c0]
            diff_reps[done:done + size] = (r[:, p0:p0 + n_pairs] / r[:, p0 + n_pairs:]
                                           - r[:, c0:c0 + n_pairs] / r[:, c0 + n_pairs:p0])
            done += size
        rate_a, rate_b = sa.sum(1) / na.sum(1), sb.sum(1) / nb.sum(1)

    a_binary = binary[cell_family[ka]] if n_pairs else np.array([], bool)
    x_a, x_b = item_sum[ka], item_sum[kb]
    cells = dict(model=cell_model, family=cell_family, total=group_sum.sum(1), n=group_n.sum(1),
                 n_items=items_with_data, n_groups=groups_with_data, independent=independent,
                 boot=percentile_interval(cell_reps, cfg.confidence))
    comps = dict(pair=np.array(pair_idx, np.int64), model_a=cell_model[ka], model_b=cell_model[kb],
                 family=cell_family[ka], rate_a=rate_a, rate_b=rate_b, n_items=common.sum(1), n_groups=(na > 0).sum(1),
                 boot=percentile_interval(diff_reps, cfg.confidence), se=bootstrap_se(diff_reps),
                 mcnemar=a_binary & independent[ka] & independent[kb],
                 a_only=(common * x_a * (1 - x_b)).sum(1), b_only=(common * (1 - x_a) * x_b).sum(1))
    return cells, comps


# -- tables -----------------------------------------------------------------------------------------------


def metric_names(families: list[tuple[str, str, str]]) -> list[str]:
    raters: dict[tuple[str, str], set[str]] = {}
    for bench, rater, metric in families:
        raters.setdefault((bench, metric), set()).add(rater)
    return [metric if len(raters[(bench, metric)]) == 1 else f"{metric}[{rater}]" for bench, rater, metric in families]


def _summary_table(cells: list[dict], codes: _Codes, binary: np.ndarray, bounded: np.ndarray,
                   graded: GradedValues, model_order: list[str], cfg: AnalysisConfig) -> pa.Table:
    cat = {k: np.concatenate([c[k] for c in cells]) if cells else np.array([]) for k in
           ("model", "family", "total", "n", "n_items", "n_groups", "independent")}
    boot_low = np.concatenate([c["boot"][0] for c in cells]) if cells else np.array([])
    boot_high = np.concatenate([c["boot"][1] for c in cells]) if cells else np.array([])
    fam = cat["family"].astype(np.int64)
    is_binary, is_bounded = binary[fam], bounded[fam]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = cat["total"] / cat["n"]
    wilson = is_binary & cat["independent"].astype(bool)
    degenerate = ~wilson & ~(boot_high > boot_low) & is_bounded & (cat["n_groups"] >= 1)
    low, high = boot_low.copy(), boot_high.copy()
    w_low, w_high = wilson_interval(cat["total"], cat["n"], cfg.confidence)
    low[wilson], high[wilson] = w_low[wilson], w_high[wilson]
    c_low, c_high = wilson_interval(rate * cat["n_groups"], cat["n_groups"], cfg.confidence)
    low[degenerate], high[degenerate] = c_low[degenerate], c_high[degenerate]
    method = np.where(wilson, "wilson", np.where(degenerate, "wilson_clusters",
                                                 np.where(is_binary, "cluster_bootstrap", "cluster_bootstrap_mean")))
    method = np.where(np.isnan(low), "none", method)

    names = metric_names(codes.families)
    unscored = {(r["model"], r["benchmark"], r["autorater"], r["metric"]): r["unscored"]
                for r in graded.unscored.to_pylist()}
    rows = []
    seen = set()
    for i in range(len(fam)):
        bench, rater, metric = codes.families[fam[i]]
        model = model_order[int(cat["model"][i])]
        seen.add((model, bench, rater, metric))
        rows.append(dict(model=model, stage=graded.stages.get(model, ""), benchmark=bench, metric=names[fam[i]],
                         rate=float(rate[i]), n=int(cat["n"][i]), unscored=unscored.get((model, bench, rater, metric), 0),
                         ci_low=float(low[i]), ci_high=float(high[i]), method=str(method[i]), autorater=rater,
                         kind="proportion" if is_binary[i] else "mean", n_items=int(cat["n_items"][i]),
                         n_groups=int(cat["n_groups"][i]), source=graded.source_label(bench)))
    family_of = {f: k for k, f in enumerate(codes.families)}
    for (model, bench, rater, metric), count in unscored.items():  # all-unscored cells: n = 0
        if (model, bench, rater, metric) not in seen and (bench, rater, metric) in family_of:
            k = family_of[(bench, rater, metric)]
            rows.append(dict(model=model, stage=graded.stages.get(model, ""), benchmark=bench, metric=names[k],
                             rate=float("nan"), n=0, unscored=count, ci_low=float("nan"), ci_high=float("nan"),
                             method="none", autorater=rater, kind="proportion" if binary[k] else "mean",
                             n_items=0, n_groups=0, source=graded.source_label(bench)))
    rows.sort(key=lambda r: (r["benchmark"], r["metric"], model_order.index(r["model"])))
    return pa.Table.from_pylist(rows, schema=SUMMARY_SCHEMA)


def _with_variant_rows(summary: pa.Table, graded: GradedValues, cfg: AnalysisConfig, model_order: list[str],
                       notes: list[str]) -> pa.Table:
    """Benchmarks whose items are variants of scenarios (`evaluate.schema.item_variant`, ODCV): each model x metric
    row becomes the pooled row plus one row per variant (`<metric>_<variant>`), all from the scenario bootstrap
    (analysis/cluster_bootstrap.py: names resampled with their variants together, one set of resamples)."""
    from stagewise.analysis.cluster_bootstrap import OVERALL, scenario_bootstrap
    from stagewise.evaluate.schema import item_variant

    values = graded.values
    if values.num_rows == 0:
        return summary
    cols = {k: values[k].to_pylist() for k in ("model", "benchmark", "autorater", "metric", "item_id", "group")}
    per: dict[tuple[str, str, str, str], dict[str, dict[str, list[float]]]] = {}
    plain: set[str] = set()
    for i, v in enumerate(values["value"].to_pylist()):
        variant = item_variant(cols["item_id"][i], cols["group"][i])
        if variant is None:
            plain.add(cols["benchmark"][i])
            continue
        cell = per.setdefault((cols["model"][i], cols["benchmark"][i], cols["autorater"][i], cols["metric"][i]), {})
        cell.setdefault(cols["group"][i], {}).setdefault(variant, []).append(v)
    benches = {b for (_, b, _, _) in per} - plain  # a benchmark mixing variant and plain items stays as it was
    if not benches:
        return summary
    rows = []
    for r in summary.to_pylist():
        if r["benchmark"] not in benches:
            rows.append(r)
            continue
        metric = next(m for (mm, b, a, m) in per if (mm, b, a) == (r["model"], r["benchmark"], r["autorater"])
                      and r["metric"] in (m, f"{m}[{a}]")) if r["n"] else None
        if metric is None:
            rows.append(r)
            continue
        stats = scenario_bootstrap(per[(r["model"], r["benchmark"], r["autorater"], metric)],
                                   resamples=cfg.bootstrap_resamples, confidence=cfg.confidence,
                                   seed=[cfg.seed, zlib.crc32(f"{r['model']}|{r['benchmark']}|{r['metric']}".encode())])
        for variant, st in stats.items():
            label = r["metric"] if variant == OVERALL else r["metric"].replace(metric, f"{metric}_{variant}", 1)
            rows.append({**r, "metric": label, "rate": st.estimate, "n": st.n, "ci_low": st.low, "ci_high": st.high,
                         "method": "scenario_bootstrap", "n_items": st.n_names if variant != OVERALL else r["n_items"],
                         "n_groups": st.n_names,
                         "unscored": r["unscored"] if variant == OVERALL else None})
    for b in sorted(benches):
        notes.append(f"{b}: rates per variant and pooled, 95% CIs from a bootstrap over scenario names (a name's "
                     "variants resampled together); unscored rows are counted on the pooled row only")
    rows.sort(key=lambda r: (r["benchmark"], r["metric"], model_order.index(r["model"])))
    return pa.Table.from_pylist(rows, schema=SUMMARY_SCHEMA)


def _comparison_table(comps: list[dict], codes: _Codes, model_order: list[str], cfg: AnalysisConfig) -> pa.Table:
    comps = [c for c in comps if len(c["family"])]
    if not comps:
        return COMPARISON_SCHEMA.empty_table()
    cat = {k: np.concatenate([c[k] for c in comps]) for k in comps[0] if k != "boot"}
    boot_low = np.concatenate([c["boot"][0] for c in comps])
    boot_high = np.concatenate([c["boot"][1] for c in comps])
    keep = cat["n_items"] > 0
    cat = {k: v[keep] for k, v in cat.items()}
    boot_low, boot_high = boot_low[keep], boot_high[keep]

    diff = cat["rate_b"] - cat["rate_a"]
    alpha = 1 - cfg.confidence
    z = sps.norm.ppf(1 - alpha / 2)
    # A degenerate bootstrap (SE 0: no group differs) gets exact bounds instead, see analysis.paired.
    degenerate = ~(cat["se"] > 0)
    bound = no_discordance_bound(cat["n_groups"], cfg.confidence)
    low = np.where(degenerate, diff - np.where(diff == 0, bound, 0), boot_low)
    high = np.where(degenerate, diff + np.where(diff == 0, bound, 0), boot_high)
    se = np.where(degenerate, bound / z, cat["se"])
    mcnemar = cat["mcnemar"].astype(bool)
    p = np.where(mcnemar, mcnemar_exact_p(cat["a_only"], cat["b_only"]),
                 np.where(degenerate, np.where(diff == 0, 1.0, np.minimum(1.0, 2 * 0.5 ** cat["n_groups"])),
                          wald_p(diff, se)))
    equivalence_p = np.where(degenerate, np.where(np.abs(diff) < cfg.equivalence_margin,
                                                  no_discordance_tost_p(cat["n_groups"], cfg.equivalence_margin), 1.0),
                             tost_p(diff, se, cfg.equivalence_margin))
    families = (cat["model_a"] * len(model_order) + cat["model_b"] if cfg.holm_family == "pair"
                else np.zeros(len(p), np.int64))
    p_holm = holm(p, families)
    names = metric_names(codes.families)
    table = pa.table({
        "model_a": [model_order[int(m)] for m in cat["model_a"]],
        "model_b": [model_order[int(m)] for m in cat["model_b"]],
        "benchmark": [codes.families[int(f)][0] for f in cat["family"]],
        "metric": [names[int(f)] for f in cat["family"]],
        "diff": diff, "ci_low": low, "ci_high": high, "p_value": p, "p_holm": p_holm,
        "equivalent": equivalence_p < alpha,
        "test": np.where(mcnemar, "mcnemar_exact", np.where(degenerate, "exact_no_discordance", "bootstrap_wald")),
        "tost_p": equivalence_p, "margin": np.full(len(p), cfg.equivalence_margin),
        "mdd_80": min_detectable_difference(se, cfg.confidence, 0.80),
        "rate_a": cat["rate_a"], "rate_b": cat["rate_b"],
        "n_items": cat["n_items"].astype(np.int64), "n_groups": cat["n_groups"].astype(np.int64),
        "ci_method": np.where(degenerate, "exact_no_discordance", "paired_bootstrap"),
        "autorater": [codes.families[int(f)][1] for f in cat["family"]], "se": se,
    }, schema=COMPARISON_SCHEMA)
    return table.take(np.lexsort([table["metric"].to_numpy(zero_copy_only=False),
                                  table["benchmark"].to_numpy(zero_copy_only=False), cat["pair"]]))
