"""What each Ray Train worker runs: DeepSpeed ZeRO on the process group Ray set up (gloo on CPU, NCCL on GPU).

Started by `train.run.run_stages` (`stagewise train configs/demo.yaml`), never directly. One run trains a chain
of stages (e.g. pretrain -> sft -> dpo) in order on the same worker group: at a stage's end every rank keeps
its exported weights and builds the next stage's model and DeepSpeed engine from them, so the chain pays for
worker start-up and imports once. Under ZeRO-3 the next stage reads the export back from the run's storage
instead and loads it partitioned (a kept copy would be the whole model on every rank). A stage with its own
`init_path` starts afresh inside the chain (a study's next model family). Each worker streams only its own rows of the run's seeded order from Ray
Data (train/stream.py), so step k reads the same rows on every run: that is what lets a resumed run continue
the uninterrupted loss curve.

Each checkpoint records where in the chain it is (`position.json`: stage index, step, final or not); a stage's
final checkpoint carries its HF export (`hf/`), which is how a run resumed inside stage i finds the weights
stage i started from (DPO's reference).
"""
from __future__ import annotations

import gc
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stagewise.cluster.env import large_allocations_mapped
from stagewise.train.config import TrainStageConfig
from stagewise.train.losses import TokenNLL, plain_output_head
from stagewise.train.objectives import get_objective


def deepspeed_config(stage: TrainStageConfig, world: int) -> dict[str, Any]:
    offload = stage.offload_optimizer
    return {
        "train_micro_batch_size_per_gpu": stage.micro_batch_size,
        "gradient_accumulation_steps": stage.grad_accum,
        "train_batch_size": stage.micro_batch_size * stage.grad_accum * world,
        # torch's AdamW avoids JIT-compiling FusedAdam; offload needs DeepSpeedCPUAdam (compiled once, cached).
        "optimizer": {"type": "AdamW", "params": {"lr": stage.lr, "betas": [0.9, 0.95], "eps": 1e-8,
                                                  "weight_decay": stage.weight_decay, "torch_adam": not offload}},
        "zero_optimization": {
            "stage": stage.zero_stage,
            "offload_optimizer": {"device": "cpu" if offload else "none"},
            "stage3_gather_16bit_weights_on_model_save": True,
        },
        "bf16": {"enabled": stage.precision == "bf16"},
        "fp16": {"enabled": stage.precision == "fp16"},
        "gradient_clipping": stage.grad_clip or 0.0,
        "steps_per_print": 1 << 30,
        "wall_clock_breakdown": False,
    }


def lr_multiplier(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to the peak, then cosine down to `min_ratio` of it at the last step."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _batches(run_cfg: dict[str, Any], stage: TrainStageConfig, rank: int, world: int, skip: int, device):
    """This rank's micro-batches from micro-step `skip` on, padded to the longest row they hold: its own rows
    of the run's order, read by the rank itself (train/stream.py)."""
    from stagewise.train.stream import rank_batches

    mb = stage.micro_batch_size
    for batch in rank_batches(run_cfg["windows"], rank, world, mb, skip * mb * world, run_cfg["pad_id"]):
        yield {k: torch.from_numpy(v).to(device) for k, v in batch.items()}  # fresh arrays: no copy needed


@dataclass
class Weights:
    """A finished stage's weights kept in this rank's memory: where the next stage of the chain starts."""

    cls: type
    config: Any
    state: dict[str, torch.Tensor]
    tokenizer: Any


def _export_hf(engine, tokenizer, out: Path, rank: int, zero_stage: int, keep: bool = False) -> Weights | None:
    """Rank 0 writes the full weights as a HF dir. Under ZeRO-3 every rank joins each parameter's gather, one
    parameter at a time, and only rank 0 keeps a copy: no other rank ever holds the whole model. With `keep`,
    every rank also returns them (the next stage of a chain starts from them; transformers' save_pretrained
    writes on rank 0 only, and ranks on other nodes could not read that directory anyway)."""
    module = engine.module.lm  # the HF model inside TokenNLL
    state = _gathered_state(module, zero_stage, rank == 0 or keep)
    if rank == 0:
        module.save_pretrained(out, state_dict=state, safe_serialization=True)
        tokenizer.save_pretrained(out)
    return Weights(type(module), module.config, state, tokenizer) if keep else None


def _gathered_state(module, zero_stage: int, wanted: bool) -> dict[str, torch.Tensor] | None:
    """The module's full state dict (fp32 copies on CPU) where `wanted`, else None."""
    if zero_stage != 3:
        return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()} if wanted else None
    import deepspeed

    names: dict[int, list[str]] = {}
    for name, p in module.named_parameters(remove_duplicate=False):  # tied weights: one tensor, both names
        names.setdefault(id(p), []).append(name)
    state: dict[str, torch.Tensor] = {}
    for p in {id(p): p for _, p in module.named_parameters(remove_duplicate=False)}.values():
        with deepspeed.zero.GatheredParameters([p], modifier_rank=None):
            if wanted:
                copy = p.detach().cpu().clone()
                state |= {n: copy for n in names[id(p)]}
    if not wanted:
        return None
    # Buffers (not partitioned) complete it: those the state dict keeps, e.g. none for Llama's rotary cache.
    return state | {k: v.detach().cpu().clone() for k, v in module.state_dict().items() if k not in state}


