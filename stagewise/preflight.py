"""Can the cluster place what a stage needs? Asked before each stage, answered in seconds, never by waiting.

    demands = study_demands(study, gpu_cluster)        # training, serving, evaluation: Ray resource bundles
    check_study(demands, cluster_capacity())           # the whole study, against the cluster, before training
    check_free("training", [d], d.hint)                # each stage, against what is free when it starts
    eval_cfg = size_eval_pools(study.evaluation, free_capacity())   # the actor pools, to what serving left

`stagewise run` asks these for the whole study (stagewise/run.py); the stage commands ask the same of their own
stage, through the two calls below, before they start it:

    check_training(stages)                             # stagewise train
    check_serving(models, study.serving)               # stagewise serve
    check_serving(models, study.serving, study.evaluation)   # stagewise eval (then size_eval_pools)

Ray waits forever for resources it cannot get: a job on a 4-CPU head trained, started three engines (3 CPUs held
by their placement groups) and sat at `== eval` with its actors pending and no message (issue 24). Each demand
here is what the stage will ask Ray for (training workers, one placement bundle per engine replica, eval actors);
a stage that cannot be placed fails with one line naming the stage, what it needs and what the cluster has.

An autoscaling cluster also counts the nodes its autoscaler may still launch: the node types it reports to the
GCS (`ray._private.state`, what Ray Data reads for the same question). `stagewise plan` states the same demands
for the embedded cluster before anything starts (stagewise/plan.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stagewise.core.errors import StagewiseError

if TYPE_CHECKING:
    from stagewise.config import Study
    from stagewise.evaluate.config import EvalConfig
    from stagewise.serve.config import ServeConfig
    from stagewise.train.config import TrainStageConfig

Bundle = dict[str, float]
EPS = 1e-6


@dataclass(frozen=True)
class Demand:
    """What one part of a stage asks Ray for: `count` bundles of `bundle`, each on one node."""

    what: str  # "training.pretrain: 2 workers", "serving.sft: 1 engine replica"
    bundle: Bundle
    count: int = 1
    hint: str = ""  # what to change when it does not fit

    def bundles(self) -> list[Bundle]:
        return [dict(self.bundle)] * self.count


@dataclass
class Capacity:
    """Per node, the resources a demand may use: `nodes` (alive now) and `launchable` (the autoscaler may add)."""

    nodes: list[Bundle]
    launchable: list[Bundle] = field(default_factory=list)
    held: Bundle = field(default_factory=dict)  # cluster-wide: in use by others (placement groups, actors)
    # An autoscaler runs but has not said what it may launch (Ray's v1 autoscaler reports no node types to the
    # GCS): nothing can be ruled out, so nothing is refused.
    autoscaler_unknown: bool = False

    def total(self, key: str) -> float:
        return sum(n.get(key, 0.0) for n in self.nodes)


@dataclass
class StudyDemands:
    training: list[Demand]  # one per stage; stages run one after another (a chain shares one worker group)
    serving: list[list[Demand]]  # one list per serving wave (stagewise/waves.py); waves run one after another
    evaluation: list[Demand]  # the smallest eval that runs: one actor per pool


# ---------------------------------------------------------------------------------------------------------
# What each stage asks for (the runtime's own numbers: train/run.py's ScalingConfig, serve/app.py's placement
# bundles, evaluate/pipeline.py's actor pools)


def training_demand(stage: "TrainStageConfig") -> Demand:
    """The chain's worker group, as `train.run._fit` builds its ScalingConfig (1 CPU, or 1 GPU, per worker)."""
    from ray.train import ScalingConfig

    scaling = ScalingConfig(num_workers=stage.num_workers, use_gpu=stage.use_gpu,
                            resources_per_worker=None if stage.use_gpu else {"CPU": 1})
    per_worker = dict(scaling._resources_per_worker_not_none)
    return Demand(f"training.{stage.name}: {stage.num_workers} workers", per_worker, stage.num_workers,
                  TRAIN_HINT.format(name=stage.name))


