"""What each Ray Train worker runs: DeepSpeed ZeRO on the process group Ray set up (gloo on CPU, NCCL on GPU).

Started by `train.run.run_stage` (`stagewise train configs/demo.yaml`), never directly. Every worker streams
the same global batches from Ray Data in the driver's fixed order and keeps its rank's slice, so step k
reads the same rows on every run: that is what lets a resumed run continue the uninterrupted loss curve.
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from train.config import TrainStageConfig
from train.objectives import dpo_loss, lm_loss, sequence_logps


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


def _batches(stage: TrainStageConfig, rank: int, world: int, skip: int, device):
    """This rank's micro-batches, in the run's global order, trimmed to the longest row they hold."""
    import ray.train

    mb = stage.micro_batch_size
    shard = ray.train.get_dataset_shard("train")
    it = shard.iter_batches(batch_size=mb * world, batch_format="numpy", drop_last=True, prefetch_batches=4)
    for i, batch in enumerate(it):
        if i < skip:
            continue
        mine = {k: v[rank * mb : (rank + 1) * mb] for k, v in batch.items()}
        yield _to_torch(mine, device)


def _to_torch(batch: dict[str, np.ndarray], device) -> dict[str, torch.Tensor]:
    groups = [k.removesuffix("length") for k in batch if k.endswith("length")]  # "" or "chosen_", "rejected_"
    width = max(1, max(int(batch[g + "length"].max()) for g in groups))
    out = {}
    for k, v in batch.items():
        t = torch.from_numpy(np.ascontiguousarray(v[:, :width] if v.ndim == 2 else v))
        out[k] = t.to(device=device, dtype=torch.long)
    return out


def _dpo_step(engine, ref, batch, beta: float):
    cat = {k: torch.cat([batch[f"chosen_{k}"], batch[f"rejected_{k}"]]) for k in ("input_ids", "position_ids", "labels")}
    n = batch["chosen_length"].shape[0]
    with torch.no_grad():
        ref_logps = sequence_logps(ref, **cat)
    logps = sequence_logps(engine, **cat)
    return dpo_loss(logps[:n], logps[n:], ref_logps[:n], ref_logps[n:], beta)


def _export_hf(engine, tokenizer, out: Path, rank: int, zero_stage: int) -> None:
    """Rank 0 writes the full weights as a HF dir; under ZeRO-3 every rank must join the gather."""
    import deepspeed

    module = engine.module
    params = list(module.parameters()) if zero_stage == 3 else []
    with deepspeed.zero.GatheredParameters(params, modifier_rank=None, enabled=zero_stage == 3):
        if rank == 0:
            state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
            module.save_pretrained(out, state_dict=state, safe_serialization=True)
            tokenizer.save_pretrained(out)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _wandb(cfg: dict[str, Any], stage: TrainStageConfig):
    wb = cfg["wandb"]
    if wb["mode"] == "disabled":
        return None
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    return wandb.init(project=wb["project"], entity=wb["entity"], mode=wb["mode"], dir=cfg["wandb_dir"],
                      name=cfg["run_name"], id=cfg["wandb_id"], resume="allow", job_type="train",
                      config=stage.model_dump(mode="json"))


def _progress(total: int, initial: int, name: str):
    try:  # Ray's tqdm draws worker bars on the driver's console without interleaving
        from ray.experimental.tqdm_ray import tqdm
    except ImportError:  # pragma: no cover
        from tqdm import tqdm
    bar = tqdm(total=total, desc=name)
    bar.update(initial)
    return bar


def train_loop(cfg: dict[str, Any]) -> None:
    import deepspeed
    import ray.train
    import torch.distributed as dist
    from ray.train import Checkpoint
    from transformers import AutoModelForCausalLM, AutoTokenizer

    stage = TrainStageConfig(**cfg["stage"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    if stage.use_gpu:
        device = ray.train.torch.get_device()
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        # One rank per core beat more threads per rank on 2 cores (STACK.md): give each rank its share.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"])

    total = cfg["total_steps"]
    # Load normally and let deepspeed.initialize partition: zero.Init + from_pretrained breaks on transformers 5.
    model = AutoModelForCausalLM.from_pretrained(cfg["init_path"], dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(cfg["init_path"])
    ref = None
    if stage.objective == "dpo":  # frozen reference: a full copy per rank (not sharded, even under ZeRO-3)
        dtype = torch.bfloat16 if stage.precision == "bf16" else torch.float32
        ref = AutoModelForCausalLM.from_pretrained(cfg["init_path"], dtype=dtype).to(device).eval().requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters())

    def schedule(optimizer):
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: lr_multiplier(s, stage.warmup_steps, total, stage.min_lr_ratio))

    engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=model.parameters(),
                                           config=deepspeed_config(stage, world), lr_scheduler=schedule)

    start, history = 0, {"loss": [], "logp_margin": []}
    tokens_before, wall_before = 0, 0.0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            _, client = engine.load_checkpoint(os.path.join(d, "ds"), tag="state")
        start, history = client["step"], client["history"]
        tokens_before, wall_before = client["tokens"], client["wall_s"]

    run = _wandb(cfg, stage) if rank == 0 else None
    bar = _progress(total, start, cfg["run_name"]) if rank == 0 else None
    batches = _batches(stage, rank, world, start * stage.grad_accum, device)
    peak = stage.peak_tflops() * 1e12 * world
    step_times: list[float] = []
    tokens_run, t_run = 0, time.perf_counter()

    def save(step: int, final: bool) -> None:
        metrics = {"step": step, "loss": history["loss"][-1] if history["loss"] else float("nan")}
        if final:
            wall = time.perf_counter() - t_run
            metrics |= {"history": history, "tokens": tokens_before + tokens_run, "wall_s": wall_before + wall,
                        "tokens_per_s": tokens_run / wall if tokens_run else 0.0, "resumed_from_step": cfg_start,
                        "step_s_median": statistics.median(step_times) if step_times else None,
                        "params": n_params, "peak_rss_mb": _peak_rss_mb()}
        with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as d:
            client = {"step": step, "history": history, "tokens": tokens_before + tokens_run,
                      "wall_s": wall_before + time.perf_counter() - t_run}
            engine.save_checkpoint(os.path.join(d, "ds"), tag="state", client_state=client)
            if final:
                _export_hf(engine, tokenizer, Path(d) / "hf", rank, stage.zero_stage)
            dist.barrier()
            ray.train.report(metrics, checkpoint=Checkpoint.from_directory(d))

    cfg_start = start
    for step in range(start, total):
        t0 = time.perf_counter()
        lr = engine.get_lr()[0]
        loss_sum = torch.zeros(3)  # loss, real tokens, logp margin: summed over micro-steps, then ranks
        for _ in range(stage.grad_accum):
            batch = next(batches)
            if ref is None:
                loss, _ = lm_loss(engine, batch)
                extra = 0.0
            else:
                loss, stats = _dpo_step(engine, ref, batch, stage.dpo_beta)
                extra = stats["logp_margin"]
            engine.backward(loss)
            engine.step()
            real = sum(int(v.sum()) for k, v in batch.items() if k.endswith("length"))
            loss_sum += torch.tensor([float(loss.detach()), real, extra])
        dist.all_reduce(loss_sum)
        mean_loss = float(loss_sum[0]) / (stage.grad_accum * world)
        step_tokens = int(loss_sum[1])
        dt = time.perf_counter() - t0
        step_times.append(dt)
        tokens_run += step_tokens
        history["loss"].append(mean_loss)
        if ref is not None:
            history["logp_margin"].append(float(loss_sum[2]) / (stage.grad_accum * world))
        if rank == 0:
            grad_norm = engine.get_global_grad_norm()
            tok_s = step_tokens / dt
            log = {"train/loss": mean_loss, "train/lr": lr, "train/tokens_per_s": tok_s, "train/step_s": dt,
                   "train/mfu_est": 6 * n_params * tok_s / peak, "train/tokens": tokens_before + tokens_run}
            if grad_norm is not None:
                log["train/grad_norm"] = float(grad_norm)
            if ref is not None:
                log["train/logp_margin"] = history["logp_margin"][-1]
            if run is not None:
                run.log(log, step=step + 1)
            bar.update(1)
            bar.set_description(f"{cfg['run_name']} loss {mean_loss:.3f} lr {lr:.2e} {tok_s:,.0f} tok/s")
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