def _load_model(init: "str | Path | Weights", dtype: torch.dtype, stage: TrainStageConfig,
                zero3_config: dict[str, Any] | None = None):
    """The HF model at `init`; with a ZeRO-3 DeepSpeed config, loaded partitioned across the ranks.

    transformers 5 partitions while loading when a `HfDeepSpeedConfig` of a ZeRO-3 config is alive (it keeps a
    weakref: from_pretrained then builds the model under `deepspeed.zero.Init` and loads each rank's shards);
    wrapping from_pretrained in `zero.Init` ourselves fails on transformers 5. Every rank must load together.
    """
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": stage.attn_implementation or "sdpa"}
    if isinstance(init, Weights):
        # from_pretrained takes state_dict tensors as the parameters themselves: copy, or the DPO policy and
        # its frozen reference would share (and both move with) the same storage.
        state = {k: v.clone() for k, v in init.state.items()}
        return init.cls.from_pretrained(None, config=init.config, state_dict=state, **kwargs)
    if zero3_config is None:
        return AutoModelForCausalLM.from_pretrained(init, **kwargs)
    from transformers.integrations import HfDeepSpeedConfig
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    alive = HfDeepSpeedConfig(zero3_config)
    try:
        with large_allocations_mapped():  # the gathered full tensors go back to the OS, not into the heap
            return AutoModelForCausalLM.from_pretrained(init, **kwargs)
    finally:
        del alive
        unset_hf_deepspeed_config()  # later plain loads (a probe, the next stage's) must not partition


def _probe_head(model) -> bool:
    """`plain_output_head` for a partitioned model: asked of a one-layer, small-vocabulary model of the same class
    and config (whole, random init), since what it checks -- nothing between the head and the loss -- is the
    class's forward, not its size. Costs one layer's weights in fp32, freed before training."""
    import copy

    config = copy.deepcopy(model.config)
    config.num_hidden_layers = 1
    if isinstance(getattr(config, "layer_types", None), list):
        config.layer_types = config.layer_types[:1]
    config.vocab_size = min(config.vocab_size, 256)
    for token in ("pad_token_id", "bos_token_id", "eos_token_id"):
        if isinstance(getattr(config, token, None), int) and getattr(config, token) >= config.vocab_size:
            setattr(config, token, None)
    answer = plain_output_head(type(model)(config))
    gc.collect()
    return answer


def _inference_config(stage: TrainStageConfig, world: int) -> dict[str, Any]:
    """A frozen ZeRO-3 model's DeepSpeed config: partitioned parameters, no optimizer."""
    return {"train_micro_batch_size_per_gpu": stage.micro_batch_size, "train_batch_size": stage.micro_batch_size * world,
            "zero_optimization": {"stage": 3}, "bf16": {"enabled": stage.precision == "bf16"},
            "fp16": {"enabled": stage.precision == "fp16"}, "steps_per_print": 1 << 30}


def _reference_logps(engine, objective, batches, micro_steps: int) -> np.ndarray:
    """The starting policy's answer log-probs for each of this rank's micro-batches of the stage, before its
    first step: the DPO reference, computed once (no second model; under ZeRO-3 the forward gathers as usual)."""
    out = []
    engine.eval()
    with torch.no_grad():
        for _ in range(micro_steps):
            chosen, rejected = objective.reference_logps(engine, next(batches))
            out.append(torch.stack([chosen, rejected]).float().cpu().numpy())
    engine.train()
    return np.stack(out)


