"""Graded items/s of the eval pipeline vs a sequential transformers `generate` loop and raw vLLM offline.

    STAGEWISE_CACHE=.cache .venv/bin/python bench/bench_eval.py --items 128 --samples 8 --max-tokens 64 --repeats 3

Same prompts (the embedded XSTest set, each `--samples` times), same tiny local model (the demo's size), same
dtype, greedy:
  (a) transformers `generate`, one prompt at a time (what a naive eval loop does; timed on `--items` prompts
      once each, since a sequential loop's rate does not depend on how many it is given);
  (b) vLLM offline `LLM.chat` on all items x samples at once (the engine's ceiling; its own process);
  (c) the pipeline: Ray Data policy + grader actors (refusal-rules) against the Serve app, into the store,
      for each `--endpoints` choice (completions: token-id prompt lists; chat: one request per item).
The pipeline runs against a Serve app that is already up, after a small warm-up evaluation
(vLLM's first compiles are not counted). Each timed run is a fresh `run_evaluation` on a fresh store, so its
items/s counts the per-run start-up (plan, Ray Data planning, actor start, tokenizer load); the steady-state
row is the same runs' rate over the middle 80% of rows by grading time.
Each variant is timed `--repeats` times and medians are reported. Peak RSS: the driver's (transformers runs
in it) and the vLLM child's. Prints one JSON line per timed run and a Markdown table for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DTYPE = "float32"  # --dtype
sys.path.insert(0, str(REPO))


def conversations(n: int) -> list[list[dict[str, str]]]:
    from stagewise.evaluate import get_benchmark

    return [i["messages"] for i in get_benchmark("xstest").load(None, limit=n)]


def make_model(out: Path) -> Path:
    from stagewise.train.config import TinyModelConfig
    from stagewise.train.tiny import make_tiny_checkpoint

    corpus = [m[0]["content"] for m in conversations(150)] * 4
    return make_tiny_checkpoint(out, corpus, TinyModelConfig(max_position_embeddings=2048), seed=0)


def bench_transformers(model_dir: Path, n: int, max_tokens: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # One thread: on 2 shared cores torch's second OpenMP thread mostly spin-waits (STACK.md saw the same in
    # training); this is the loop's best setting here, so the ratio is not flattered.
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, DTYPE)).eval()
    convs = conversations(n)
    tokens = done = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for conv in convs:
            ids = tok.apply_chat_template(conv, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            out = model.generate(**ids, max_new_tokens=max_tokens, do_sample=False)
            tokens += out.shape[1] - ids["input_ids"].shape[1]
            done += 1
            if done % 16 == 0:
                print(f"transformers: {done}/{n} in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - start
    return {"variant": "transformers generate (sequential)", "items": n, "wall_s": wall, "items_per_s": n / wall,
            "completion_tokens": tokens}


VLLM_SCRIPT = """
import json, sys, time
from vllm import LLM, SamplingParams
if __name__ == "__main__":
    model_dir, n, max_tokens, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[5])
    convs = json.loads(open(sys.argv[4]).read())
    llm = LLM(model=model_dir, dtype=sys.argv[6], max_model_len=512, seed=0)
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    llm.chat(convs[:8], params, use_tqdm=False)  # warm-up, like the pipeline's
    for _ in range(repeats):
        start = time.perf_counter()
        outs = llm.chat(convs, params, use_tqdm=False)
        wall = time.perf_counter() - start
        tokens = sum(len(o.outputs[0].token_ids) for o in outs)
        print("RESULT " + json.dumps({"variant": "vLLM offline LLM.chat (all at once)", "items": n, "wall_s": wall,
                                      "items_per_s": n / wall, "completion_tokens": tokens}), flush=True)
