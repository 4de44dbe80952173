"""Peak host memory of loading a model for ZeRO-3 on 2 ranks: partitioned while loading vs whole per rank.

    STAGEWISE_CACHE=$PWD/.cache .venv/bin/python bench/bench_load.py [--layers 16] [--hidden 1024] [--runs 3]

A random-init Llama (default 309M params, 1,178 MiB in fp32) saved as a HF dir (bf16 safetensors), then, per run,
three Ray Train runs of 2 CPU ranks one after the other in the same cluster (fresh worker processes each), loading
it with the trainer's own functions (train/worker.py: `deepspeed_config`, `_load_model`) in fp32:
- `zero3`: the trainer's default (`zero3_init`: transformers' HfDeepSpeedConfig alive during from_pretrained, inside
  `cluster.env.large_allocations_mapped`: tensors over 1 MiB get their own mapping while loading);
- `zero3-heap`: the same load with the workers' training malloc settings throughout (the loader before 12-06);
- `whole`: the load the trainer used before (every rank loads it all; deepspeed.initialize partitions).

Each rank samples its own memory at 50 Hz from the moment its imports are done (transformers' Llama included):
that moment's RSS is the constant; the peaks after loading and after deepspeed.initialize (ZeRO-3, fp32, torch
AdamW) follow. Anonymous RSS (the rank's own) and file-backed RSS (the memory-mapped safetensors file: page cache,
shared by every rank of a node, reclaimable) are counted apart. The target (issue 24): a rank's own peak while
loading under ~1/2 of the model's fp32 size plus the constant. Medians of `--runs` runs per path and rank; the
driver's 1-minute load average is printed beside each path.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PATHS = {
    "zero3": "partitioned while loading (zero3_init, the default; tensors > 1 MiB mapped while loading)",
    "zero3-heap": "partitioned, freed tensors left in the heap (the loader before 12-06)",
    "whole": "whole per rank, then partitioned (zero3_init: false, the path before)",
}


class PeakRss:
    """Peak anonymous and anonymous + file-backed RSS of this process, sampled at 50 Hz. ru_maxrss cannot tell
    them apart: it also counts the safetensors pages loading maps from the page cache."""

    def __init__(self):
        import threading

        self.anon = self.file = self.total = 0.0
        self.read()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> tuple[float, float]:
        """(anonymous, file-backed) RSS in MiB."""
        kb = {}
        for line in open("/proc/self/status"):
            if line.startswith(("RssAnon:", "RssFile:")):
                kb[line.split(":")[0]] = int(line.split()[1])
        return kb["RssAnon"] / 1024, kb["RssFile"] / 1024

    def _run(self) -> None:
        while True:
            time.sleep(0.02)
            self.read()

    def read(self) -> tuple[float, float, float]:
        """The peaks so far: anonymous, file-backed, and their sum at one moment."""
        anon, file = self.now()
        self.anon, self.file, self.total = max(self.anon, anon), max(self.file, file), max(self.total, anon + file)
        return self.anon, self.file, self.total


def make_model(out: Path, layers: int, hidden: int) -> tuple[Path, int]:
    """Saved in bf16, as published checkpoints are: the trainer loads fp32 (`_load_model(init, torch.float32)`), so
    each tensor is converted into the rank's own memory. An fp32 file would be mapped, not copied: a whole load
    would then hold no weights of its own until deepspeed.initialize touched them, unlike any real checkpoint."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if (out / "config.json").exists():
        cfg = json.loads((out / "config.json").read_text())
        if (cfg["num_hidden_layers"], cfg["hidden_size"], cfg.get("dtype")) == (layers, hidden, "bfloat16"):
            return out, cfg["stagewise_bench_params"]
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32000, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                         num_attention_heads=hidden // 64, num_key_value_heads=max(1, hidden // 256),
                         max_position_embeddings=2048, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    params = sum(p.numel() for p in model.parameters())
    model.config.stagewise_bench_params = params
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    return out, params