def _stored_ref_logps(checkpoint, rank: int) -> np.ndarray | None:
    with checkpoint.as_directory() as d:
        path = Path(d) / f"ref_logps-rank{rank}.npy"
        return np.load(path) if path.exists() else None


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _wandb(cfg: dict[str, Any], run_cfg: dict[str, Any], stage: TrainStageConfig):
    from stagewise.core.wandb_run import WandbSettings, start_run

    return start_run(WandbSettings(**cfg["wandb"]), cfg["wandb_dir"], name=run_cfg["run_name"], job_type="train",
                     id=run_cfg["wandb_id"], resume="allow", config=stage.model_dump(mode="json"),
                     study=run_cfg.get("study"), family=run_cfg.get("family"), stage=run_cfg.get("model_stage"))


def _progress(total: int, initial: int, name: str):
    try:  # Ray's tqdm draws worker bars on the driver's console without interleaving
        from ray.experimental.tqdm_ray import tqdm
    except ImportError:  # pragma: no cover
        from tqdm import tqdm
    bar = tqdm(total=total, desc=name)
    bar.update(initial)
    return bar


POSITION = "position.json"  # in every checkpoint: {"stage_index", "step", "final"}


def keep_priority(stage_index: int, step: int, final: bool) -> float:
    """Ray Train's checkpoint score: every stage's final outranks every intermediate checkpoint, so with
    `num_to_keep = keep_checkpoints + stages - 1` a chain keeps each stage's export and the newest steps."""
    return 1e12 + stage_index if final else stage_index * 1e9 + step


def train_loop(cfg: dict[str, Any]) -> None:
    import ray.train

    t_enter = time.perf_counter()
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    stages = cfg["stages"]
    use_gpu = TrainStageConfig(**stages[0]["stage"]).use_gpu
    if use_gpu:
        device = ray.train.torch.get_device()
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        # One rank per core beat more threads per rank on 2 cores (STACK.md): give each rank its share.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))

    # An earlier stage's export, copied here when resumed, or handed over through storage under ZeRO-3.
    local = Path(tempfile.mkdtemp(prefix="stagewise-resume-"))
    try:
        first, resume, init = 0, None, None
        checkpoint = ray.train.get_checkpoint()
        if checkpoint:
            with checkpoint.as_directory() as d:
                pos = json.loads((Path(d) / POSITION).read_text())
                if pos["final"]:  # stopped between two stages: the next one starts from this export
                    first = pos["stage_index"] + 1
                    if first < len(stages) and not stages[first]["init_path"]:
                        init = _copy_export(Path(d) / "hf", local)
                else:
                    first, resume = pos["stage_index"], checkpoint
        if resume is not None and first > 0 and not stages[first]["init_path"]:
            init = _reported_export(first - 1, local)
        for i in range(first, len(stages)):
            init = stages[i]["init_path"] or init  # a stage that starts afresh (e.g. the next model family's)
            nxt = stages[i + 1] if i + 1 < len(stages) else None
            # The next stage continues these weights: kept in memory, or, where it loads partitioned (ZeRO-3),
            # read back from this stage's export so that no rank ever holds the whole model.
            continued = nxt is not None and not nxt["init_path"]
            partitioned = continued and _loads_partitioned(TrainStageConfig(**nxt["stage"]))
            init = _train_stage(cfg, i, init, resume if i == first else None, rank, world, device,
                                keep=continued and not partitioned, t_start=t_enter if i == first else None)
            if partitioned:
                init = _reported_export(i, local)
    finally:
        shutil.rmtree(local, ignore_errors=True)


def _loads_partitioned(stage: TrainStageConfig) -> bool:
    return stage.zero_stage == 3 and stage.zero3_init


