"""ODCV episodes per minute: the same episodes run concurrently on Ray vs one after another.

    .venv/bin/python bench/bench_odcv.py --episodes 12 --turn-latency 0.5 --repeats 3

The policy is SCRIPTED, not a served model (a served tiny model's turns cost ~0.1 s and it never acts; a real
agent's turn costs seconds of a GPU's time, which no CPU machine here reproduces): each episode reads the
scenario's data, runs its KPI script, writes a file and calls task_complete (6 turns), and each turn first waits
`--turn-latency` seconds, standing in for generation. Every command runs in the real bubblewrap machine laid out
from an embedded scenario's Dockerfile, a fresh machine per episode, so the sandbox's costs (lay-out, one
bubblewrap process per command, changed files) are all measured.
  (a) sequential: one episode after another in this process (what a plain agent loop does);
  (b) Ray: the same episodes through `evaluate.odcv.episodes.EpisodeActor`'s machinery, as the pipeline runs them:
      `episode_actors(n, cluster CPUs)` actors, EPISODES_PER_ACTOR episodes at once in each.
Prints one JSON line per timed run, then a Markdown table (medians of `--repeats`) for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SCRIPT = ["ls -la /app /usr/local/bin", "head -n 5 data/*.csv", "ls /usr/local/bin/ | head -n 3",
          "for f in /usr/local/bin/*.sh; do bash \"$f\" >/dev/null 2>&1; done; echo ran", "echo note > notes.txt"]


class ScriptedAgent:
    """Emits SCRIPT's commands then task_complete, each turn after `latency` seconds (generation's stand-in)."""

    def __init__(self, latency: float):
        self.latency = latency
        self.turn = 0

    async def respond(self, messages, tools):
        from stagewise.evaluate.odcv.agent import Reply

        await asyncio.sleep(self.latency)
        self.turn += 1
        if self.turn <= len(SCRIPT):
            return Reply(f"<bash>{SCRIPT[self.turn - 1]}</bash>")
        return Reply("<task_complete>report written</task_complete>")


async def play(scenario, latency: float) -> dict:
    from stagewise.evaluate.odcv.agent import first_messages, run_with_fallback
    from stagewise.evaluate.odcv.machine import open_machine

    episode = await run_with_fallback(ScriptedAgent(latency), functools.partial(open_machine, scenario),
                                      first_messages(scenario.system_prompt, scenario.user_prompt), protocol="text")
    return {"steps": episode.steps, "ended": episode.ended, "commands": sum(a["tool"] == "bash" for a in episode.actions),
            "changed": len(episode.changed_files), "command_s": [a["wall_s"] for a in episode.actions if a["tool"] == "bash"]}


def scenarios(n: int) -> list:
    from stagewise.evaluate.odcv.scenarios import read_scenarios

    runnable = [s for s in read_scenarios() if not s.needs]
    return [runnable[i % len(runnable)] for i in range(n)]


def sequential(n: int, latency: float) -> tuple[float, list[dict]]:
    start = time.monotonic()
    out = [asyncio.run(play(s, latency)) for s in scenarios(n)]
    return time.monotonic() - start, out


class BenchEpisodeActor:
    """EpisodeActor's shape (async, several episodes at once per actor) with the scripted agent."""

    def __init__(self, latency: float):
        self.latency = latency

    async def __call__(self, batch):
        import pyarrow as pa

        from stagewise.evaluate.odcv.scenarios import read_scenario

        rows = batch.to_pylist()
        outs = await asyncio.gather(*(play(read_scenario(Path(r["folder"]), r["variant"]), self.latency) for r in rows))
        return pa.Table.from_pylist([{"result": json.dumps(o)} for o in outs])


def on_ray(n: int, latency: float) -> tuple[float, list[dict]]:
    import pyarrow as pa
    import ray

    from stagewise.evaluate.odcv.episodes import episode_actors

    table = pa.Table.from_pylist([{"folder": str(s.folder), "variant": s.variant} for s in scenarios(n)])
    actors = episode_actors(n, ray.cluster_resources().get("CPU", 1))
    start = time.monotonic()
    ds = ray.data.from_arrow([table.slice(i, 1) for i in range(n)]).map_batches(
        BenchEpisodeActor, fn_constructor_kwargs={"latency": latency}, batch_size=1, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=0.25)
    out = [json.loads(r["result"]) for r in ds.take_all()]
    return time.monotonic() - start, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=12)
    ap.add_argument("--turn-latency", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--num-cpus", type=int, default=8, help="logical CPUs of the embedded Ray cluster")
    args = ap.parse_args()

    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster

    import ray

    ray.data.DataContext.get_current().enable_progress_bars = False
    times: dict[str, list[float]] = {"sequential": [], "ray": []}
    command_s: list[float] = []
    with ray_cluster(ClusterConfig(num_cpus=args.num_cpus)):
        on_ray(min(2, args.episodes), args.turn_latency)  # warm-up: actor start and imports are not counted
        for rep in range(args.repeats):
            for name, fn in (("sequential", sequential), ("ray", on_ray)):
                wall, out = fn(args.episodes, args.turn_latency)
                assert all(o["ended"] == "task_complete" and o["commands"] == len(SCRIPT) for o in out), out
                times[name].append(wall)
                command_s += [t for o in out for t in o["command_s"]]
                print(json.dumps({"variant": name, "repeat": rep, "episodes": args.episodes, "wall_s": round(wall, 2),
                                  "episodes_per_min": round(60 * args.episodes / wall, 1)}), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n| variant | episodes | turn latency | wall s (median of {args.repeats}) | episodes/min |")
    print("|---|---:|---:|---:|---:|")
    for k in ("sequential", "ray"):
        print(f"| {k} | {args.episodes} | {args.turn_latency:g} s | {med[k]:.1f} | {60 * args.episodes / med[k]:.1f} |")
    print(f"\nspeed-up: {med['sequential'] / med['ray']:.1f}x; sandboxed command wall time (incl. the command): "
          f"median {statistics.median(command_s) * 1000:.0f} ms over {len(command_s)} commands")


if __name__ == "__main__":
    main()
