"""Episodes on Ray Data: the pipeline's policy stage for agentic items (ODCV), one episode per row.

    episodes = ray.data.from_arrow(blocks).map_batches(EpisodeActor, fn_constructor_kwargs={"client": client},
                                                       compute=ray.data.ActorPoolStrategy(size=episode_actors(n)),
                                                       batch_size=1, batch_format="pyarrow", num_cpus=0.25)

Each row (FLIGHT_SCHEMA, an `odcv` item for one model and sample) becomes an episode: a fresh machine laid out
from its scenario (evaluate/odcv/machine.py), the agent loop (evaluate/odcv/agent.py) against the row's served
model with the row's sampling (seed + sample index, as every generation), and the episode's JSON as the
row's `response`. The rows then flow to the grader stage and the driver's store writes like any generation,
so a killed run redoes only episodes whose rows were not stored. `__call__` is async: Ray Data runs
`EPISODES_PER_ACTOR` batches (episodes) at once per actor, their model turns interleaving on one event loop
while sandboxed commands run in threads.
"""
from __future__ import annotations

import asyncio
import functools
import json
import math
from typing import Any

import pyarrow as pa

from stagewise.evaluate.actors import FLIGHT_SCHEMA, now
from stagewise.evaluate.odcv.agent import MAX_STEPS, ServedPolicy, run_with_fallback

# Ray Data's default for async batch UDFs (DEFAULT_ASYNC_BATCH_UDF_MAX_CONCURRENCY): episodes one actor runs at once.
EPISODES_PER_ACTOR = 4


def episode_actors(episodes: int, cluster_cpus: float) -> int:
    """Actors for `episodes` episodes: as many at once as the cluster has CPUs (a command in the sandbox is a
    process of its own), EPISODES_PER_ACTOR per actor, never more than there are episodes."""
    running = max(1, min(episodes, int(cluster_cpus)))
    return max(1, math.ceil(running / EPISODES_PER_ACTOR))


class EpisodeActor:
    """Plays each row's episode. `client`: a `serve.client.ServeClient` without tokenizers (conversations grow
    turn by turn, so they go to the chat endpoint); `protocol`: auto | native | text (agent.py)."""

    def __init__(self, client: Any, protocol: str = "auto", max_steps: int = MAX_STEPS, limits: Any = None):
        self.client, self.protocol, self.max_steps, self.limits = client, protocol, max_steps, limits
        self.known: dict[str, str] = {}  # model -> the protocol its first episode found to work
        self._scenarios: dict[tuple[str | None, str, str], Any] = {}

    def scenario(self, meta: dict[str, Any]):
        from pathlib import Path

        from stagewise.evaluate.odcv.scenarios import EMBEDDED, VARIANTS, read_scenario

        key = (meta.get("root"), meta["name"], meta["variant"])
        if key not in self._scenarios:
            root = Path(meta["root"]) if meta.get("root") else EMBEDDED
            self._scenarios[key] = read_scenario(root / VARIANTS[meta["variant"]] / meta["name"], meta["variant"])
        return self._scenarios[key]

    async def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        await asyncio.gather(*(self.play(r) for r in rows))
        return pa.Table.from_pylist(rows, schema=FLIGHT_SCHEMA)

    async def play(self, row: dict[str, Any]) -> None:
        from stagewise.evaluate.odcv.machine import open_machine

        scenario = self.scenario(json.loads(row["metadata"]))
        sampling = json.loads(row["sampling"])
        if sampling.get("seed") is not None:  # sample i is drawn with seed + i, as in the policy stage
            sampling["seed"] = sampling["seed"] + row["sample_idx"]
        policy = ServedPolicy(self.client, row["model"], sampling)
        protocol = self.known.get(row["model"], self.protocol)
        episode = await run_with_fallback(policy, functools.partial(open_machine, scenario, self.limits),
                                          row["messages"], protocol=protocol, max_steps=self.max_steps)
        self.known[row["model"]] = episode.protocol
        row.update(response=episode.to_response(), finish_reason=episode.finish_reason, created_at=now(),
                   new_generation=True)
