"""The streamed data path at scale: driver and per-rank peak memory, and tokens/s, for N vs 10N conversations.

    STAGEWISE_CACHE=.cache .venv/bin/python bench/bench_data.py --rows 100000 1000000 [--out /tmp/bench-data]

Generates an SFT set like the Tulu 3 mixture in Parquet shards of 50,000 rows (lengths log-normal, median ~420
tokens, mean ~700, tail cut at 4,000; `messages` plus extra `id`/`source` columns), then, in a fresh driver
process per size: the driver's checks, the parallel prepare pass (Ray Data actors: read, tokenize, pack to
4,096), the run's order, and 2 rank processes (Ray actors, as training workers) each streaming its own rows of
one epoch without training. Peak RSS: the driver (ru_maxrss; per phase, sampled every 0.2 s), each rank process,
each split into private memory and shared memory (RssShmem: the object store pages a process mapped count in its
RSS). Tokens/s: the prepare pass (tokenize + pack, all actors) and each rank's streaming; the load average at
the start, after prepare and at the end, since the machine is shared. What the training loop consumes is
bench_train.py's figure (the demo model) or the GPU check's. Up to 16 blocks (~16k rows) the driver prepares
in-process (train/prepare.py's LOCAL_BLOCKS), so compare sizes above that. The generated data stays in `--out`
(delete it after).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = ("the river mill grain bread flour water salt yeast dough rise hour sea wave gull poem library road "
         "budget committee tuesday winter summer garden train music quiet loud green bright calm old fast").split()
SHARD_ROWS = 50_000


def memory_mb() -> dict[str, float]:
    """This process's resident memory, split as the kernel counts it: private (anon), file-backed pages (code,
    mapped files) and shared memory (RssShmem: Ray's object store pages this process has mapped)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0]) / 1024
    return out


class PeakMemory:
    """Samples memory_mb() every 0.2 s in a thread; keeps each phase's peak RSS and its split at that moment."""

    def __init__(self):
        import threading

        self.phase, self.peaks = "start", {}
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            self.sample()
            time.sleep(0.2)

    def sample(self) -> None:
        m, phase = memory_mb(), self.phase
        if m["VmRSS"] > self.peaks.get(phase, {}).get("VmRSS", 0):
            self.peaks[phase] = m


def generate(out: Path, rows: int, seed: int = 0) -> str:
    """Parquet shards of `rows` chats; returns their glob. Cached: a finished set has a `done` file."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if (out / "done").exists():
        return str(out / "part-*.parquet")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pool_words = 4_000_000  # one long random text; a chat's turns are slices of it (fast to generate)
    pool = " ".join(np.array(WORDS)[rng.integers(0, len(WORDS), pool_words)])
    starts = np.concatenate([[0], np.cumsum([len(w) + 1 for w in pool.split(" ")])])
    for shard in range(0, rows, SHARD_ROWS):
        n = min(SHARD_ROWS, rows - shard)
        tokens = np.minimum(rng.lognormal(np.log(420), 1.0, n).astype(int) + 12, 4000)
        user = np.maximum(1, (tokens * rng.uniform(0.1, 0.4, n)).astype(int))
        msgs = []
        for t, u in zip(tokens, user):
            a = max(1, t - u - 10)  # ~10 tokens of chat template
            s = int(rng.integers(0, pool_words - t))
            msgs.append([{"role": "user", "content": pool[starts[s]:starts[s + u] - 1]},
                         {"role": "assistant", "content": pool[starts[s + u]:starts[s + u + a] - 1]}])
        table = pa.table({"id": [f"gen-{shard + i}" for i in range(n)], "source": ["bench_data"] * n,
                          "messages": msgs})
        pq.write_table(table, out / f"part-{shard // SHARD_ROWS:05d}.parquet", row_group_size=5_000)
    (out / "done").write_text(str(rows))
    return str(out / "part-*.parquet")


def tokenizer_dir(out: Path) -> Path:
    from stagewise.train.config import TinyModelConfig
    from stagewise.train.tiny import make_tiny_checkpoint

    if (out / "tiny" / "tokenizer.json").exists():
        return out / "tiny"
    return make_tiny_checkpoint(out / "tiny", [" ".join(WORDS)] * 50, TinyModelConfig(), 0)


def one(data: str, model: str, work: Path, world: int, cpus: int) -> dict:
    """The data path for one size, in this (fresh) driver process."""
    import ray
    from transformers import AutoTokenizer

    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster
    from stagewise.train.config import TrainStageConfig
    from stagewise.train.prepare import prepare_stage
    from stagewise.train.run import check_stage_inputs
    from stagewise.train.sources import plan_blocks
    from stagewise.train.stream import rank_batches, run_windows

    stage = TrainStageConfig(name="sft", objective="sft", init=model, output="y", data=[data], max_seq_len=4096,
                             packing=True, micro_batch_size=1, num_workers=world)
    res: dict = {"load_start": os.getloadavg()}
    mem = PeakMemory()
    with ray_cluster(ClusterConfig(num_cpus=cpus)):
        mem.phase = "check"
        t = time.perf_counter()
        check_stage_inputs(stage)
        blocks = plan_blocks(stage.data)
        res["plan_check_s"] = time.perf_counter() - t
        tok = AutoTokenizer.from_pretrained(model)
        mem.phase = "prepare"
        t = time.perf_counter()
        prepared = prepare_stage(stage, tok, model, blocks, work / "prepared")
        res["prepare_s"] = time.perf_counter() - t
        res |= {"samples": prepared.stats["samples"], "rows": prepared.stats["rows"],
                "tokens": prepared.stats["tokens"], "blocks": len(blocks)}
        res["prepare_tokens_per_s"] = prepared.stats["tokens"] / res["prepare_s"]
        res["load_after_prepare"] = os.getloadavg()
        mem.phase = "order+stream"
        per_rank = prepared.stats["rows"] // world
        windows = run_windows(prepared.files, prepared.rows, per_rank * world, seed=0)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

        @ray.remote(num_cpus=1)
        class Rank:  # a fresh process, as a training worker is
            def stream(self, rank: int) -> dict:
                peak = PeakMemory()
                t0, tokens, batches = time.perf_counter(), 0, 0
                for b in rank_batches(windows, rank, world, 1, 0, pad_id):
                    tokens += int(b["length"].sum())
                    batches += 1
                wall = time.perf_counter() - t0
                peak.sample()
                return {"tokens_per_s": tokens / wall, "tokens": tokens, "batches": batches, "wall_s": wall,
                        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                        "peak_split_mb": peak.peaks["start"], "load_end": os.getloadavg()}

        res["windows"] = len(windows)
        ranks = [Rank.remote() for _ in range(world)]
        res["ranks"] = ray.get([r.stream.remote(i) for i, r in enumerate(ranks)])
    mem.sample()
    res["driver_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["driver_peaks_mb"] = mem.peaks  # per phase: the peak RSS and its split
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--out", type=Path, default=Path("/tmp/stagewise-bench-data"))
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=4, help="the embedded cluster's logical CPUs")
    ap.add_argument("--one", nargs=3, metavar=("DATA", "MODEL", "WORK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one(args.one[0], args.one[1], Path(args.one[2]), args.world, args.cpus)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    model = tokenizer_dir(args.out)
    results = {}
    for n in args.rows:
        t = time.perf_counter()
        data = generate(args.out / f"data-{n}", n)
        gen_s = time.perf_counter() - t
        work = args.out / f"work-{n}"
        subprocess.run(["rm", "-rf", str(work)], check=True)
        log = args.out / f"run-{n}.log"
        t = time.perf_counter()
        with log.open("w") as f:  # a file, not a pipe: the child prints Ray's progress lines
            subprocess.run([sys.executable, __file__, "--world", str(args.world), "--cpus", str(args.cpus),
                            "--one", data, str(model), str(work)], stdout=f, stderr=subprocess.STDOUT, check=True)
        line = next(l for l in log.read_text().splitlines() if l.startswith("RESULT "))
        results[n] = json.loads(line[len("RESULT "):]) | {"generate_s": gen_s, "total_s": time.perf_counter() - t}
        print(n, json.dumps(results[n]), flush=True)
    print("\n| rows | tokens | windows | driver peak RSS MB (private / shared) | rank peak RSS MB, max (private / "
          "shared) | prepare tok/s | rank stream tok/s (min) | check s | prepare s | run s | load (start / after "
          "prepare / end) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, r in results.items():
        top = max(r["driver_peaks_mb"].values(), key=lambda m: m["VmRSS"])
        rank = max(r["ranks"], key=lambda x: x["peak_rss_mb"])
        load = " / ".join(f"{x[0]:.1f}" for x in (r["load_start"], r["load_after_prepare"], rank["load_end"]))
        print(f"| {n:,} | {r['tokens']:,} | {r['windows']} | {r['driver_peak_rss_mb']:.0f} ({top['RssAnon']:.0f} / "
              f"{top['RssShmem']:.0f}) | {rank['peak_rss_mb']:.0f} ({rank['peak_split_mb']['RssAnon']:.0f} / "
              f"{rank['peak_split_mb']['RssShmem']:.0f}) | {r['prepare_tokens_per_s']:,.0f} | "
              f"{min(x['tokens_per_s'] for x in r['ranks']):,.0f} | {r['plan_check_s']:.0f} | {r['prepare_s']:.0f} | "
              f"{r['total_s']:.0f} | {load} |")


if __name__ == "__main__":
    main()