def _copy_export(src: Path, dst: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


def _reported_export(stage_index: int, dst: Path) -> Path:
    """The HF export of an earlier stage of this run, from Ray Train's reported checkpoints (kept by score)."""
    import ray.train

    for reported in ray.train.get_all_reported_checkpoints():
        m = reported.metrics
        if m.get("stage_index") == stage_index and m.get("final"):
            with reported.checkpoint.as_directory() as d:
                return _copy_export(Path(d) / "hf", dst)
    raise RuntimeError(f"no final checkpoint of stage {stage_index} among this run's checkpoints")


def _train_stage(cfg: dict[str, Any], index: int, init: "str | Path | Weights", checkpoint, rank: int, world: int,
                 device, keep: bool, t_start: float | None) -> Weights | None:
    """Train stage `index` of the chain from `init` (a HF dir, or the previous stage's weights); with `keep`,
    return its final weights on every rank (the next stage's start)."""
    import deepspeed
    import ray.train
    import torch.distributed as dist
    from ray.train import Checkpoint
    from transformers import AutoTokenizer

    t_stage = t_start if t_start is not None else time.perf_counter()
    run_cfg = cfg["stages"][index]
    stage = TrainStageConfig(**run_cfg["stage"])
    objective = get_objective(stage.objective)
    torch.manual_seed(run_cfg["seed"])
    np.random.seed(run_cfg["seed"])

    total = run_cfg["total_steps"]
    ds_config = deepspeed_config(stage, world)
    # Under ZeRO-3 a HF dir loads partitioned (no rank holds the whole model); a chain's kept weights, ZeRO-2 and
    # `zero3_init: false` load whole and deepspeed.initialize partitions what its stage partitions.
    sharded = _loads_partitioned(stage) and not isinstance(init, Weights)
    if sharded:
        deepspeed.init_distributed()  # zero.Init reads the world size from deepspeed.comm: wrap Ray's group now
    model = _load_model(init, torch.float32, stage, ds_config if sharded else None)
    if stage.uses_gradient_checkpointing():
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    tokenizer = init.tokenizer if isinstance(init, Weights) else AutoTokenizer.from_pretrained(init)
    # Decided on the plain fp32 model before DeepSpeed wraps it; a partitioned one has no weights to probe.
    loss_only_head = _probe_head(model) if sharded else plain_output_head(model)
    ref = None
    if objective.needs_reference and stage.dpo_reference == "model":  # a frozen copy, partitioned like the policy
        dtype = torch.bfloat16 if stage.precision == "bf16" else torch.float32
        ref = _load_model(init, dtype, stage, ds_config if sharded else None)
        ref = TokenNLL(ref, loss_only_head).eval().requires_grad_(False)
        if stage.zero_stage == 3:
            ref, _, _, _ = deepspeed.initialize(model=ref, config=_inference_config(stage, world))
        else:
            ref = ref.to(device)
    if isinstance(init, Weights):
        init.state.clear()  # the model (and reference) hold their own copies now; free the kept ones
    n_params = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())  # ds_numel: a partitioned one

    def schedule(optimizer):
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: lr_multiplier(s, stage.warmup_steps, total, stage.min_lr_ratio))

    engine, _, _, _ = deepspeed.initialize(model=TokenNLL(model, loss_only_head), model_parameters=model.parameters(),
                                           config=ds_config, lr_scheduler=schedule)

    start, history = 0, {"loss": [], **{c: [] for c in objective.curves}}
    tokens_before, wall_before = 0, 0.0
    if checkpoint:
        with checkpoint.as_directory() as d:
            _, client = engine.load_checkpoint(os.path.join(d, "ds"), tag="state")
        start, history = client["step"], client["history"]
        tokens_before, wall_before = client["tokens"], client["wall_s"]

    ref_logps = None  # [micro-steps, 2, micro_batch]: the reference's chosen and rejected log-probs, in run order
    if objective.needs_reference and stage.dpo_reference == "logprobs":
        ref_logps = _stored_ref_logps(checkpoint, rank) if checkpoint else None
        if ref_logps is None:  # a first pass of the starting policy (= the reference) over this rank's rows
            ref_logps = _reference_logps(engine, objective, _batches(run_cfg, stage, rank, world, 0, device),
                                         total * stage.grad_accum)
    run = _wandb(cfg, run_cfg, stage) if rank == 0 else None
    bar = _progress(total, start, run_cfg["run_name"]) if rank == 0 else None
    batches = _batches(run_cfg, stage, rank, world, start * stage.grad_accum, device)
    peak = stage.peak_tflops() * 1e12 * world
    step_times: list[float] = []
    tokens_run, t_run = 0, time.perf_counter()
    kept: Weights | None = None

    def save(step: int, final: bool) -> None:
        nonlocal kept
        metrics = {"stage": stage.name, "stage_index": index, "final": final, "step": step,
                   "keep_priority": keep_priority(index, step, final),
                   "loss": history["loss"][-1] if history["loss"] else float("nan")}
        with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as d:
            client = {"step": step, "history": history, "tokens": tokens_before + tokens_run,
                      "wall_s": wall_before + time.perf_counter() - t_run}
            engine.save_checkpoint(os.path.join(d, "ds"), tag="state", client_state=client)
            if ref_logps is not None:  # each rank's own file: Ray Train merges the ranks' folders
                np.save(Path(d) / f"ref_logps-rank{rank}.npy", ref_logps)
            if final:
                kept = _export_hf(engine, tokenizer, Path(d) / "hf", rank, stage.zero_stage, keep=keep)
                wall = time.perf_counter() - t_run
                metrics |= {"history": history, "tokens": tokens_before + tokens_run, "wall_s": wall_before + wall,
                            "tokens_per_s": tokens_run / wall if tokens_run else 0.0, "resumed_from_step": cfg_start,
                            "step_s_median": statistics.median(step_times) if step_times else None,
                            "params": n_params, "peak_rss_mb": _peak_rss_mb(),
                            "stage_wall_s": time.perf_counter() - t_stage}
            if rank == 0:
                (Path(d) / POSITION).write_text(json.dumps({"stage_index": index, "step": step, "final": final}))
            dist.barrier()
            ray.train.report(metrics, checkpoint=Checkpoint.from_directory(d))

    cfg_start = start
    for step in range(start, total):
        t0 = time.perf_counter()
        lr = engine.get_lr()[0]
        # loss, real tokens, the objective's curves: summed over micro-steps, then ranks
        loss_sum = torch.zeros(2 + len(objective.curves))
        for micro in range(step * stage.grad_accum, (step + 1) * stage.grad_accum):
            batch = next(batches)
            if ref_logps is not None:
                batch |= {"ref_chosen_logps": torch.from_numpy(ref_logps[micro, 0]).to(device),
                          "ref_rejected_logps": torch.from_numpy(ref_logps[micro, 1]).to(device)}
            loss, stats = objective.loss(engine, ref, batch, stage)
            engine.backward(loss)
            engine.step()
            real = sum(int(v.sum()) for k, v in batch.items() if k.endswith("length"))
            loss_sum += torch.tensor([float(loss.detach()), real, *(stats[c] for c in objective.curves)])
        dist.all_reduce(loss_sum)
        mean_loss = float(loss_sum[0]) / (stage.grad_accum * world)
        step_tokens = int(loss_sum[1])
        dt = time.perf_counter() - t0
        step_times.append(dt)
        tokens_run += step_tokens
        history["loss"].append(mean_loss)
        for j, c in enumerate(objective.curves):
            history[c].append(float(loss_sum[2 + j]) / (stage.grad_accum * world))
        if rank == 0:
            grad_norm = engine.get_global_grad_norm()
            tok_s = step_tokens / dt
            log = {"train/loss": mean_loss, "train/lr": lr, "train/tokens_per_s": tok_s, "train/step_s": dt,
                   "train/mfu_est": objective.flops_per_param_token * n_params * tok_s / peak, "train/tokens": tokens_before + tokens_run}
            if grad_norm is not None:
                log["train/grad_norm"] = float(grad_norm)
            for c in objective.curves:
                log[f"train/{c}"] = history[c][-1]
            if run is not None:
                run.log(log, step=step + 1)
            bar.update(1)
            bar.set_description(f"{run_cfg['run_name']} loss {mean_loss:.3f} lr {lr:.2e} {tok_s:,.0f} tok/s")
        done = step + 1
        if stage.checkpoint_every and done % stage.checkpoint_every == 0 and done < total:
            save(done, final=False)
    save(total, final=True)
    if bar is not None:
        bar.close()
        # Ray's tqdm closes its driver-side bar by a line on stdout; Ray Train may stop this worker before the
        # buffer is written, and the finished bar was then redrawn under every later stage's output.
        sys.stdout.flush()
    if run is not None:
        run.finish()
    # The next stage builds its own engine; free this one's model, optimizer state and data iterator first.
    del engine, model, ref, batches
    gc.collect()
    return kept
