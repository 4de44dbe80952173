"""Evaluate a study's served models: items -> policy actors -> grader actors -> result store, on Ray Data.

    results_dir = run_evaluation(study.evaluation, study.context(), served)   # inside a Ray cluster, models served

What is already stored is never redone: the driver compares the keys a study asks for (model and the checkpoint
it serves x benchmark item and its exact input x sample x sampling x autorater version) with the store, sends
items without a generation through the policy stage, and stored generations that only lack a grade (e.g. a new
or changed autorater) straight to the grader stage. Stored rows the study no longer asks for (a retrained model,
an edited item) are counted, named in the log and kept; the analysis leaves them out. The driver is the only
writer: it writes each finished batch as new Parquet files
(atomically, see evaluate/store.py) and drops any key it has already written, so a kill at any point
followed by a rerun gives exactly the rows of an uninterrupted run.

A worker node lost mid-run costs no rows and no rerun: the actors it held restart on another node and their
unfinished batches run again there (`RESTART_ON_NODE_LOSS`), and blocks lost with the node's object store are
rebuilt by Ray from their lineage. That lineage starts at the driver, which owns and stores the input blocks
and the actors' constructor arguments: only the driver's own node has to survive
(tests/cluster/test_lost_nodes_eval.py).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from stagewise.evaluate.registry import Autorater, Benchmark, get_autorater, get_benchmark
from stagewise.core.checkpoints import checkpoint_identity
from stagewise.evaluate.facts import refresh_metrics
from stagewise.evaluate.schema import GENERATION_SCHEMA, generation_key, graded_key, item_input_hash, sampling_hash
from stagewise.evaluate.store import ResultStore
from stagewise.core.errors import StagewiseError

if TYPE_CHECKING:
    from stagewise.core.context import ModelRef, RunContext
    from stagewise.evaluate.config import EvalConfig
    from stagewise.serve.client import ServedApp
    from stagewise.serve.client import ServeClient

log = logging.getLogger(__name__)

DEFAULT_AUTORATERS = ({"name": "refusal-rules", "kind": "rules"},)
# Every eval actor restarts, on any node, as often as it dies, and retries the batches it was given: Ray Data's
# defaults in Ray 2.60, set here because the no-lost-rows promise above rests on them.
RESTART_ON_NODE_LOSS = {"max_restarts": -1, "max_task_retries": -1}


@dataclass
class Work:
    """What a run has to do: new generations (then grades), and grades of stored generations."""

    to_generate: list[dict[str, Any]] = field(default_factory=list)
    to_grade: list[dict[str, Any]] = field(default_factory=list)
    graded_rows: int = 0  # graded rows this run will add
    done_rows: int = 0  # graded rows already stored
    excluded: dict[str, dict[str, int]] = field(default_factory=dict)  # benchmark -> reason -> count
    # (model, benchmark) -> why -> stored graded rows this study no longer asks for (kept, out of the analysis)
    superseded: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    wanted: set[str] = field(default_factory=set)  # every graded key the study asks for (stored or to do)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # benchmark -> Benchmark.provenance


def results_dir(ctx: "RunContext") -> Path:
    return Path(ctx.output_dir) / "results"


def evaluated_models(cfg: "EvalConfig", ctx: "RunContext") -> dict[str, "ModelRef"]:
    """The models a study evaluates: those `evaluation.models` names, else every policy model, in study order."""
    chosen = cfg.models or [mid for mid, m in ctx.models.items() if m.role == "policy"]
    return {mid: ctx.models[mid] for mid in chosen}


def resolved_sampling(cfg: "EvalConfig", seed: int) -> dict[str, Any]:
    s = cfg.sampling
    return {"temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens,
            "seed": seed if s.seed is None else s.seed}


def autorater_settings(cfg: "EvalConfig") -> dict[str, dict[str, Any]]:
    """Autorater name -> constructor kwargs, checked against the registry."""
    configs = [a.model_dump() for a in cfg.autoraters] or list(DEFAULT_AUTORATERS)
    out = {}
    for a in configs:
        rater = get_autorater(a["name"])  # unknown names fail here with the registered list
        if rater.kind != a["kind"]:
            raise StagewiseError(f"evaluation.autoraters.{a['name']}.kind: {a['kind']!r}, but {a['name']} is {rater.kind!r}")
        out[a["name"]] = {"judge_model": a.get("judge_model"), "max_retries": a.get("max_retries", 2),
                          "mode": a.get("mode", "chat"), "template": a.get("template")}
    return out


def benchmark_raters(bench: Benchmark, configured: list[str], settings: dict[str, dict]) -> list[str]:
    """The autoraters that grade a benchmark: those named for it, or every configured one that fits it."""
    if configured:
        return configured
    fitting = [name for name in settings if name in bench.autoraters]
    if not fitting:
        raise StagewiseError(
            f"evaluation.benchmarks.{bench.name}.autoraters: none of {', '.join(settings)} fits {bench.name} "
            f"(fits: {', '.join(bench.autoraters)})"
        )
    return fitting


def check_inputs(cfg: "EvalConfig") -> None:
    """Read every benchmark file and resolve every autorater as the run will, before any cluster starts."""
    settings = autorater_settings(cfg)
    used: set[str] = set()
    for bcfg in cfg.benchmarks:
        bench = get_benchmark(bcfg.name)
        bench.read(bcfg.path, bcfg.limit)
        used.update(benchmark_raters(bench, bcfg.autoraters, settings))
    for name in sorted(used):
        get_autorater(name, **settings.get(name, {})).check()


def plan(cfg: "EvalConfig", ctx: "RunContext", store: ResultStore) -> Work:
    """Compare what the study asks for with what the store holds."""
    settings = autorater_settings(cfg)
    raters: dict[str, Autorater] = {n: get_autorater(n, **kw) for n, kw in settings.items()}
    sampling = resolved_sampling(cfg, ctx.seed)
    samp_json, samp_hash = json.dumps(sampling, sort_keys=True), sampling_hash(sampling)
    models = evaluated_models(cfg, ctx)
    work = Work()
    for bcfg in cfg.benchmarks:
        bench = get_benchmark(bcfg.name)
        report = bench.read(bcfg.path, bcfg.limit)
        work.sources[bench.name] = report.provenance
        if report.excluded:
            work.excluded[bench.name] = report.excluded
            log.warning("%s: excluded %s", bench.name, ", ".join(f"{n} {r}" for r, n in report.excluded.items()))
        names = benchmark_raters(bench, bcfg.autoraters, settings)
        versions = {n: raters[n].version for n in names}
        hashes = {item["item_id"]: item_input_hash(item) for item in report.items}
        for model_id, model in models.items():
            checkpoint = checkpoint_identity(model.path)
            done = store.keys("grades", model_id, bench.name)
            stored = _stored_generations(store, model_id, bench.name)
            wanted: set[str] = set()
            # Sample-major: a batch then holds one sample index (one seed), so the policy stage sends it as a
            # few full requests rather than one small request per sample index.
            for s in range(bcfg.samples):
                for item in report.items:
                    row = {**item, "model": model_id, "checkpoint": checkpoint, "input_hash": hashes[item["item_id"]],
                           "stage": model.stage, "sample_idx": s, "sampling": samp_json, "sampling_hash": samp_hash}
                    keys = {n: graded_key(row, versions[n], bench.metric_version) for n in names}
                    wanted.update(keys.values())
                    todo = [n for n in names if keys[n] not in done]
                    work.done_rows += len(names) - len(todo)
                    if not todo:
                        continue
                    work.graded_rows += len(todo)
                    gkey = generation_key(row)
                    if gkey in stored:
                        work.to_grade.append({**stored[gkey], "todo": todo, "new_generation": False})
                    else:
                        work.to_generate.append({**row, "response": None, "finish_reason": None, "created_at": None,
                                                 "todo": todo, "new_generation": True})
            work.wanted |= wanted
            if len(done - wanted):
                why = _superseded(store, model_id, bench.name, wanted, checkpoint, hashes)
                work.superseded[(model_id, bench.name)] = why
                log.warning("eval: %s on %s: %d stored graded rows superseded (%s); kept in the store, left out of "
                            "the analysis", model_id, bench.name, sum(why.values()),
                            ", ".join(f"{n} {r}" for r, n in sorted(why.items())))
    return work


def _stored_generations(store: ResultStore, model: str, benchmark: str) -> dict[str, dict[str, Any]]:
    return {generation_key(r): r for r in store.read("generations", model, benchmark).to_pylist()}


def _superseded(store: ResultStore, model: str, benchmark: str, wanted: set[str], checkpoint: str,
                hashes: dict[str, str]) -> dict[str, int]:
    """Why stored graded rows are no longer asked for, most telling reason first."""
    t = store.read("grades", model, benchmark, columns=["key", "checkpoint", "item_id", "input_hash"])
    why: dict[str, int] = {}
    for key, ckpt, item_id, ihash in zip(*(t.column(c).to_pylist() for c in t.column_names)):
        if key in wanted:
            continue
        if ckpt != checkpoint:
            reason = "checkpoint changed"
        elif item_id not in hashes:
            reason = "item no longer in the benchmark"
        elif ihash != hashes[item_id]:
            reason = "item text changed"
        else:
            reason = "sampling, samples or autorater changed"
        why[reason] = why.get(reason, 0) + 1
    return why


def serve_client(cfg: "EvalConfig", served: "ServedApp", model_ids: list[str],
                 ctx: "RunContext | None" = None) -> "ServeClient":
    """The client the actors use: batched `/completions` with the models' own chat templates, or chat requests.

    Retries back off up to ~2 min in all, enough for Serve to restart a killed engine replica.
    """
    from stagewise.serve.client import ServeClient

    tokenizers = None
    if cfg.endpoint == "completions":
        tokenizers = {m: (served.models or {}).get(m) or (ctx.model_path(m) if ctx else m) for m in model_ids}
    return ServeClient(served.base_url, served.api_key, max_concurrency=cfg.concurrency, timeout_s=cfg.request_timeout_s,
                       max_retries=8, backoff_s=1.0, max_backoff_s=30.0, tokenizers=tokenizers,
                       batch_size=cfg.prompts_per_request)


def run_evaluation(cfg: "EvalConfig", ctx: "RunContext", served: "ServedApp", *, progress: bool = True) -> Path:
    """Evaluate every evaluated model (`evaluated_models`) on every configured benchmark; does only what the
    store lacks.

    Needs a running Ray cluster (`stagewise.cluster.local.ray_cluster`) and a Serve app serving those models and
    the judges (`stagewise.serve.app.start_app`). Returns the results dir (`<output_dir>/results`).
    """
    store = ResultStore(results_dir(ctx))
    refresh_metrics(store)  # rows graded under older metric definitions: re-derived and re-keyed, not re-graded
    work = plan(cfg, ctx, store)
    store.write_sources(work.sources)
    log.info("eval: %d graded rows stored, %d to do (%d generations, %d re-grades)",
             work.done_rows, work.graded_rows, len(work.to_generate), len(work.to_grade))
    if work.graded_rows:
        _run_pipeline(cfg, ctx, served, store, work, progress)
    from stagewise.evaluate.tracking import log_evaluation

    log_evaluation(cfg, ctx, store, work.wanted, work.sources)
    return store.root


def _blocks(rows: list[dict[str, Any]], schema: pa.Schema, size: int) -> list[pa.Table]:
    """Rows as several Arrow blocks, so Ray Data can spread them over the actor pool."""
    table = pa.Table.from_pylist(rows, schema=schema)
    return [table.slice(i, size) for i in range(0, table.num_rows, size)]


def _run_pipeline(cfg: "EvalConfig", ctx: "RunContext", served: "ServedApp", store: ResultStore, work: Work,
                  progress: bool) -> None:
    import ray
    from tqdm import tqdm

    from stagewise.evaluate.actors import FLIGHT_SCHEMA, GraderActor, PolicyActor

    ray.data.DataContext.get_current().enable_progress_bars = False  # ours below counts graded rows
    settings = autorater_settings(cfg)
    # A judge_model may name several judges, comma-separated (odcv-judge takes their median).
    judges = sorted({j.strip() for kw in settings.values() if kw["judge_model"] for j in kw["judge_model"].split(",")})
    policy_ids = sorted({r["model"] for r in work.to_generate})
    for mid in policy_ids + judges:
        if mid not in served.model_ids:
            raise StagewiseError(f"evaluation: model {mid!r} is not served at {served.base_url} (serves: {', '.join(served.model_ids)})")

    actor_args = {"num_cpus": cfg.actor_num_cpus, "batch_size": cfg.batch_size, "batch_format": "pyarrow",
                  **RESTART_ON_NODE_LOSS}
    parts = []
    agentic = {b for b in {r["benchmark"] for r in work.to_generate} if getattr(get_benchmark(b), "agentic", False)}
    single = [r for r in work.to_generate if r["benchmark"] not in agentic]
    episodes = [r for r in work.to_generate if r["benchmark"] in agentic]
    if single:
        single_ids = sorted({r["model"] for r in single})
        client = serve_client(cfg, served, single_ids, ctx)
        for mid in single_ids:  # here, where transformers is loaded once, not in every actor
            client.prerender(mid, [r["messages"] for r in single if r["model"] == mid])
        generated = ray.data.from_arrow(_blocks(single, FLIGHT_SCHEMA, cfg.batch_size)).map_batches(
            PolicyActor, fn_constructor_kwargs={"client": client},
            compute=ray.data.ActorPoolStrategy(size=cfg.policy_actors), **actor_args,
        )
        parts.append(generated)
    if work.to_grade:
        parts.append(ray.data.from_arrow(_blocks(work.to_grade, FLIGHT_SCHEMA, cfg.batch_size)))
    grader = {"fn_constructor_kwargs": {"autoraters": settings,
                                        "client": serve_client(cfg, served, judges, ctx) if judges else None},
              "compute": ray.data.ActorPoolStrategy(size=cfg.grader_actors), "num_cpus": cfg.actor_num_cpus,
              "batch_format": "pyarrow", **RESTART_ON_NODE_LOSS}
    graded_parts = []
    if parts:
        flight = parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])
        graded_parts.append(flight.map_batches(GraderActor, batch_size=cfg.batch_size, **grader))
    if episodes:
        # Graded one by one, not gathered into batch_size rows first: each finished episode reaches the store
        # (and survives a kill) minutes before the last one ends.
        graded_parts.append(_episode_stage(cfg, served, episodes).map_batches(GraderActor, batch_size=1, **grader))
    graded = graded_parts[0] if len(graded_parts) == 1 else graded_parts[0].union(*graded_parts[1:])
    seen_grades = store.keys("grades")
    seen_generations = store.keys("generations")
    with tqdm(total=work.graded_rows, desc="eval: graded rows", unit="row", disable=not progress) as bar:
        for batch in graded.iter_batches(batch_size=None, batch_format="pyarrow"):
            _write_batch(store, batch, seen_grades, seen_generations)
            bar.update(batch.num_rows)


def _episode_stage(cfg: "EvalConfig", served: "ServedApp", episodes: list[dict[str, Any]]):
    """Agentic items (ODCV): one episode per row, as many at once as the cluster has CPUs, through the chat
    endpoint (an episode's conversation grows turn by turn: nothing to pre-render)."""
    import ray

    from stagewise.evaluate.actors import FLIGHT_SCHEMA
    from stagewise.evaluate.odcv.episodes import EpisodeActor, episode_actors
    from stagewise.serve.client import ServeClient

    client = ServeClient(served.base_url, served.api_key, max_concurrency=cfg.concurrency,
                         timeout_s=cfg.request_timeout_s, max_retries=8, backoff_s=1.0, max_backoff_s=30.0)
    actors = episode_actors(len(episodes), ray.cluster_resources().get("CPU", 1))
    log.info("eval: %d agent episodes on %d episode actors", len(episodes), actors)
    # One row per block and batch: an episode is minutes of work, and each finished one is stored on its own.
    return ray.data.from_arrow(_blocks(episodes, FLIGHT_SCHEMA, 1)).map_batches(
        EpisodeActor, fn_constructor_kwargs={"client": client}, compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cfg.actor_num_cpus, batch_size=1, batch_format="pyarrow", **RESTART_ON_NODE_LOSS,
    )


def _write_batch(store: ResultStore, batch: pa.Table, seen_grades: set[str], seen_generations: set[str]) -> None:
    """Write the batch's new generations, then its grades; keys already written are dropped."""
    rows = batch.to_pylist()
    gens = {}
    for r in rows:
        if r["new_generation"]:
            gkey = generation_key(r)
            if gkey not in seen_generations and gkey not in gens:
                gens[gkey] = {**{k: r[k] for k in GENERATION_SCHEMA.names}, "created_at": r["generated_at"]}
    # Generations first: a kill between the two writes leaves generations whose grades a rerun adds.
    store.write("generations", pa.Table.from_pylist(list(gens.values()), schema=GENERATION_SCHEMA))
    seen_generations.update(gens)
    # A Python set lookup per row: building an Arrow value set of every key seen so far for each batch would
    # make a long evaluation quadratic in its row count.
    fresh = pa.array([k not in seen_grades for k in batch.column("key").to_pylist()], pa.bool_())
    grades = batch.filter(fresh).drop_columns(["new_generation", "generated_at"])
    store.write("grades", grades)
    seen_grades.update(grades.column("key").to_pylist())
