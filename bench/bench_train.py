"""SFT tokens/s: this trainer (Ray Train + DeepSpeed ZeRO-2, 2 ranks) vs a plain single-process PyTorch loop.

    STAGEWISE_CACHE=.cache .venv/bin/python bench/bench_train.py [--steps 60] [--repeats 3] [--out /tmp/bench]

Same tiny Llama (the demo's size), same chats (2,000 of ~25-220 tokens, a realistic length spread), same
batch (16 sequences a step), same loss (assistant tokens only), same cores (the plain loop gets every core
as threads; the trainer one core per rank). Tokens are real (non-pad) tokens; time is the training loop only
(start-up, which Ray Train pays once per run, is reported apart). Rows: plain loop; trainer, packing off;
trainer, packing on. Medians of `--repeats` runs.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = ("the river mill grain bread flour water salt yeast dough rise hour sea wave gull poem library road "
         "budget committee tuesday winter summer garden train music quiet loud green bright calm old fast").split()


def make_chats(path: Path, n: int = 2000, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w") as f:
        for _ in range(n):
            q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 20)))
            a = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 170)))
            f.write(json.dumps({"messages": [{"role": "user", "content": q + "?"},
                                             {"role": "assistant", "content": a + "."}]}) + "\n")


def plain_loop(model_dir: Path, data: str, steps: int, batch: int, max_len: int, seed: int) -> dict:
    """The baseline: transformers model, torch AdamW, bf16 autocast, one process, every core."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import pyarrow as pa
    import pyarrow.parquet as pq

    from stagewise.train.config import TrainStageConfig
    from stagewise.train.losses import TokenNLL, lm_loss
    from stagewise.train.prepare import prepare_stage
    from stagewise.train.sources import plan_blocks
    from stagewise.train.stream import padded, rank_positions, run_windows

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    stage = TrainStageConfig(name="b", objective="sft", init="x", output="y", data=[data], max_seq_len=max_len)
    # The trainer's rows and order, read in this process (one rank of batch rows a micro-step).
    prepared = prepare_stage(stage, tok, str(model_dir), plan_blocks([data]), Path(data).parent / f"plain-{seed}")
    order = [pa.concat_tables([pq.read_table(f) for f in w["files"]]).take(rank_positions(w, 0, 1, batch, 0))
             for w in run_windows(prepared.files, prepared.rows, steps * batch, seed)]
    rows = pa.concat_tables(order)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    tokens, t0 = 0, time.perf_counter()
    for s in range(steps):
        cols = padded(rows.slice(s * batch, batch), tok.pad_token_id)  # to the batch's longest row, as the trainer
        b = {k: torch.from_numpy(cols[k]) for k in ("input_ids", "labels", "position_ids")}
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = lm_loss(TokenNLL(model), b)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(cols["length"].sum())
    wall = time.perf_counter() - t0
    return {"tokens_per_s": tokens / wall, "step_s": wall / steps,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def trainer_run(out: Path, model_dir: Path, data: str, steps: int, batch: int, max_len: int, packing: bool,
                seed: int) -> dict:
    from stagewise.config import validate_study
    from stagewise.train import run_stage

    study = validate_study({
        "name": "bench", "output_dir": str(out), "seed": seed,
        "models": [{"id": "base", "stage": "base", "source": str(model_dir)}, {"id": "sft", "stage": "sft"}],
        "training": [{"name": "sft", "objective": "sft", "init": "base", "output": "sft", "data": [data],
                      "num_workers": 2, "micro_batch_size": batch // 2, "max_seq_len": max_len, "lr": 1e-3,
                      "max_steps": steps, "packing": packing, "precision": "bf16", "zero_stage": 2,
                      "max_failures": 0}],
        "wandb": {"mode": "disabled"},
    })
    t0 = time.perf_counter()
    path = run_stage(study.training[0], study.context(), study.tiny)
    total = time.perf_counter() - t0
    m = json.loads((path / "stagewise.json").read_text())["metrics"]
    return {"tokens_per_s": m["tokens_per_s"], "step_s": m["step_s_median"], "startup_s": total - m["wall_s"],
            "peak_rss_mb": m["peak_rss_mb_rank0"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/stagewise-bench-train"))
    args = ap.parse_args()

    import shutil

    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster
    from stagewise.train.config import TinyModelConfig
    from stagewise.train.objectives import get_objective
    from stagewise.train.tiny import make_tiny_checkpoint

    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    data = args.out / "chats.jsonl"
    make_chats(data)
    texts = get_objective("sft").tokenizer_texts([str(data)])
    model_dir = make_tiny_checkpoint(args.out / "tiny", texts, TinyModelConfig(), 0)
    results: dict[str, list[dict]] = {"plain loop (1 process, all cores)": [], "trainer, packing off": [],
                                      "trainer, packing on": []}
    with ray_cluster(ClusterConfig()):
        for r in range(args.repeats):
            results["plain loop (1 process, all cores)"].append(plain_loop(model_dir, str(data), args.steps, 16, 256, r))
            for packing in (False, True):
                key = f"trainer, packing {'on' if packing else 'off'}"
                results[key].append(trainer_run(args.out / f"run{r}-{packing}", model_dir, str(data), args.steps,
                                                16, 256, packing, r))
    base = statistics.median(x["tokens_per_s"] for x in results["plain loop (1 process, all cores)"])
    off = statistics.median(x["tokens_per_s"] for x in results["trainer, packing off"])
    print(f"\nSFT, tiny Llama {TinyModelConfig().hidden_size}h x {TinyModelConfig().num_layers}L, batch 16 x <=256 "
          f"tokens, {args.steps} steps, {os.cpu_count()} cores, median of {args.repeats}")
    print("| run | real tokens/s | s/step | vs plain loop | vs packing off | start-up s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        tps = statistics.median(x["tokens_per_s"] for x in runs)
        step = statistics.median(x["step_s"] for x in runs)
        start = statistics.median(x.get("startup_s", 0.0) for x in runs)
        rss = max(x["peak_rss_mb"] for x in runs)
        print(f"| {name} | {tps:,.0f} | {step:.3f} | {tps / base:.2f}x | {tps / off:.2f}x | {start:.0f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