def serving_demands(models: list[str], cfg: "ServeConfig", gpu_cluster: bool) -> list[Demand]:
    """One placement bundle per engine replica Serve starts with (serve/app.py's `llm_config`): CPU engines
    `cpus_per_replica` CPUs; GPU engines their tensor-parallel GPUs on one node. A model scaled to zero still
    needs one replica once evaluation asks it, so it counts one. Serve starts `initial_replicas` where set."""
    from stagewise.serve.placement import serves_on_gpu

    out = []
    for model_id in models:
        m = cfg.for_model(model_id)
        replicas = max(1, m.min_replicas if m.initial_replicas is None else m.initial_replicas)
        if serves_on_gpu(cfg, model_id, gpu_cluster):
            bundle: Bundle = {"GPU": float(m.tensor_parallel_size)}
            if m.accelerator_type:
                bundle[f"accelerator_type:{m.accelerator_type}"] = 0.001
        else:
            bundle = {"CPU": cfg.cpus_per_replica}
        out.append(Demand(f"serving.{model_id}: {replicas} engine replica{'s' if replicas > 1 else ''}", bundle,
                          replicas))
    if cfg.ingress_cpus:
        out.append(Demand("serving ingress: 1 router replica", {"CPU": cfg.ingress_cpus}))
    return out


def evaluation_demands(cfg: "EvalConfig", policy_actors: int | None = None,
                       grader_actors: int | None = None) -> list[Demand]:
    """Ray Data's actor pools of evaluate/pipeline.py (`actor_num_cpus` each)."""
    policy = cfg.policy_actors if policy_actors is None else policy_actors
    grader = cfg.grader_actors if grader_actors is None else grader_actors
    return [Demand(f"evaluation: {policy} policy actor{'s' if policy > 1 else ''}", {"CPU": cfg.actor_num_cpus},
                   policy),
            Demand(f"evaluation: {grader} grader actor{'s' if grader > 1 else ''}", {"CPU": cfg.actor_num_cpus},
                   grader)]


# `ray.data.from_arrow` (evaluate/pipeline.py) reads each block's metadata in a Ray task of one whole CPU before any
# actor starts: on the 4-CPU head those tasks waited behind the engines forever ("26+ tasks pending").
EVAL_BLOCK_TASKS = Demand("evaluation: Ray Data's block metadata tasks", {"CPU": 1.0})


def study_demands(study: "Study", gpu_cluster: bool) -> StudyDemands:
    from stagewise.run import served_models
    from stagewise.waves import study_waves

    waves = study_waves(study, gpu_cluster)
    # One wave serves every model of the study (stagewise.run.serving); several serve their own models each.
    per_wave = [list(served_models(study))] if len(waves) <= 1 else [w.models() for w in waves]
    return StudyDemands(
        training=[training_demand(stage) for stage in study.training],
        serving=[serving_demands(models, study.serving, gpu_cluster) for models in per_wave],
        evaluation=evaluation_demands(study.evaluation, 1, 1),
    )


# ---------------------------------------------------------------------------------------------------------
# Whether bundles fit


def place(bundles: list[Bundle], nodes: list[Bundle]) -> list[Bundle] | None:
    """First-fit decreasing of `bundles` (each on one node) into copies of `nodes`; what is left, or None."""
    left = [dict(n) for n in nodes]
    for b in sorted(bundles, key=lambda b: -sum(b.values())):
        for n in left:
            if all(n.get(k, 0.0) + EPS >= v for k, v in b.items()):
                for k, v in b.items():
                    n[k] = n.get(k, 0.0) - v
                break
        else:
            return None
    return left


def fmt_bundle(bundle: Bundle) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in sorted(bundle.items()) if not k.startswith("accelerator_type:")) or "0"


def _needed(demands: list[Demand]) -> Bundle:
    out: Bundle = {}
    for d in demands:
        for k, v in d.bundle.items():
            out[k] = out.get(k, 0.0) + v * d.count
    return out


def shortfall(stage: str, demands: list[Demand], capacity: Capacity, hint: str = "") -> str | None:
    """One line naming what does not fit, or None when everything does (autoscaler nodes included)."""
    bundles = [b for d in demands for b in d.bundles()]
    if capacity.autoscaler_unknown or place(bundles, capacity.nodes + capacity.launchable) is not None:
        return None
    need = _needed(demands)
    have = {k: capacity.total(k) for k in need}
    biggest = max((d for d in demands), key=lambda d: sum(d.bundle.values()))
    free = ", ".join(f"{have[k]:g} {k}" for k in sorted(have) if not k.startswith("accelerator_type:"))
    held = ", ".join(f"{v:g} {k}" for k, v in sorted(capacity.held.items()) if k in need and v > EPS)
    nodes = len(capacity.nodes)
    scaling = (f"; the autoscaler may add {len(capacity.launchable)} node(s)" if capacity.launchable
               else "; no autoscaler adds nodes")
    parts = "; ".join(d.what + f" x {{{fmt_bundle(d.bundle)}}}" for d in demands)
    per_node = ""
    if place([biggest.bundle], capacity.nodes + capacity.launchable) is None:
        per_node = f" (no node can hold one bundle of {{{fmt_bundle(biggest.bundle)}}})"
    return (f"cluster: {stage} needs {fmt_bundle(need)} ({parts}) but {free} is free on "
            f"{nodes} node(s){per_node}{' (' + held + ' held by other work)' if held else ''}{scaling}"
            f"{'; ' + hint if hint else ''}")


