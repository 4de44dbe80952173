"""The resource plan of a study, before it runs: GPUs, memory per GPU and hours per stage.

    stagewise plan configs/olmo2-7b.yaml                 # print it (stagewise/commands/plan.py)
    plan = plan_study(load_study("configs/olmo2-7b.yaml")); print(format_plan(plan))

Memory for training is DeepSpeed's own ZeRO estimate of model states plus an activation estimate; serving
is bf16 weights over the tensor-parallel group plus one max-length sequence of KV cache; call counts come
from benchmark sizes; hours come from FLOPs over the stated MFU assumptions (`cluster.throughput`). A plan
that cannot fit (a stage too big for the GPUs given, a tensor-parallel group wider than a node, more GPUs
than the cluster may scale to) raises StagewiseError naming the stage and the reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from stagewise.cluster.architectures import ModelShape, model_shape, shape_from_config, shape_from_params
from stagewise.config import Study
from stagewise.core.errors import StagewiseError
from stagewise.core.records import read_records
from stagewise.evaluate.pipeline import evaluated_models
from stagewise.serve.placement import serves_on_gpu
from stagewise.train.config import TrainStageConfig
from stagewise.train.objectives import get_objective

GB = 1e9

# Row counts of public hub datasets the shipped configs train on ("939k rows" on the Hub dataset viewer).
KNOWN_DATASET_ROWS = {
    "allenai/tulu-3-sft-olmo-2-mixture": 939_000,
}

@dataclass
class TrainPlan:
    stage: str
    device: str  # "GPU" | "CPU"
    workers: int
    nodes: int
    zero_stage: int
    offload_optimizer: bool
    params: int
    model_states_gb: float  # per device, DeepSpeed's estimate
    activations_gb: float | None
    capacity_gb: float | None  # usable memory per GPU; None on CPU
    steps: int
    tokens: int
    tokens_per_s_per_worker: float
    hours: float

    @property
    def per_device_gb(self) -> float:
        return self.model_states_gb + (self.activations_gb or 0.0)


@dataclass
class ServePlan:
    model: str
    role: str
    device: str
    tensor_parallel_size: int
    replicas: int
    devices: int  # GPUs (or CPUs on CPU) at max_replicas
    weights_gb_per_gpu: float
    kv_gb_per_sequence: float | None  # one max_model_len sequence, per GPU of the group
    concurrent_sequences: int | None  # how many max-length sequences the KV cache holds
    max_model_len: int


@dataclass
class BenchmarkPlan:
    name: str
    items: int | None
    items_from: str
    generations: int | None
    judge_calls: dict[str, int] = field(default_factory=dict)  # judge model id -> calls


@dataclass
class EvalPlan:
    benchmarks: list[BenchmarkPlan]
    generation_hours: dict[str, float]  # policy model id -> hours
    judge_hours: dict[str, float]  # judge model id -> hours
    hours: float | None


@dataclass
class StudyPlan:
    study: str
    gpu_type: str
    gpu_memory_gb: float
    gpus_per_node: int
    max_nodes: int
    train: list[TrainPlan]
    serve: list[ServePlan]
    serve_gpus: int
    serve_nodes: int
    evaluation: EvalPlan
    assumptions: list[str]


# ---------------------------------------------------------------------------------------------------------
# Model sizes


def resolve_shape(study: Study, model_id_or_source: str, where: str, _seen: frozenset = frozenset()) -> ModelShape:
    """The shape of a study model id (following training lineage), a local dir or a hub id."""
    override = study.cluster.models_params_b
    if model_id_or_source in override:
        return shape_from_params(override[model_id_or_source])
    ids = {m.id for m in study.models}
    if model_id_or_source in ids and model_id_or_source not in _seen:
        spec = study.model(model_id_or_source)
        if spec.source is not None:
            return resolve_shape(study, spec.source, f"models.{spec.id}.source", _seen | {spec.id})
        stage = next(s for s in study.training if s.output == spec.id)  # the Study validator guarantees one
        return resolve_shape(study, stage.init, f"training.{stage.name}.init", _seen | {spec.id})
    if model_id_or_source == "tiny":
        t = study.tiny
        return shape_from_config(dict(
            model_type="llama", vocab_size=t.vocab_size, hidden_size=t.hidden_size,
            intermediate_size=t.intermediate_size, num_hidden_layers=t.num_layers, num_attention_heads=t.num_heads,
            num_key_value_heads=t.num_kv_heads, max_position_embeddings=t.max_position_embeddings,
            tie_word_embeddings=True))
    shape = model_shape(model_id_or_source)
    if shape is None:
        raise StagewiseError(
            f"{where}: cannot size {model_id_or_source!r} (no local config.json, not a known architecture); "
            f"add its parameter count in billions under cluster.models_params_b")
    return shape


# ---------------------------------------------------------------------------------------------------------
# Training


def _training_rows(stage: TrainStageConfig, where: str) -> int:
    """Rows of a stage's data as its objective reads them (local files), or a hub dataset's published size."""
    objective = get_objective(stage.objective)
    rows = 0
    for path in stage.data:
        if Path(path).is_file():
            rows += len(objective.read([path]))
        elif path in KNOWN_DATASET_ROWS:
            rows += KNOWN_DATASET_ROWS[path]
        else:
            raise StagewiseError(
                f"{where}.data: cannot count the rows of {path!r} (not a local file, not a known hub "
                f"dataset); set {where}.max_steps")
    return rows


def activation_bytes(shape: ModelShape, seq_len: int, micro_batch: int) -> float | None:
    """Stored activations of one micro-batch, bf16, flash attention, no recomputation.

    34 * s * b * h bytes per layer is Korthikanti et al. (2022, "Reducing Activation Recomputation") with the
    attention-score term gone (flash attention keeps no s x s matrix); the logits and their gradient add
    8 * s * b * vocab (fp32), which at 100k+ vocabularies is not small.
    """
    if shape.hidden_size is None or shape.num_layers is None:
        return None
    per_layer = 34 * seq_len * micro_batch * shape.hidden_size
    logits = 8 * seq_len * micro_batch * (shape.vocab_size or 0)
    return float(per_layer * shape.num_layers + logits)


def model_states_bytes(params: int, largest_layer: int, zero_stage: int, workers: int, nodes: int,
                       offload_optimizer: bool) -> float:
    """Per-device model states (params, grads, optimizer) from DeepSpeed's own estimators."""
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    per_node = math.ceil(workers / nodes)
    if zero_stage == 3:
        _, device_mem, _ = estimate_zero3_model_states_mem_needs(
            params, largest_layer, num_gpus_per_node=per_node, num_nodes=nodes, cpu_offload=offload_optimizer,
            cpu_offload_params=False, zero_init=True)
    else:
        _, device_mem = estimate_zero2_model_states_mem_needs(
            params, num_gpus_per_node=per_node, num_nodes=nodes, cpu_offload=offload_optimizer)
    return float(device_mem)


