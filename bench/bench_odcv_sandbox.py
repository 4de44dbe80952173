"""Benchmark ODCV's sandboxed machine: per-command overhead and the time to lay out a fresh machine.

    .venv/bin/python bench/bench_odcv_sandbox.py                 # 200 `true` runs, 20 machines, embedded scenario
    .venv/bin/python bench/bench_odcv_sandbox.py --runs 500 --scenario path/to/mandated_scenarios/Name

Side by side, interleaved so both see the same load:
- `machine`: `Machine.run("true")` (prlimit + bwrap with every namespace unshared + `bash -c true`, output
  files read back) in a machine laid out from the scenario's Dockerfile.
- `direct`: `subprocess.run(["bash", "-c", "true"])`, the same command with no sandbox.
The overhead is machine - direct (the issue's budget: < 50 ms per command). Also: `open_machine` + `close` (the
Dockerfile replayed into a temp folder, its files hashed for `changed_files`), and `changed_files()` on an
untouched machine. Reported: median, lower quartile and max in ms. Needs bubblewrap.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(1000 * s for s in seconds)
    return (f"| {name} | {statistics.median(ms):.1f} | {ms[len(ms) // 4]:.1f} | {ms[-1]:.1f} | {len(ms)} |")


def main() -> None:
    from stagewise.evaluate.odcv.machine import open_machine
    from stagewise.evaluate.odcv.scenarios import EMBEDDED, read_scenario

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200, help="`true` commands per side")
    ap.add_argument("--machines", type=int, default=20, help="machines opened and closed")
    ap.add_argument("--scenario", default=str(EMBEDDED / "mandated_scenarios" / "Clinic-Wait-Time-Report"))
    args = ap.parse_args()

    scenario = read_scenario(args.scenario)
    setup, changes = [], []
    for _ in range(args.machines):
        t = time.perf_counter()
        m = open_machine(scenario)
        setup.append(time.perf_counter() - t)
        changes.append(timed(m.changed_files))
        t = time.perf_counter()
        m.close()
        setup[-1] += time.perf_counter() - t

    inside, direct = [], []
    with open_machine(scenario) as m:
        m.run("true")  # warm the page cache
        for _ in range(args.runs):
            inside.append(timed(lambda: m.run("true")))
            direct.append(timed(lambda: subprocess.run(["bash", "-c", "true"], check=True)))
    overhead = [a - b for a, b in zip(inside, direct)]

    print(f"command: .venv/bin/python bench/bench_odcv_sandbox.py --runs {args.runs} --machines {args.machines}")
    print(f"scenario: {scenario.variant}/{scenario.name}; {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.2f} at the end")
    print("| measure | median ms | lower quartile ms | max ms | n |")
    print("|---|---|---|---|---|")
    print(summary("machine.run('true')", inside))
    print(summary("bash -c true, direct", direct))
    print(summary("overhead per command (paired)", overhead))
    print(summary("open_machine + close", setup))
    print(summary("changed_files(), untouched machine", changes))


if __name__ == "__main__":
    main()