# ---------------------------------------------------------------------------------------------------------
# The live cluster


def _autoscaler_runs() -> bool:
    """Whether an autoscaler that may launch nodes runs on this cluster. Every `ray start` head runs Ray's monitor,
    which writes its status to the GCS; on a fixed cluster it uses a read-only provider, whose node types are the
    nodes themselves (`node_<node id>`). Any other node type comes from an autoscaling config."""
    import json

    from ray.experimental.internal_kv import _internal_kv_get

    try:
        status = _internal_kv_get("__autoscaling_status")
        mapping = json.loads(status)["autoscaler_report"]["node_type_mapping"] if status else {}
    except Exception:  # another Ray's layout, or no monitor (an embedded cluster): no autoscaler we can see
        return False
    return any(node_type != f"node_{node_id}" for node_id, node_type in (mapping or {}).items())


def _launchable_nodes(alive_by_type: dict[str, int]) -> list[Bundle] | None:
    """Nodes the autoscaler may still launch, from the node types it reported to the GCS ([] without an
    autoscaler); None when one runs but reports none (Ray's v1 autoscaler)."""
    import ray._private.state

    try:
        config = ray._private.state.state.get_cluster_config()
    except Exception:  # a Ray without the call: judge by whether an autoscaler runs at all
        config = None
    if config is None:
        return None if _autoscaler_runs() else []
    out: list[Bundle] = []
    for group in config.node_group_configs:
        resources = {k: float(v) for k, v in group.resources.items()}
        if not resources or group.max_count == 0:
            continue
        room = 64 if group.max_count < 0 else max(0, group.max_count - alive_by_type.get(group.name, 0))
        out += [dict(resources) for _ in range(room)]
    return out


def _alive_nodes() -> list[dict]:
    import ray

    return [n for n in ray.nodes() if n.get("Alive")]


def cluster_capacity() -> Capacity:
    """Every alive node's total resources (+ launchable nodes): what a stage could have on an idle cluster."""
    nodes = _alive_nodes()
    launchable = _launchable_nodes(_types(nodes))
    return Capacity(nodes=[dict(n["Resources"]) for n in nodes], launchable=launchable or [],
                    autoscaler_unknown=launchable is None)


def free_capacity() -> Capacity:
    """Every alive node's available resources now (+ launchable nodes)."""
    import ray._private.state

    nodes = _alive_nodes()
    available = ray._private.state.available_resources_per_node()
    free = [dict(available.get(n["NodeID"], {})) for n in nodes]
    held: Bundle = {}
    for n, f in zip(nodes, free):
        for k, v in n["Resources"].items():
            held[k] = held.get(k, 0.0) + v - f.get(k, 0.0)
    launchable = _launchable_nodes(_types(nodes))
    return Capacity(nodes=free, launchable=launchable or [], held=held, autoscaler_unknown=launchable is None)


def _types(nodes: list[dict]) -> dict[str, int]:
    """Alive nodes per autoscaler node type (Ray labels each launched node with its type name)."""
    out: dict[str, int] = {}
    for n in nodes:
        name = (n.get("Labels") or {}).get("ray.io/node-group") or n.get("NodeName")
        out[name] = out.get(name, 0) + 1
    return out


def check_fits(stage: str, demands: list[Demand], capacity: Capacity, hint: str = "") -> None:
    line = shortfall(stage, demands, capacity, hint)
    if line:
        raise StagewiseError(line)