def plan_training(study: Study, stage: TrainStageConfig) -> TrainPlan:
    c, t = study.cluster, study.cluster.throughput
    where = f"training.{stage.name}"
    shape = resolve_shape(study, stage.init, f"{where}.init")
    gpu = stage.use_gpu
    workers = stage.num_workers
    nodes = math.ceil(workers / c.gpus_per_node) if gpu else 1
    if gpu and nodes > c.max_nodes:
        raise StagewiseError(
            f"{where}: num_workers {workers} needs {nodes} nodes of {c.gpus_per_node} GPUs, "
            f"cluster.max_nodes is {c.max_nodes}")

    states = model_states_bytes(shape.params, shape.largest_layer_params, stage.zero_stage, workers, nodes,
                                stage.offload_optimizer)
    objective = get_objective(stage.objective)
    acts = activation_bytes(shape, stage.max_seq_len, stage.micro_batch_size)
    if acts is not None:
        acts *= objective.sequences_per_row  # a DPO row's chosen and rejected go through together
    capacity = c.gpu_memory_gb * t.train_memory_fraction if gpu else None
    need = (states + (acts or 0.0)) / GB
    if capacity is not None and need > capacity:
        raise StagewiseError(
            f"{where}: needs {need:.1f} GB per GPU ({states / GB:.1f} GB model states, DeepSpeed ZeRO-"
            f"{stage.zero_stage} estimate, + {(acts or 0) / GB:.1f} GB activations at micro_batch_size "
            f"{stage.micro_batch_size} x {stage.max_seq_len} tokens) but a {c.gpu_memory_gb:g} GB {c.gpu_type} "
            f"offers {capacity:.1f} GB usable; use zero_stage 3, more num_workers, offload_optimizer or a "
            f"smaller micro_batch_size / max_seq_len")

    # Rows per optimizer step, and tokens in each of a row's sequences (a DPO row is two).
    global_batch = workers * stage.micro_batch_size * stage.grad_accum
    seq_tokens = stage.max_seq_len if stage.packing else min(t.mean_row_tokens, stage.max_seq_len)
    if stage.max_steps is not None:
        steps = stage.max_steps
    else:
        rows = _training_rows(stage, where)
        if stage.packing:
            steps = math.ceil(stage.epochs * rows * t.mean_row_tokens / (global_batch * stage.max_seq_len))
        else:
            steps = math.ceil(stage.epochs * rows / global_batch)
    tokens = steps * global_batch * seq_tokens * objective.sequences_per_row

    # 6N FLOPs per trained token; an objective with a frozen reference adds its forward pass (DPO: 8N).
    flops_per_token = objective.flops_per_param_token * shape.params
    peak = stage.peak_tflops_per_worker or (c.gpu_peak_tflops if gpu else t.cpu_peak_tflops_per_cpu)
    per_worker = t.train_mfu * peak * 1e12 / flops_per_token
    return TrainPlan(
        stage=stage.name, device="GPU" if gpu else "CPU", workers=workers, nodes=nodes,
        zero_stage=stage.zero_stage, offload_optimizer=stage.offload_optimizer, params=shape.params,
        model_states_gb=states / GB, activations_gb=None if acts is None else acts / GB, capacity_gb=capacity,
        steps=steps, tokens=tokens, tokens_per_s_per_worker=per_worker,
        hours=tokens / (per_worker * workers) / 3600,
    )


