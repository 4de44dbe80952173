"""Completion tokens/s through the served app (Ray Serve + vLLM, OpenAI HTTP) vs raw vLLM offline generation.

    STAGEWISE_CACHE=$PWD/.cache .venv/bin/python bench/bench_serve.py            # ~5-10 min on 2 cores
    .venv/bin/python bench/bench_serve.py --prompts 256 --max-tokens 128 --repeats 5

One run, one tiny Llama (the demo's size), the same chat prompts, greedy, `ignore_eos` so every path generates
exactly prompts x max_tokens tokens. Raw vLLM (`LLM.chat` on all prompts at once) runs in a child process so
its engine is gone before the served engine starts. The served app is measured three ways with serve.client:
one HTTP request per prompt (`/v1/chat/completions`), and prompts batched per `/v1/completions` request with
the chat template rendered client-side. Prints medians of `--repeats` timed runs after one warm-up, and ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RAW_SCRIPT = """
import json, sys, time
from vllm import LLM, SamplingParams

if __name__ == "__main__":  # vLLM spawns workers that re-import this file
    model, prompts, max_tokens, repeats, eager = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
    llm = LLM(model=model, dtype="bfloat16", max_model_len=512, seed=0, enforce_eager=eager, max_num_seqs=128)
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True)
    conversations = [[{"role": "user", "content": p}] for p in prompts]
    llm.chat(conversations, params, use_tqdm=False)  # warm-up
    for _ in range(repeats):
        t = time.perf_counter()
        outs = llm.chat(conversations, params, use_tqdm=False)
        dt = time.perf_counter() - t
        print("RAW " + json.dumps({"seconds": dt, "tokens": sum(len(o.outputs[0].token_ids) for o in outs)}), flush=True)
"""


def make_prompts(n: int) -> list[str]:
    topics = ["bread", "rivers", "the moon", "chess", "gardens", "trains", "whales", "volcanoes"]
    return [f"Question {i}: tell me something about {topics[i % len(topics)]}." for i in range(n)]


def make_model(out: Path) -> Path:
    from stagewise.train.config import TinyModelConfig
    from tests.conftest import TINY_CORPUS
    from stagewise.train.tiny import make_tiny_checkpoint

    cfg = TinyModelConfig(vocab_size=2048, hidden_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
                          intermediate_size=384, max_position_embeddings=512)
    return make_tiny_checkpoint(out, TINY_CORPUS, cfg, seed=0)


def run_raw(model: Path, prompts: list[str], args) -> list[float]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(RAW_SCRIPT)
    r = subprocess.run([sys.executable, f.name, str(model), json.dumps(prompts), str(args.max_tokens),
                        str(args.repeats), "1" if args.eager else "0"], capture_output=True, text=True)
    rows = [json.loads(l[4:]) for l in r.stdout.splitlines() if l.startswith("RAW ")]
    if r.returncode or not rows:
        causes = [l for l in r.stderr.splitlines() if "Error" in l or "error" in l]
        raise SystemExit("raw vLLM failed:\n" + "\n".join(causes[-20:]))
    return [row["tokens"] / row["seconds"] for row in rows]


def run_served(model: Path, prompts: list[str], args) -> dict[str, list[float]]:
    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster
    from stagewise.serve.app import delete_app, start_app
    from stagewise.serve.client import ServeClient
    from stagewise.serve.config import ServeConfig

    conversations = [[{"role": "user", "content": p}] for p in prompts]
    sampling = {"temperature": 0.0, "max_tokens": args.max_tokens, "ignore_eos": True}
    cfg = ServeConfig(app_name="bench", port=0, enforce_eager=args.eager, max_num_seqs=128, ready_timeout_s=1200)
    rates: dict[str, list[float]] = {}
    with ray_cluster(ClusterConfig()):
        app = start_app({"tiny": str(model)}, cfg)
        try:
            paths = {
                f"http chat, 1 prompt/request, concurrency {args.concurrency}":
                    ServeClient(app.base_url, max_concurrency=args.concurrency),
                f"http completions, {args.batch_size} prompts/request":
                    ServeClient(app.base_url, max_concurrency=args.concurrency, tokenizers=app.models,
                                batch_size=args.batch_size),
                f"http completions, {len(prompts)} prompts/request":
                    ServeClient(app.base_url, max_concurrency=args.concurrency, tokenizers=app.models,
                                batch_size=len(prompts)),
            }
            for name, client in paths.items():
                client.chat_many_sync("tiny", conversations, sampling)  # warm-up
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    results = client.chat_many_sync("tiny", conversations, sampling)
                    dt = time.perf_counter() - t
                    rates.setdefault(name, []).append(sum(r.completion_tokens for r in results) / dt)
                    print(f"  {name}: {rates[name][-1]:,.0f} tok/s", flush=True)
        finally:
            delete_app(app)
    return rates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=128)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--eager", action="store_true", help="enforce_eager (no torch.compile) on both sides")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()

    from stagewise.cluster.env import apply_cpu_env

    apply_cpu_env()  # the raw engine needs the same KV-cache budget and caches as the served one
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")  # as serve/app.py sets for served engines
    prompts = make_prompts(args.prompts)
    with tempfile.TemporaryDirectory() as tmp:
        model = make_model(Path(tmp) / "tiny")
        raw = run_raw(model, prompts, args)
        raw_peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        print(f"  raw vLLM offline: {statistics.median(raw):,.0f} tok/s", flush=True)
        served = run_served(model, prompts, args)

    base = statistics.median(raw)
    lines = [f"{args.prompts} prompts x {args.max_tokens} greedy tokens, medians of {args.repeats}:",
             f"  raw vLLM LLM.chat (all at once)            {base:>9,.0f} tok/s  1.00x  (peak RSS {raw_peak_gib:.1f} GiB)"]
    for name, r in served.items():
        lines.append(f"  {name:<42} {statistics.median(r):>9,.0f} tok/s  {statistics.median(r) / base:.2f}x")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "raw": raw, "served": served},
                                        indent=2))


if __name__ == "__main__":
    main()
