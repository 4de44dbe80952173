"""Judge swap: the same stored responses graded by two autoraters; how each rate, each stage-vs-stage difference
and its verdict move when the judge changes.

    swap = judge_swap("runs/demo/results", "runs/demo/swap/xstest-judge/results", "refusal-rules", "xstest-judge")
    swap.rates        # model x benchmark x metric: rate and CI under each judge
    swap.comparisons  # pair x benchmark x metric: diff, CI, p (Holm), verdict under each judge, and whether it changed

Both sides go through the study's own statistics (`analysis.summary.compute_statistics`: the same intervals, paired
tests, TOST and Holm), each on its judge's rows only. A verdict is `different` (Holm p < alpha), `equivalent`
(TOST within the margin), `different, within margin` (both) or `inconclusive` (neither).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from stagewise.analysis.analyze import resolve_model_order, resolve_pairs
from stagewise.analysis.config import AnalysisConfig
from stagewise.analysis.store import GradedValues, load_graded_values
from stagewise.analysis.summary import compute_statistics
from stagewise.core.errors import StagewiseError

RATE_SCHEMA = pa.schema([
    ("model", pa.string()), ("benchmark", pa.string()), ("metric", pa.string()),
    ("rate_from", pa.float64()), ("ci_low_from", pa.float64()), ("ci_high_from", pa.float64()), ("n_from", pa.int64()),
    ("rate_to", pa.float64()), ("ci_low_to", pa.float64()), ("ci_high_to", pa.float64()), ("n_to", pa.int64()),
    ("change", pa.float64()), ("method", pa.string()),
])
SWAP_SCHEMA = pa.schema([
    ("model_a", pa.string()), ("model_b", pa.string()), ("benchmark", pa.string()), ("metric", pa.string()),
    ("diff_from", pa.float64()), ("ci_low_from", pa.float64()), ("ci_high_from", pa.float64()),
    ("p_holm_from", pa.float64()), ("verdict_from", pa.string()),
    ("diff_to", pa.float64()), ("ci_low_to", pa.float64()), ("ci_high_to", pa.float64()),
    ("p_holm_to", pa.float64()), ("verdict_to", pa.string()),
    ("verdict_changed", pa.bool_()), ("n_items", pa.int64()), ("test_from", pa.string()), ("test_to", pa.string()),
])


@dataclass
class JudgeSwap:
    from_rater: str
    to_rater: str
    rates: pa.Table
    comparisons: pa.Table
    notes: list[str]

    def write(self, report_dir: str | Path) -> list[Path]:
        report_dir = Path(report_dir)
        report_dir.mkdir(parents=True, exist_ok=True)
        stem = f"judge_swap-{self.from_rater}-to-{self.to_rater}"
        paths = [report_dir / f"{stem}-rates.csv", report_dir / f"{stem}.csv"]
        pacsv.write_csv(self.rates, paths[0])
        pacsv.write_csv(self.comparisons, paths[1])
        return paths


def verdict(p_holm: float | None, equivalent: bool, alpha: float) -> str:
    different = p_holm is not None and p_holm == p_holm and p_holm < alpha
    if different and equivalent:
        return "different, within margin"
    return "different" if different else ("equivalent" if equivalent else "inconclusive")


def _only(graded: GradedValues, rater: str, where: Path) -> GradedValues:
    values = graded.values.filter(pc.equal(graded.values["autorater"].cast(pa.string()), rater))
    if values.num_rows == 0:
        raise StagewiseError(f"{where}: no scored rows of autorater {rater!r}")
    unscored = graded.unscored.filter(pc.equal(graded.unscored["autorater"], rater))
    return replace(graded, values=values, unscored=unscored)


def judge_swap(results_dir: str | Path, swapped_dir: str | Path, from_rater: str, to_rater: str,
               cfg: AnalysisConfig | None = None, model_order: list[str] | None = None) -> JudgeSwap:
    """Compare a study's rates and verdicts under `from_rater` (its store) and `to_rater` (the re-graded store)."""
    cfg = cfg or AnalysisConfig()
    a = _only(load_graded_values(results_dir), from_rater, Path(results_dir))
    b = _only(load_graded_values(swapped_dir), to_rater, Path(swapped_dir))
    order = resolve_model_order({**b.stages, **a.stages}, model_order)
    order = [m for m in order if m in a.stages and m in b.stages]
    pairs = resolve_pairs(cfg.comparisons, order, a.source)
    sa, sb = compute_statistics(a, cfg, order, pairs), compute_statistics(b, cfg, order, pairs)
    alpha = 1 - cfg.confidence

    rates_b = {(r["model"], r["benchmark"], r["metric"]): r for r in sb.summary.to_pylist()}
    rates = []
    for r in sa.summary.to_pylist():
        o = rates_b.get((r["model"], r["benchmark"], r["metric"]))
        if o is None:
            continue
        rates.append({"model": r["model"], "benchmark": r["benchmark"], "metric": r["metric"],
                      "rate_from": r["rate"], "ci_low_from": r["ci_low"], "ci_high_from": r["ci_high"], "n_from": r["n"],
                      "rate_to": o["rate"], "ci_low_to": o["ci_low"], "ci_high_to": o["ci_high"], "n_to": o["n"],
                      "change": o["rate"] - r["rate"], "method": f"{r['method']} / {o['method']}"})
    comps_b = {(r["model_a"], r["model_b"], r["benchmark"], r["metric"]): r for r in sb.comparisons.to_pylist()}
    comps = []
    for r in sa.comparisons.to_pylist():
        o = comps_b.get((r["model_a"], r["model_b"], r["benchmark"], r["metric"]))
        if o is None:
            continue
        v_from, v_to = verdict(r["p_holm"], r["equivalent"], alpha), verdict(o["p_holm"], o["equivalent"], alpha)
        comps.append({"model_a": r["model_a"], "model_b": r["model_b"], "benchmark": r["benchmark"], "metric": r["metric"],
                      "diff_from": r["diff"], "ci_low_from": r["ci_low"], "ci_high_from": r["ci_high"],
                      "p_holm_from": r["p_holm"], "verdict_from": v_from,
                      "diff_to": o["diff"], "ci_low_to": o["ci_low"], "ci_high_to": o["ci_high"],
                      "p_holm_to": o["p_holm"], "verdict_to": v_to, "verdict_changed": v_from != v_to,
                      "n_items": min(r["n_items"], o["n_items"]), "test_from": r["test"], "test_to": o["test"]})
    notes = [*a.notes, *b.notes, *sa.notes, *sb.notes]
    return JudgeSwap(from_rater, to_rater, pa.Table.from_pylist(rates, schema=RATE_SCHEMA),
                     pa.Table.from_pylist(comps, schema=SWAP_SCHEMA), notes)
