"""Peak host memory of loading a model for ZeRO-3 on 2 ranks: partitioned while loading vs whole per rank.

    STAGEWISE_CACHE=.cache .venv/bin/python bench/bench_load.py [--layers 12] [--hidden 1024] [--out /tmp/bench-load]

A random-init Llama (default ~250M params, ~1.0 GB in fp32) saved as a HF dir, then two Ray Train runs of 2 CPU
ranks (fresh worker processes each): `zero3_init` (the trainer's default: transformers' HfDeepSpeedConfig, each
rank loads its partition) and the whole-model path the trainer used before (every rank loads it all, then
deepspeed.initialize partitions). Each rank reports its peak RSS (ru_maxrss) after its imports (the constant),
after loading, and after deepspeed.initialize (ZeRO-3, fp32, torch AdamW: its optimizer states included), as
peak anonymous RSS (the rank's own memory; ru_maxrss, also printed, counts the mapped weight files too). The
functions are the trainer's own (train/worker.py).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class PeakAnon:
    """Peak anonymous (private) RSS of this process, sampled at 50 Hz: ru_maxrss would also count the pages of
    the safetensors files that loading maps from the page cache, which are shared and not the rank's own."""

    def __init__(self):
        import threading

        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> float:
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def read(self) -> float:
        self.peak = max(self.peak, self.now())
        return self.peak


def make_model(out: Path, layers: int, hidden: int) -> tuple[Path, int]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if (out / "config.json").exists():
        cfg = json.loads((out / "config.json").read_text())
        return out, cfg["stagewise_bench_params"]
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32000, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                         num_attention_heads=hidden // 64, num_key_value_heads=max(1, hidden // 256),
                         max_position_embeddings=2048, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    params = sum(p.numel() for p in model.parameters())
    model.config.stagewise_bench_params = params
    model.save_pretrained(out, safe_serialization=True)
    return out, params


def load_loop(cfg: dict) -> None:
    import deepspeed
    import ray.train
    import torch

    from stagewise.train.config import TrainStageConfig
    from stagewise.train.losses import TokenNLL
    from stagewise.train.worker import _load_model, deepspeed_config

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(1)
    stage = TrainStageConfig(name="load", objective="sft", init=cfg["model"], output="x", data=["x.jsonl"],
                             zero_stage=3, precision="fp32", micro_batch_size=1, zero3_init=cfg["zero3_init"])
    ds_config = deepspeed_config(stage, world)
    meter = PeakAnon()
    before = meter.read()
    t = time.perf_counter()
    if stage.zero3_init:
        deepspeed.init_distributed()
    model = _load_model(cfg["model"], torch.float32, stage, ds_config if stage.zero3_init else None)
    load_s = time.perf_counter() - t
    after_load = meter.read()
    engine, *_ = deepspeed.initialize(model=TokenNLL(model, True), model_parameters=model.parameters(), config=ds_config)
    after_init = meter.read()
    local = sum(p.ds_tensor.numel() for p in model.parameters())  # this rank's partition
    # Ray Train keeps rank 0's reported metrics only: every rank writes its own.
    Path(cfg["report"].format(rank=rank)).write_text(json.dumps(
        {"rank": rank, "imports_mb": before, "after_load_mb": after_load, "after_init_mb": after_init,
         "load_s": load_s, "partition_params": local,
         "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--out", type=Path, default=Path("/tmp/stagewise-bench-load"))
    args = ap.parse_args()

    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.env import training_worker_env
    from stagewise.cluster.local import ray_cluster

    args.out.mkdir(parents=True, exist_ok=True)
    model, params = make_model(args.out / "model", args.layers, args.hidden)
    full_mb = params * 4 / 2**20
    rows = {}
    with ray_cluster(ClusterConfig(num_cpus=4)):
        for zero3_init in (True, False):
            name = "partitioned while loading (zero3_init)" if zero3_init else "whole per rank, then partitioned"
            trainer = TorchTrainer(
                load_loop, train_loop_config={"model": str(model), "zero3_init": zero3_init,
                                              "report": str(args.out / f"{zero3_init}-rank{{rank}}.json")},
                scaling_config=ScalingConfig(num_workers=2, use_gpu=False, resources_per_worker={"CPU": 1}),
                torch_config=TorchConfig(backend="gloo"),
                run_config=RunConfig(name=f"load-{zero3_init}-{time.time_ns()}", storage_path=str(args.out / "runs"),
                                     worker_runtime_env={"env_vars": training_worker_env(cpu=True)}))
            result = trainer.fit()
            if result.error:
                raise result.error
            per_rank = [json.loads((args.out / f"{zero3_init}-rank{r}.json").read_text()) for r in range(2)]
            rows[name] = per_rank
            print(name, json.dumps(per_rank), flush=True)
    print(f"\nLlama {args.layers}L x {args.hidden}h, {params / 1e6:.0f}M params, full fp32 {full_mb:,.0f} MB; 2 ranks, "
          f"ZeRO-3 fp32 on CPU (peak anonymous RSS per rank, MB)")
    print("| loading | imports (constant) | after loading | loading's own | after deepspeed.initialize | load s "
          "| ru_maxrss |")
    print("|---|---|---|---|---|---|---|")
    for name, per_rank in rows.items():
        for m in per_rank:
            print(f"| {name} | {m['imports_mb']:,.0f} | {m['after_load_mb']:,.0f} | "
                  f"{m['after_load_mb'] - m['imports_mb']:,.0f} ({(m['after_load_mb'] - m['imports_mb']) / full_mb:.2f} "
                  f"x fp32 model) | {m['after_init_mb']:,.0f} | {m['load_s']:.1f} | {m['ru_maxrss_mb']:,.0f} |")


if __name__ == "__main__":
    main()