"""


def bench_vllm(model_dir: Path, n: int, samples: int, max_tokens: int, tmp: Path, repeats: int) -> list[dict]:
    script, data = tmp / "vllm_offline.py", tmp / "convs.json"
    script.write_text(VLLM_SCRIPT)
    convs = [c for c in conversations(n) for _ in range(samples)]
    data.write_text(json.dumps(convs))
    from stagewise.cluster.env import cpu_runtime_env

    r = subprocess.run([sys.executable, str(script), str(model_dir), str(len(convs)), str(max_tokens), str(data),
                        str(repeats), DTYPE],
                       capture_output=True, text=True, env={**os.environ, **cpu_runtime_env()}, timeout=1200)
    lines = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(r.stderr[-3000:])
    return [json.loads(l[len("RESULT "):]) for l in lines]


def bench_pipeline(model_dir: Path, n: int, samples: int, max_tokens: int, tmp: Path, endpoints: list[str],
                   repeats: int) -> list[dict]:
    import pyarrow.dataset as ds

    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster
    from stagewise.evaluate import run_evaluation
    from stagewise.serve.app import start_app
    from stagewise.serve.config import ServeConfig
    from stagewise.config import validate_study

    def study(out: Path, limit: int, endpoint: str, samples: int = 1):
        return validate_study({
            "name": "bench", "output_dir": str(out), "models": [{"id": "tiny", "stage": "sft", "source": str(model_dir)}],
            "evaluation": {"sampling": {"temperature": 0.0, "max_tokens": max_tokens}, "endpoint": endpoint,
                           "benchmarks": [{"name": "xstest", "limit": limit, "samples": samples,
                                           "autoraters": ["refusal-rules"]}],
                           "autoraters": [{"name": "refusal-rules", "kind": "rules"}]},
            "wandb": {"mode": "disabled"},
        })

    results = []
    # The served engine gets the batch limits vLLM gives its offline `LLM` class on CPU (256 sequences, 4,096
    # batched tokens; its server default is half), so (b) compares the paths, not two engine settings.
    cfg = ServeConfig(port=0, max_model_len=512, kv_cache_gb=1, app_name="bench", dtype=DTYPE, max_num_seqs=256,
                      models={"tiny": {"engine_kwargs": {"max_num_batched_tokens": 4096}}})
    with ray_cluster(ClusterConfig()):
        served = start_app({"tiny": str(model_dir)}, cfg)
        for endpoint in endpoints:
            run_evaluation((s := study(tmp / f"warm-{endpoint}", 16, endpoint)).evaluation, s.context(), served, progress=False)
        for r in range(repeats):
            for endpoint in endpoints:
                out = tmp / f"timed-{endpoint}-{r}"  # a fresh store each time: nothing is resumed
                start = time.perf_counter()
                results_dir = run_evaluation((s := study(out, n, endpoint, samples)).evaluation, s.context(), served, progress=False)
                wall = time.perf_counter() - start
                stamps = ds.dataset(results_dir / "grades", format="parquet").to_table(columns=["created_at"])
                graded = stamps.num_rows
                results.append({"variant": f"pipeline (Ray Data + Serve, endpoint={endpoint})", "items": graded,
                                "wall_s": wall, "items_per_s": graded / wall,
                                "steady_items_per_s": steady_rate(stamps.column("created_at").to_pylist())})
                print(json.dumps(results[-1]), flush=True)
    return results


def steady_rate(graded_at: list) -> float:
    """Rows/s over the middle 80% of rows by grading time: the pipeline once running, without its start-up
    (plan, Ray Data planning, actor start) and its tail (the last batches draining)."""
    t = sorted(x.timestamp() for x in graded_at)
    lo, hi = len(t) // 10, len(t) * 9 // 10
    return (hi - lo) / (t[hi] - t[lo]) if t[hi] > t[lo] else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=128)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--endpoints", default="completions,chat")
    p.add_argument("--skip", default="", help="comma list of: transformers, vllm, pipeline")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--samples", type=int, default=1, help="generations per item for vLLM and the pipeline")
    # float32: this machine class (AVX2, no AVX-512 BF16) emulates bf16, which ran ~2x slower in vLLM here.
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = p.parse_args()
    global DTYPE
    DTYPE = args.dtype
    from stagewise.cluster.env import apply_cpu_env

    apply_cpu_env()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model_dir = make_model(tmp / "model")
        rows = []
        if "transformers" not in skip:
            for _ in range(args.repeats):
                rows.append(bench_transformers(model_dir, args.items, args.max_tokens))
                print(json.dumps(rows[-1]), flush=True)
        if "vllm" not in skip:
            for r in bench_vllm(model_dir, args.items, args.samples, args.max_tokens, tmp, args.repeats):
                rows.append(r)
                print(json.dumps(r), flush=True)
        if "pipeline" not in skip:
            rows += bench_pipeline(model_dir, args.items, args.samples, args.max_tokens, tmp, args.endpoints.split(","),
                                   args.repeats)
    import resource

    peak = {"driver": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "vLLM child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
    medians: dict[str, dict] = {}
    for r in rows:
        medians.setdefault(r["variant"], {"items": r["items"], "runs": []})["runs"].append(r["items_per_s"])
        if "steady_items_per_s" in r:  # the pipeline's steady state as a row of its own
            name = r["variant"] + ", steady state (middle 80% of rows)"
            medians.setdefault(name, {"items": r["items"], "runs": []})["runs"].append(r["steady_items_per_s"])
    for m in medians.values():
        m["items_per_s"] = statistics.median(m["runs"])
    base = {v.split(" ")[0]: m["items_per_s"] for v, m in medians.items()}
    print("\npeak RSS (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in peak.items()))
    print("\n| variant | items | items/s (median) | runs | vs transformers | vs vLLM offline |\n|---|---|---|---|---|---|")
    for v, m in medians.items():
        vs_hf = m["items_per_s"] / base["transformers"] if "transformers" in base else float("nan")
        vs_vllm = m["items_per_s"] / base["vLLM"] if "vLLM" in base else float("nan")
        runs = ", ".join(f"{x:.1f}" for x in m["runs"])
        print(f"| {v} | {m['items']} | {m['items_per_s']:.1f} | {runs} | {vs_hf:.1f}x | {vs_vllm:.2f}x |")


if __name__ == "__main__":
    main()