# ---------------------------------------------------------------------------------------------------------
# Serving


def served_models(study: Study) -> list[tuple[str, str]]:
    """(model id, role) of every model the Serve app hosts for evaluation: policies, then judges."""
    out = [(mid, "policy") for mid in evaluated_models(study.evaluation, study.context())]
    for rater in study.evaluation.autoraters:
        if rater.kind == "llm_judge" and rater.judge_model and rater.judge_model not in {i for i, _ in out}:
            out.append((rater.judge_model, "judge"))
    return out


def _dtype_bytes(dtype: str) -> int:
    return 4 if dtype in ("float32", "fp32") else 2


def planned_cluster_has_gpus(study: Study) -> bool:
    """Whether the cluster this plan is for has GPUs: the study asks for some (a training stage with use_gpu, a
    served model with an accelerator_type, serving.device gpu, or an embedded cluster given num_gpus). The Serve
    app asks the live cluster the same question (`serve.placement.live_cluster_has_gpus`)."""
    s = study.serving
    return (any(stage.use_gpu for stage in study.training) or s.device == "gpu" or bool(study.cluster.num_gpus)
            or any(m.accelerator_type for m in s.models.values()))


def plan_serving(study: Study, model_id: str, role: str) -> ServePlan:
    c, t, s = study.cluster, study.cluster.throughput, study.serving
    where = f"serving.models.{model_id}"
    cfg = s.for_model(model_id)
    shape = resolve_shape(study, model_id, f"models.{model_id}")
    tp = cfg.tensor_parallel_size
    max_len = cfg.max_model_len or s.max_model_len
    gpu = serves_on_gpu(s, model_id, planned_cluster_has_gpus(study))  # the app's own placement rule
    dtype = s.engine_dtype(gpu)
    weights = shape.params * _dtype_bytes(dtype) / tp
    kv_token = shape.kv_bytes_per_token(_dtype_bytes(dtype))
    kv_seq = kv_token * max_len / tp if kv_token is not None else None
    concurrent = None
    if gpu:
        if tp > c.gpus_per_node:
            raise StagewiseError(
                f"{where}.tensor_parallel_size: {tp} spans more than one node ({c.gpus_per_node} GPUs each)")
        if shape.num_heads and shape.num_heads % tp:
            raise StagewiseError(
                f"{where}.tensor_parallel_size: {tp} does not divide the model's {shape.num_heads} attention "
                f"heads (vLLM requires it)")
        capacity = c.gpu_memory_gb * GB * t.serve_memory_fraction
        if weights + (kv_seq or 0) > capacity:
            raise StagewiseError(
                f"{where}: {weights * tp / GB:.1f} GB of {dtype} weights over tensor_parallel_size {tp} is "
                f"{weights / GB:.1f} GB per GPU, plus {(kv_seq or 0) / GB:.1f} GB KV cache for one "
                f"{max_len}-token sequence, exceeds {capacity / GB:.1f} GB usable of a {c.gpu_memory_gb:g} GB "
                f"{c.gpu_type}; raise tensor_parallel_size or lower max_model_len")
        if kv_seq:
            concurrent = int((capacity - weights) // kv_seq)
    devices = tp * cfg.max_replicas if gpu else math.ceil(s.cpus_per_replica * cfg.max_replicas)
    return ServePlan(
        model=model_id, role=role, device="GPU" if gpu else "CPU", tensor_parallel_size=tp,
        replicas=cfg.max_replicas, devices=devices, weights_gb_per_gpu=weights / GB,
        kv_gb_per_sequence=None if kv_seq is None else kv_seq / GB, concurrent_sequences=concurrent,
        max_model_len=max_len,
    )


# ---------------------------------------------------------------------------------------------------------
# Evaluation


def benchmark_items(name: str, path: str | None) -> tuple[int | None, str]:
    """(items, where the count came from) for a benchmark file, hub id or the embedded set."""
    if path is not None and Path(path).is_file():
        counted = _count_with_registry(name, path)
        if counted is not None:
            return counted, "counted with the benchmark's loader"
        return len(read_records(path)[1]), "counted rows of the local file"
    if path is not None:  # not here yet (a hub file, or a download to come): its published size
        size = _published_items(name, path.rstrip("/").rsplit("/", 1)[-1])
        return size, "published size" if size is not None else "unknown size"
    counted = _count_with_registry(name, None)  # the embedded set shipped with stagewise
    if counted is not None:
        return counted, "counted with the benchmark's loader"
    return None, "unknown size"


def _published_items(name: str, file_name: str) -> int | None:
    from stagewise.evaluate.registry import discover, get_benchmark

    discover()
    try:
        return get_benchmark(name).published_items.get(file_name)
    except StagewiseError:  # unknown benchmark: the caller says "unknown size"
        return None


def _count_with_registry(name: str, path: str | None) -> int | None:
    """Items as the evaluation pipeline will load them (its own loader, exclusions applied); local files only."""
    from stagewise.evaluate.registry import discover, get_benchmark

    discover()
    try:
        return len(get_benchmark(name).load(path))
    except StagewiseError:  # unknown benchmark, or one with no embedded set: the caller says "unknown"
        return None


def plan_evaluation(study: Study, serve: dict[str, ServePlan]) -> EvalPlan:
    c, t, ev = study.cluster, study.cluster.throughput, study.evaluation
    policies = list(evaluated_models(study.evaluation, study.context()))
    raters = {a.name: a for a in ev.autoraters}
    benches: list[BenchmarkPlan] = []
    prompts_per_policy = 0
    judge_calls_total: dict[str, int] = {}
    for b in ev.benchmarks:
        size, source = benchmark_items(b.name, b.path)
        items = size if b.limit is None else (b.limit if size is None else min(b.limit, size))
        if b.limit is not None and size is None:
            source = "limit"
        gens = None if items is None else items * b.samples * len(policies)
        judges: dict[str, int] = {}
        for r in b.autoraters or list(raters):
            rater = raters[r]
            if rater.kind == "llm_judge" and rater.judge_model and gens is not None:
                judges[rater.judge_model] = judges.get(rater.judge_model, 0) + gens
                judge_calls_total[rater.judge_model] = judge_calls_total.get(rater.judge_model, 0) + gens
        benches.append(BenchmarkPlan(b.name, items, source, gens, judges))
        if items is not None:
            prompts_per_policy += items * b.samples

    def hours(model_id: str, prompts: int, prompt_tokens: int, output_tokens: int) -> float:
        sp = serve[model_id]
        shape = resolve_shape(study, model_id, f"models.{model_id}")
        peak = (c.gpu_peak_tflops if sp.device == "GPU" else t.cpu_peak_tflops_per_cpu) * 1e12 * sp.devices
        flops = 2 * shape.params * prompts * (prompt_tokens / t.prefill_mfu + output_tokens / t.decode_mfu)
        return flops / peak / 3600

    # Every response is counted at max_tokens: an upper bound (refusals are short).
    gen_hours = {m: hours(m, prompts_per_policy, t.prompt_tokens, ev.sampling.max_tokens) for m in policies}
    judge_hours = {j: hours(j, n, t.judge_prompt_tokens, t.judge_output_tokens)
                   for j, n in judge_calls_total.items()}
    known = all(b.items is not None for b in benches)
    # Policies are generated one after another while the judge grades the stream alongside.
    wall = max(sum(gen_hours.values()), max(judge_hours.values(), default=0.0)) if known else None
    return EvalPlan(benches, gen_hours, judge_hours, wall)


# ---------------------------------------------------------------------------------------------------------


def plan_study(study: Study) -> StudyPlan:
    c, t = study.cluster, study.cluster.throughput
    train = [plan_training(study, stage) for stage in study.training]
    serve = [plan_serving(study, mid, role) for mid, role in served_models(study)]
    serve_gpus = sum(p.devices for p in serve if p.device == "GPU")
    capacity = c.gpus_per_node * c.max_nodes
    if serve_gpus > capacity:
        raise StagewiseError(
            f"serving: {serve_gpus} GPUs at max_replicas ({', '.join(f'{p.model} {p.devices}' for p in serve)}) "
            f"exceed cluster.max_nodes x gpus_per_node = {capacity}")
    evaluation = plan_evaluation(study, {p.model: p for p in serve})
    assumptions = [
        f"training: {t.train_mfu:.0%} MFU of {c.gpu_peak_tflops:g} TFLOP/s per {c.gpu_type} (bf16 dense), "
        f"6 x params FLOPs per token (8 x for DPO: reference forward); rows average {t.mean_row_tokens} tokens",
        "training memory: DeepSpeed's ZeRO model-states estimate + activations (bf16, flash attention, no "
        f"recomputation) + fp32 logits; {t.train_memory_fraction:.0%} of each GPU usable",
        f"serving: bf16 weights / tensor_parallel_size + one max_model_len sequence of KV cache within "
        f"{t.serve_memory_fraction:.0%} of a GPU (vLLM gpu_memory_utilization)",
        f"generation: prefill {t.prefill_mfu:.0%} MFU, decode {t.decode_mfu:.0%} MFU; prompts {t.prompt_tokens} "
        f"tokens; every response counted at max_tokens ({study.evaluation.sampling.max_tokens}, an upper bound)",
        f"judging: {t.judge_prompt_tokens} prompt + {t.judge_output_tokens} output tokens per call; policies run "
        "one after another while the judge grades alongside",
        f"CPU devices: {t.cpu_peak_tflops_per_cpu:g} TFLOP/s per CPU",
    ]
    return StudyPlan(
        study=study.name, gpu_type=c.gpu_type, gpu_memory_gb=c.gpu_memory_gb, gpus_per_node=c.gpus_per_node,
        max_nodes=c.max_nodes, train=train, serve=serve, serve_gpus=serve_gpus,
        serve_nodes=math.ceil(serve_gpus / c.gpus_per_node), evaluation=evaluation, assumptions=assumptions,
    )


def _num(n: float | None) -> str:
    if n is None:
        return "?"
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def _hours(h: float | None) -> str:
    if h is None:
        return "?"
    return f"{h * 60:.1f} min" if h < 1 else f"{h:.1f} h"


def format_plan(plan: StudyPlan) -> str:
    uses_gpus = plan.serve_gpus > 0 or any(p.device == "GPU" for p in plan.train)
    where = (f"cluster of up to {plan.max_nodes} x {plan.gpus_per_node} {plan.gpu_type} ({plan.gpu_memory_gb:g} GB)"
             if uses_gpus else "CPU only (embedded or CPU cluster; no GPUs used)")
    lines = [f"study {plan.study}: {where}", "", "training"]
    for p in plan.train:
        mem = f"{p.model_states_gb:.1f} GB states + " + (
            f"{p.activations_gb:.1f} GB activations" if p.activations_gb is not None else "activations unknown")
        cap = f" of {p.capacity_gb:.1f} GB" if p.capacity_gb is not None else " (host memory)"
        lines.append(
            f"  {p.stage:<12} {p.workers} {p.device} on {p.nodes} node(s), ZeRO-{p.zero_stage}"
            f"{' + optimizer offload' if p.offload_optimizer else ''}, {_num(p.params)} params; per {p.device}: "
            f"{mem} = {p.per_device_gb:.1f} GB{cap}")
        lines.append(
            f"  {'':<12} {p.steps} steps, {_num(p.tokens)} tokens at {_num(p.tokens_per_s_per_worker)} tok/s per "
            f"{p.device} -> {_hours(p.hours)}")
    if not plan.train:
        lines.append("  (no training stages)")
    lines += ["", f"serving: {plan.serve_gpus} GPUs at max_replicas on {plan.serve_nodes} node(s)"]
    for s in plan.serve:
        kv = (f", KV {s.kv_gb_per_sequence:.2f} GB per {s.max_model_len}-token sequence"
              if s.kv_gb_per_sequence is not None else "")
        conc = f" (~{s.concurrent_sequences} at once)" if s.concurrent_sequences is not None else ""
        lines.append(
            f"  {s.model:<12} {s.role:<6} {s.replicas} replica(s) x TP {s.tensor_parallel_size} = {s.devices} "
            f"{s.device}, weights {s.weights_gb_per_gpu:.2f} GB per {s.device}{kv}{conc}")
    ev = plan.evaluation
    lines += ["", "evaluation"]
    for b in ev.benchmarks:
        judges = ", ".join(f"{n} calls to {j}" for j, n in b.judge_calls.items()) or "no judge calls"
        lines.append(f"  {b.name:<12} {b.items if b.items is not None else '?'} items ({b.items_from}), "
                     f"{b.generations if b.generations is not None else '?'} generations, {judges}")
    for m, h in ev.generation_hours.items():
        lines.append(f"  generate {m:<12} {_hours(h)}")
    for j, h in ev.judge_hours.items():
        lines.append(f"  judge    {j:<12} {_hours(h)}")
    lines.append(f"  wall time    {_hours(ev.hours)}")
    total = sum(p.hours for p in plan.train) + (ev.hours or 0.0)
    lines += ["", f"total: {_hours(total)}", "", "assumptions (cluster.throughput):"]
    lines += [f"  - {a}" for a in plan.assumptions]
    return "\n".join(lines) + "\n"