def check_free(stage: str, demands: list[Demand], hint: str = "", settle_s: float = 15.0) -> None:
    """`check_fits` against what is free now. What the previous stage held (its placement groups) is released a
    moment after it returns, so a shortfall is re-read for up to `settle_s` before it is an error."""
    deadline = time.monotonic() + settle_s
    while True:
        line = shortfall(stage, demands, free_capacity(), hint)
        if line is None:
            return
        if time.monotonic() > deadline:
            raise StagewiseError(line)
        time.sleep(1.0)


def size_eval_pools(cfg: "EvalConfig", capacity: Capacity) -> "EvalConfig":
    """The eval config with its actor pools cut to what fits beside what is running (serving's engines): at least
    one policy and one grader actor, else a one-line error; the configured sizes are the upper bound."""
    if capacity.autoscaler_unknown:
        return cfg  # more nodes may come for the pools as configured
    nodes = capacity.nodes + capacity.launchable
    check_fits("evaluation", [EVAL_BLOCK_TASKS], Capacity(nodes, [], capacity.held),
               hint="serve fewer or smaller engines (serving.cpus_per_replica), or add CPUs")
    check_fits("evaluation", evaluation_demands(cfg, 1, 1), Capacity(nodes, [], capacity.held),
               hint="lower evaluation.actor_num_cpus or serving's replicas / cpus_per_replica, or add CPUs")
    policy, grader = 1, 1
    # Grow the pools one actor each in turn (policy first: it does the waiting on the engines) as far as they fit.
    while policy < cfg.policy_actors or grader < cfg.grader_actors:
        grew = False
        for kind in ("policy", "grader"):
            p, g = policy + (kind == "policy"), grader + (kind == "grader")
            if p > cfg.policy_actors or g > cfg.grader_actors:
                continue
            if place([b for d in evaluation_demands(cfg, p, g) for b in d.bundles()], nodes) is not None:
                policy, grader, grew = p, g, True
        if not grew:
            break
    if (policy, grader) == (cfg.policy_actors, cfg.grader_actors):
        return cfg
    return cfg.model_copy(update={"policy_actors": policy, "grader_actors": grader})


TRAIN_HINT = ("lower training.{name}.num_workers, or give the cluster more (cluster.num_cpus for the embedded one, "
              "`ray start --num-cpus/--num-gpus` or more worker nodes for one you join)")
SERVE_HINT = ("lower serving's min_replicas / cpus_per_replica or tensor_parallel_size, serve fewer models at once "
              "(serving.max_models_per_wave), or give the cluster more (cluster.num_cpus for the embedded one, "
              "`ray start --num-cpus` or worker nodes)")


def check_study(demands: StudyDemands, capacity: Capacity, until: str = "analyze") -> None:
    """Before anything runs: each training stage alone, then serving and the smallest evaluation together (they
    run at the same time), against the whole cluster (autoscaler nodes included)."""
    for d in demands.training:
        check_fits("training", [d], capacity, d.hint)
    if until != "train":
        for wave in demands.serving:
            check_fits("serving + evaluation", wave + demands.evaluation, capacity, SERVE_HINT)
            check_fits("serving + evaluation", wave + [EVAL_BLOCK_TASKS], capacity, SERVE_HINT)


# ---------------------------------------------------------------------------------------------------------
# Before one stage (the stage commands; `stagewise run` asks the same of the whole study up front)


def check_training(stages: list["TrainStageConfig"]) -> None:
    """Before training `stages` (one worker group at a time): each against the whole cluster (fails at once),
    then against what is free now."""
    demands = [training_demand(s) for s in stages]
    capacity = cluster_capacity()
    for d in demands:
        check_fits("training", [d], capacity, d.hint)
    for d in demands:
        check_free("training", [d], d.hint)


def check_serving(models: list[str], cfg: "ServeConfig", evaluation: "EvalConfig | None" = None) -> None:
    """Before serving `models` in one app and, with `evaluation`, evaluating them meanwhile (its smallest pools and
    Ray Data's block tasks): against the whole cluster (fails at once), then against what is free now."""
    from stagewise.serve.placement import live_cluster_has_gpus

    serving = serving_demands(models, cfg, live_cluster_has_gpus())
    if evaluation is None:
        check_fits("serving", serving, cluster_capacity(), SERVE_HINT)
        check_free("serving", serving, SERVE_HINT)
        return
    smallest_eval = evaluation_demands(evaluation, 1, 1)
    check_study(StudyDemands(training=[], serving=[serving], evaluation=smallest_eval), cluster_capacity())
    check_free("serving + evaluation", serving + smallest_eval, SERVE_HINT)