def load_loop(cfg: dict) -> None:
    import deepspeed
    import ray.train
    import torch
    import transformers.models.llama.modeling_llama  # noqa: F401  (imports belong to the constant, not to loading)
    from transformers import AutoModelForCausalLM  # noqa: F401

    from stagewise.train.config import TrainStageConfig
    from stagewise.train.losses import TokenNLL
    from stagewise.train.worker import _load_model, deepspeed_config

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(1)
    stage = TrainStageConfig(name="load", objective="sft", init=cfg["model"], output="x", data=["x.jsonl"],
                             zero_stage=3, precision="fp32", micro_batch_size=1, zero3_init=cfg["path"] != "whole")
    ds_config = deepspeed_config(stage, world)
    deepspeed.init_distributed()  # every path: deepspeed.initialize would do it for the whole load anyway
    meter = PeakRss()
    anon0, file0, total0 = meter.read()
    t = time.perf_counter()
    if cfg["path"] == "zero3-heap":  # the baseline: the trainer's loader without its mapped allocations
        import stagewise.train.worker as worker

        worker.large_allocations_mapped = nullcontext
    model = _load_model(cfg["model"], torch.float32, stage, ds_config if stage.zero3_init else None)
    load_s = time.perf_counter() - t
    anon_load, file_load, total_load = meter.read()
    held_load = meter.now()[0]  # what the loaded model keeps, once loading's transients are freed
    engine, *_ = deepspeed.initialize(model=TokenNLL(model, True), model_parameters=model.parameters(), config=ds_config)
    anon_init, file_init, total_init = meter.read()
    # Ray Train keeps rank 0's reported metrics only: every rank writes its own.
    Path(cfg["report"].format(rank=rank)).write_text(json.dumps(
        {"rank": rank, "const_anon": anon0, "const_file": file0, "const_total": total0, "load_anon": anon_load,
         "load_file": file_load, "load_total": total_load, "load_held": held_load, "init_anon": anon_init, "init_file": file_init, "init_total": total_init, "load_s": load_s,
         "partition_params": sum(p.ds_tensor.numel() for p in model.parameters())}))


def one_path(model: Path, path: str, out: Path, run: int) -> list[dict]:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from stagewise.cluster.env import training_worker_env

    report = out / f"run{run}-{path}-rank{{rank}}.json"
    load_before = os.getloadavg()[0]
    trainer = TorchTrainer(
        load_loop, train_loop_config={"model": str(model), "path": path, "report": str(report)},
        scaling_config=ScalingConfig(num_workers=2, use_gpu=False, resources_per_worker={"CPU": 1}),
        torch_config=TorchConfig(backend="gloo"),
        run_config=RunConfig(name=f"load-{path}-{time.time_ns()}", storage_path=str(out / "runs"),
                             worker_runtime_env={"env_vars": training_worker_env(cpu=True)}))
    result = trainer.fit()
    if result.error:
        raise result.error
    per_rank = [json.loads(Path(str(report).format(rank=r)).read_text()) for r in range(2)]
    for m in per_rank:
        m["loadavg"] = (load_before, os.getloadavg()[0])
    print(f"run {run}: {path}: {json.dumps(per_rank)}", flush=True)
    return per_rank


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/stagewise-bench-load"))
    args = ap.parse_args()

    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster

    args.out.mkdir(parents=True, exist_ok=True)
    model, params = make_model(args.out / "model", args.layers, args.hidden)
    full_mb = params * 4 / 2**20
    runs: dict[str, list[list[dict]]] = {path: [] for path in PATHS}
    with ray_cluster(ClusterConfig(num_cpus=4)):
        for run in range(args.runs):
            for path in PATHS:
                runs[path].append(one_path(model, path, args.out, run))

    med = statistics.median
    print(f"\nLlama {args.layers}L x {args.hidden}h, {params / 1e6:.0f}M params, full fp32 {full_mb:,.0f} MB; 2 ranks, "
          f"ZeRO-3 fp32 on CPU; medians of {args.runs} runs; MB per rank; target: loading's own < "
          f"{full_mb / 2:,.0f} MB (1/2 the fp32 model)")
    print("| path | rank | constant (anon RSS after imports) | peak while loading (anon) | loading's own peak "
          "(- constant) | x fp32 model | held after loading (- constant) | peak file-backed (mapped weights) | "
          "peak after deepspeed.initialize (anon) | load s | load avg (1 min, before -> after each run) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for path, per_run in runs.items():
        for r in range(2):
            ms = [per_rank[r] for per_rank in per_run]
            own = med(m["load_anon"] - m["const_anon"] for m in ms)
            file_backed = med(m["load_file"] - m["const_file"] for m in ms)
            load = ", ".join(f"{m['loadavg'][0]:.1f} -> {m['loadavg'][1]:.1f}" for m in ms)
            print(f"| {PATHS[path]} | {r} | {med(m['const_anon'] for m in ms):,.0f} | "
                  f"{med(m['load_anon'] for m in ms):,.0f} | {own:,.0f} | {own / full_mb:.2f} | "
                  f"{med(m['load_held'] - m['const_anon'] for m in ms):,.0f} | {file_backed:,.0f} | "
                  f"{med(m['init_anon'] for m in ms):,.0f} | {med(m['load_s'] for m in ms):.1f} | {load} |")


if __name__ == "__main__":
    main()
