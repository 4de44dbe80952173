"""The trainer's DeepSpeed step without Ray: tokens/s, s/step, MFU and peak memory, variants side by side.

    STAGEWISE_CACHE=$PWD/.cache .venv/bin/python bench/bench_train_step.py [--repeats 3] [--steps 15]
    python bench/bench_train_step.py --preset llama-1b --device cuda --precision bf16 --world 1   # a GPU box

Each rank runs what `train.worker.train_loop` runs per micro-step (`lm_loss`, `engine.backward`, `engine.step`)
on the config `train.worker.deepspeed_config` builds, over gloo (CPU) or NCCL (GPU), on a seeded random-init
Llama and random tokens; the first 3 steps are warm-up. Every run is a fresh process, so the glibc allocator
settings a variant names apply from its start. CPU variants, in one run:
- `baseline`: the loss over a sliced, transposed logits view (the trainer before 2026-12-01) and glibc's
  default allocator settings;
- `contiguous loss`: `train.losses.lm_loss` as it is now (labels shifted instead of logits);
- `contiguous loss + malloc env` (what the trainer runs): also `cluster.env.CPU_TRAINING_MALLOC`.
On a GPU only the current trainer step is run. MFU = 6 x params x tokens/s / (world x peak); pass `--peak-tflops`
per device (default: 0.1 on CPU, 989 for a GPU, an H100/H200's dense bf16).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PRESETS = {  # hidden, layers, heads, kv heads, intermediate, vocab
    "demo": (128, 2, 4, 2, 384, 2048),  # configs/demo.yaml's large family (configs/demo-one-family.yaml's model)
    "llama-1b": (2048, 16, 32, 8, 8192, 128256),  # Llama 3.2 1B's shape (1.24B params, tied embeddings)
}


def transposed_token_nll(model, input_ids, position_ids, labels, loss_only_head=None):
    """The baseline's per-token NLL: cross-entropy over logits[:, :-1] transposed to [batch, vocab, seq]."""
    import torch.nn.functional as F

    logits = model(input_ids=input_ids, position_ids=position_ids, use_cache=False).logits[:, :-1]
    target = labels[:, 1:].long()
    nll = F.cross_entropy(logits.float().transpose(1, 2), target.clamp_min(0), reduction="none")
    return nll * (target != -100)


def rank_main(rank: int, args: argparse.Namespace, port: int, queue) -> None:
    import time

    import torch

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(args.world),
                      LOCAL_RANK=str(rank))
    gpu = args.device == "cuda"
    if gpu:
        torch.cuda.set_device(rank)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.world))  # as train.worker does
    import deepspeed
    import torch.distributed as dist
    from transformers import LlamaConfig, LlamaForCausalLM

    import stagewise.train.losses as losses
    from stagewise.train.config import TrainStageConfig
    from stagewise.train.worker import deepspeed_config

    if args.variant == "baseline":
        losses.token_nll = transposed_token_nll
    dist.init_process_group("nccl" if gpu else "gloo", rank=rank, world_size=args.world)
    hidden, layers, heads, kv, inter, vocab = PRESETS[args.preset]
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=args.seq,
                         tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    if args.precision == "bf16":
        model = model.to(torch.bfloat16)
    model = model.to("cuda" if gpu else "cpu")
    n_params = sum(p.numel() for p in model.parameters())
    stage = TrainStageConfig(name="bench", objective="pretrain", init="tiny", output="base", data=["unused"],
                             num_workers=args.world, zero_stage=args.zero, precision=args.precision,
                             micro_batch_size=args.micro_batch, lr=1e-4, max_steps=args.steps,
                             max_seq_len=args.seq, use_gpu=gpu)
    engine, _, _, _ = deepspeed.initialize(model=losses.TokenNLL(model), model_parameters=model.parameters(),
                                           config=deepspeed_config(stage, args.world))
    g = torch.Generator().manual_seed(rank)
    ids = torch.randint(0, vocab, (args.micro_batch, args.seq), generator=g).to(engine.device)
    batch = {"input_ids": ids, "labels": ids, "position_ids": torch.arange(args.seq, device=engine.device).repeat(
        args.micro_batch, 1)}
    times = []
    for _ in range(args.steps):
        if gpu:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss, _ = losses.lm_loss(engine, batch)
        engine.backward(loss)
        engine.step()
        if gpu:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    if rank == 0:
        step = statistics.median(times[3:])
        peak_mb = (torch.cuda.max_memory_allocated() / 2**20 if gpu
                   else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        queue.put({"step_s": step, "tokens_per_s": args.world * args.micro_batch * args.seq / step,
                   "params": n_params, "peak_mb_rank0": peak_mb})
    dist.destroy_process_group()


def run_variant(args: argparse.Namespace) -> None:
    """Child process: spawn the ranks, print rank 0's result as one JSON line."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(rank_main, args=(args, port, queue), nprocs=args.world, start_method="spawn")
    print("RESULT " + json.dumps(queue.get()), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--zero", type=int, default=2)
    ap.add_argument("--micro-batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peak-tflops", type=float, default=None, help="per device")
    ap.add_argument("--variant", default=None, help=argparse.SUPPRESS)  # set for the child processes
    args = ap.parse_args()
    if args.variant:
        run_variant(args)
        return

    from stagewise.cluster.env import CPU_TRAINING_MALLOC, apply_cpu_env

    apply_cpu_env()  # DS_ACCELERATOR=cpu and the prebuilt op cache on CPU machines; nothing on CUDA ones
    plain = {k: v for k, v in os.environ.items() if k not in CPU_TRAINING_MALLOC}
    variants = {"trainer step": dict(os.environ)} if args.device == "cuda" else {
        "baseline": plain, "contiguous loss": plain, "contiguous loss + malloc env": {**plain, **CPU_TRAINING_MALLOC}}
    peak = args.peak_tflops or (989.0 if args.device == "cuda" else 0.1)
    results: dict[str, list[dict]] = {name: [] for name in variants}
    child = [sys.executable, __file__, *sys.argv[1:]]
    for _ in range(args.repeats):  # interleaved, so a noisy minute hits every variant alike
        for name, env in variants.items():
            out = subprocess.run([*child, "--variant", name], env=env, capture_output=True, text=True, check=False)
            line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"{name}: no result (exit {out.returncode}):\n{out.stderr[-3000:]}")
            results[name].append(json.loads(line[len("RESULT "):]))
    first = next(iter(results.values()))
    base = statistics.median(r["tokens_per_s"] for r in first)
    print(f"\n{args.preset} Llama ({first[0]['params'] / 1e6:,.2f}M params), {args.precision}, ZeRO-{args.zero}, "
          f"{args.world} rank(s) on {args.device}, micro-batch {args.micro_batch} x {args.seq} tokens, "
          f"median of {args.repeats} runs x {args.steps - 3} steps")
    print("| variant | tokens/s | s/step | vs first row | MFU | peak MB (rank 0) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        tps = statistics.median(r["tokens_per_s"] for r in runs)
        step = statistics.median(r["step_s"] for r in runs)
        mfu = 6 * runs[0]["params"] * tps / (args.world * peak * 1e12)
        print(f"| {name} | {tps:,.0f} | {step:.3f} | {tps / base:.2f}x | {mfu:.1%} | "
              f"{max(r['peak_mb_rank0'] for r in runs):,.0f} |")


if __name__ == "__main__":
    main()
