"""Benchmark analysis/: every CI plus a 1,000-resample paired bootstrap over 1,000,000 graded rows.

    .venv/bin/python bench/bench_analysis.py                 # 5 runs each, prints the BENCHMARKS.md table
    .venv/bin/python bench/bench_analysis.py --runs 3 --store /tmp/sw_store   # reuse a store written before

The store: 4 models (base, sft, dpo, production) x 5 benchmarks, 7,143 items x 5 samples each, items in
pairs sharing a source, 1% unscored; two benchmarks are graded by two autoraters (a 0/1 refusal and a
StrongREJECT score), so 1,000,020 graded rows and ~1.0M metric values. Consecutive stages are compared.

Side by side, in a fresh process per run (so peak RSS is that run's own):
- `ours`: `load_graded_values` + `compute_statistics` (all per-model CIs + all paired comparisons).
- `baseline`: the same load, then the obvious implementation of the same cluster bootstrap: per cell and
  per pair, a Python loop over the 1,000 resamples, each drawing groups and summing (numpy inside).
Reported: medians over runs of wall seconds (load, statistics, total) and peak RSS, and the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODELS = {"base": "base", "sft": "sft", "dpo": "dpo", "production": "production"}
BENCHMARKS = ("harmbench", "strongreject", "xstest", "wildguardtest", "orbench")
SCORED = ("harmbench", "strongreject")
ITEMS, SAMPLES, GROUP_SIZE = 7143, 5, 2


def write_store(path: Path) -> int:
    from stagewise.analysis.synthetic import write_synthetic_store

    return write_synthetic_store(path, MODELS, benchmarks=BENCHMARKS, items=ITEMS, samples=SAMPLES,
                                 group_size=GROUP_SIZE, scored=SCORED, unscored_fraction=0.01,
                                 shifts={"sft": 1.0, "dpo": 1.4, "production": 1.45}, seed=0)


def worker(kind: str, store: Path, resamples: int) -> dict:
    t0 = time.perf_counter()
    from stagewise.analysis.config import AnalysisConfig
    from stagewise.analysis.store import load_graded_values
    from stagewise.analysis.summary import compute_statistics

    imported, cpu0 = time.perf_counter(), time.process_time()
    graded = load_graded_values(store)
    loaded, cpu_loaded = time.perf_counter(), time.process_time()
    order = list(MODELS)
    pairs = list(zip(order, order[1:]))
    cfg = AnalysisConfig(bootstrap_resamples=resamples)
    if kind == "ours":
        stats = compute_statistics(graded, cfg, order, pairs)
        cells, comparisons = stats.summary.num_rows, stats.comparisons.num_rows
    else:
        cells, comparisons = baseline_bootstrap(graded, order, pairs, resamples)
    done, cpu1 = time.perf_counter(), time.process_time()
    return {"kind": kind, "import_s": imported - t0, "load_s": loaded - imported, "stats_s": done - loaded,
            "total_s": done - imported, "cpu_s": cpu1 - cpu0, "load_cpu_s": cpu_loaded - cpu0,
            "stats_cpu_s": cpu1 - cpu_loaded, "loadavg": os.getloadavg()[0], "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rows": graded.rows, "values": graded.values.num_rows, "cells": cells, "comparisons": comparisons}


def baseline_bootstrap(graded, order: list[str], pairs: list[tuple[str, str]], resamples: int) -> tuple[int, int]:
    """The straightforward cluster bootstrap: for each cell / pair, loop over resamples (numpy per draw)."""
    import numpy as np

    v = graded.values
    code = {k: v[k].combine_chunks().indices.to_numpy().astype(np.int64) for k in
            ("model", "benchmark", "autorater", "metric", "item_id", "group")}
    models = v["model"].combine_chunks().dictionary.to_pylist()
    value = v["value"].to_numpy()
    family = (code["benchmark"] * 100 + code["autorater"]) * 100 + code["metric"]
    rng = np.random.default_rng(0)
    cells = comparisons = 0
    for fam in np.unique(family):
        rows = np.flatnonzero(family == fam)
        items, item = np.unique(code["item_id"][rows], return_inverse=True)
        groups, group = np.unique(code["group"][rows], return_inverse=True)
        item_group = np.empty(len(items), np.int64)
        item_group[item] = group
        per_model = {}
        for m in order:
            mine = code["model"][rows] == models.index(m)
            s = np.bincount(item[mine], weights=value[rows][mine], minlength=len(items))
            n = np.bincount(item[mine], minlength=len(items)).astype(float)
            per_model[m] = (s, n)
            gs, gn = np.bincount(item_group, s, len(groups)), np.bincount(item_group, n, len(groups))
            reps = [gs[i].sum() / gn[i].sum() for i in (rng.integers(0, len(groups), len(groups)) for _ in range(resamples))]
            np.quantile(reps, [0.025, 0.975])
            cells += 1
        for a, b in pairs:
            (sa, na), (sb, nb) = per_model[a], per_model[b]
            common = (na > 0) & (nb > 0)
            g = [np.bincount(item_group, x * common, len(groups)) for x in (sa, na, sb, nb)]
            reps = []
            for _ in range(resamples):
                i = rng.integers(0, len(groups), len(groups))
                reps.append(g[2][i].sum() / g[3][i].sum() - g[0][i].sum() / g[1][i].sum())
            np.quantile(reps, [0.025, 0.975])
            comparisons += 1
    return cells, comparisons


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, load average {os.getloadavg()[0]:.1f} at start"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--store", type=Path, help="results dir to use (written there if it has no grades/)")
    ap.add_argument("--worker", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.store, args.resamples)))
        return

    tmp = tempfile.TemporaryDirectory(prefix="bench_analysis_")
    store = args.store or Path(tmp.name) / "results"
    if not (store / "grades").is_dir():
        t = time.perf_counter()
        rows = write_store(store)
        print(f"wrote {rows:,} graded rows to {store} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    print(f"machine: {machine()}", file=sys.stderr)
    results: dict[str, list[dict]] = {"ours": [], "baseline": []}
    for run in range(args.runs):
        for kind in ("ours", "baseline"):  # interleaved, so load on a shared machine hits both alike
            out = subprocess.run([sys.executable, __file__, "--worker", kind, "--store", str(store),
                                  "--resamples", str(args.resamples)], check=True, capture_output=True, text=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[kind].append(r)
            print(f"run {run + 1} {kind:<8} load {r['load_s']:.2f}s stats {r['stats_s']:.2f}s "
                  f"total {r['total_s']:.2f}s cpu {r['cpu_s']:.2f}s peak {r['peak_mib']:.0f} MiB "
                  f"(load average {r['loadavg']:.1f})", file=sys.stderr)
    fields = ("load_s", "stats_s", "total_s", "cpu_s", "load_cpu_s", "stats_cpu_s", "peak_mib", "import_s", "loadavg")
    med = {k: {m: statistics.median(r[m] for r in rs) for m in fields} for k, rs in results.items()}
    first = results["ours"][0]
    print(f"\n{first['rows']:,} graded rows, {first['values']:,} metric values, {first['cells']} model x benchmark x "
          f"metric CIs, {first['comparisons']} paired comparisons, {args.resamples} resamples; "
          f"medians of {args.runs} runs\n")
    print("| medians | load + validate: wall / CPU (s) | all CIs + paired bootstrap: wall / CPU (s) "
          "| total: wall / CPU (s) | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for k, label in (("ours", "analysis/ (one `counts @ group_sums` product per benchmark)"),
                     ("baseline", "baseline (a Python loop over resamples per cell and pair)")):
        m = med[k]
        print(f"| {label} | {m['load_s']:.2f} / {m['load_cpu_s']:.2f} | {m['stats_s']:.2f} / {m['stats_cpu_s']:.2f} "
              f"| {m['total_s']:.2f} / {m['cpu_s']:.2f} | {m['peak_mib']:.0f} |")
    o, b = med["ours"], med["baseline"]
    print(f"\nstatistics: {b['stats_s'] / o['stats_s']:.1f}x faster in wall time, "
          f"{b['stats_cpu_s'] / o['stats_cpu_s']:.1f}x in CPU time; imports (not in totals): {o['import_s']:.1f}s; "
          f"median load average during runs: {o['loadavg']:.1f}")

if __name__ == "__main__":
    main()
