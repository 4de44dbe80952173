"""The data path's first pass: each block of rows is checked, tokenized and packed into one Parquet file, the
blocks in parallel on the cluster (a Ray Data actor pool, one tokenizer per actor).

    prepared = prepare_stage(stage, tokenizer_dir, blocks, out_dir)     # -> Prepared: files, rows, stats

A prepared file holds the block's example rows (the objective's columns, train/examples.py) with each sequence
cut to its real length (`list<int32>`, no padding on disk; the worker pads a micro-batch to its longest row) and
its counts in the file's metadata, so a rerun (a resumed run) re-tokenizes only blocks that were not finished.
No process holds more than one block: the driver gets a few numbers per block back. Packing is best-fit within
a block (deterministic), which is what lets the run's order be a seeded shuffle of blocks (train/stream.py).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stagewise.core.errors import StagewiseError
from stagewise.train.config import TrainStageConfig
from stagewise.train.sources import Block, read_block

META_KEY = b"stagewise"
# Up to this many blocks are prepared in the driver: the actors' start-up (each imports transformers: 10-20 s on
# 2 busy cores) costs more than tokenizing 16k chats in-process (~5 s), e.g. the demo's 4,000.
LOCAL_BLOCKS = 16


@dataclass
class Prepared:
    files: list[str]  # one per block, in data order
    rows: list[int]  # example rows in each
    stats: dict[str, Any] = field(default_factory=dict)  # samples, rows, tokens, skipped_overlong, skipped_examples


def prepare_block(block: Block, stage: TrainStageConfig, tokenizer, pad_id: int):
    """(Arrow table of the block's example rows, counts) for one block."""
    import pyarrow as pa

    from stagewise.train.objectives import get_objective

    objective = get_objective(stage.objective)
    width = stage.max_seq_len
    stats: dict[str, Any] = {"samples": 0, "skipped_overlong": 0, "skipped_examples": []}

    def fits(n: int, where: str) -> bool:
        if n <= width:
            return True
        stats["skipped_overlong"] += 1
        if len(stats["skipped_examples"]) < 5:
            stats["skipped_examples"].append(f"{where}: {n} tokens > max_seq_len {width}")
        return False

    samples = [s for where, rec in read_block(block) for s in objective.samples(where, rec)]
    stats["samples"] = len(samples)
    cols = objective.columns(samples, tokenizer, stage, pad_id, fits) if samples else {}
    groups = [k.removesuffix("length") for k in cols if k.endswith("length")]
    stats["rows"] = len(cols[groups[0] + "length"]) if groups else 0
    stats["tokens"] = int(sum(cols[g + "length"].sum() for g in groups))
    arrays = {}
    for k, v in cols.items():
        if v.ndim == 1:
            arrays[k] = pa.array(v.astype(np.int32))
            continue
        lengths = cols[next(g for g in groups if k.startswith(g) and k[len(g):] in ("input_ids", "labels", "position_ids")) + "length"]
        keep = np.arange(v.shape[1])[None, :] < lengths[:, None]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        arrays[k] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(v[keep].astype(np.int32)))
    table = pa.table(arrays) if arrays else pa.table({})
    return table.replace_schema_metadata({META_KEY: json.dumps(stats).encode()}), stats


def _write(table, path: Path) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)  # a reader never sees half a file; a crashed writer leaves only a .tmp


def _finished(path: Path) -> dict[str, Any] | None:
    import pyarrow.parquet as pq

    try:
        return json.loads(pq.read_schema(path).metadata[META_KEY])
    except (OSError, KeyError, TypeError, ValueError):
        return None


class PrepareBlocks:
    """Ray Data actor: loads the tokenizer once, prepares the blocks it is given, returns their counts."""

    def __init__(self, stage: dict[str, Any], tokenizer_dir: str, pad_id: int, out_dir: str):
        from transformers import AutoTokenizer

        self.stage = TrainStageConfig(**stage)
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        self.pad_id, self.out_dir = pad_id, Path(out_dir)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for i, block in zip(batch["index"], batch["block"]):
            table, stats = prepare_block(Block(**json.loads(block)), self.stage, self.tokenizer, self.pad_id)
            _write(table, self.out_dir / block_file(int(i)))
            out.append(json.dumps(stats))
        return {"index": batch["index"], "stats": np.array(out, dtype=object)}


def block_file(index: int) -> str:
    return f"block-{index:06d}.parquet"


def prepare_stage(stage: TrainStageConfig, tokenizer, tokenizer_dir: str, blocks: list[Block], out_dir: Path,
                  local_blocks: int = LOCAL_BLOCKS) -> Prepared:
    """Prepare every block not yet prepared in `out_dir`: in this process when at most `local_blocks` are left,
    else on a Ray Data actor pool sized to the cluster's CPUs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stats: dict[int, dict[str, Any]] = {}
    todo = []
    for i in range(len(blocks)):
        done = _finished(out_dir / block_file(i))
        if done is None:
            todo.append(i)
        else:
            stats[i] = done
    if len(todo) <= local_blocks:
        for i in todo:
            table, stats[i] = prepare_block(blocks[i], stage, tokenizer, pad_id)
            _write(table, out_dir / block_file(i))
    elif todo:
        stats |= _prepare_on_cluster(stage, tokenizer_dir, pad_id, blocks, todo, out_dir)
    return _summarise(stage, [str(out_dir / block_file(i)) for i in range(len(blocks))],
                      [stats[i] for i in range(len(blocks))])


def _prepare_on_cluster(stage, tokenizer_dir, pad_id, blocks, todo, out_dir) -> dict[int, dict[str, Any]]:
    import ray
    import ray.data

    cpus = int(ray.cluster_resources().get("CPU", 1))
    items = [{"index": i, "block": json.dumps(blocks[i].as_dict())} for i in todo]
    ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        PrepareBlocks, batch_size=1, concurrency=(1, max(1, min(len(todo), cpus))), num_cpus=1,
        fn_constructor_kwargs={"stage": stage.model_dump(mode="json"), "tokenizer_dir": str(tokenizer_dir),
                               "pad_id": pad_id, "out_dir": str(out_dir)})
    try:
        return {int(r["index"]): json.loads(r["stats"]) for r in ds.iter_rows()}
    except Exception as e:  # noqa: BLE001 -- a bad row fails a task: give the user its one line, not Ray's trace
        raise stagewise_cause(e) or e from None


def stagewise_cause(e: BaseException) -> StagewiseError | None:
    """The StagewiseError behind a Ray task failure (Ray wraps it, Ray Data wraps that), as one line."""
    seen, first = set(), e
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        inner = getattr(e, "cause", None)  # RayTaskError: the exception the task raised
        if isinstance(inner, BaseException) and inner is not e:
            e = inner
            continue
        if isinstance(e, StagewiseError):
            return StagewiseError(str(e))
        e = e.__cause__ or e.__context__
    # Ray Data's UserCodeException crosses processes without its __cause__: the error survives as trace text.
    for line in str(first).splitlines():
        if "StagewiseError: " in line:
            return StagewiseError(line.split("StagewiseError: ", 1)[1].strip())
    return None


def _summarise(stage: TrainStageConfig, files: list[str], per_block: list[dict[str, Any]]) -> Prepared:
    skipped = sum(s["skipped_overlong"] for s in per_block)
    stats = {"samples": sum(s["samples"] for s in per_block), "rows": sum(s["rows"] for s in per_block),
             "tokens": sum(s["tokens"] for s in per_block), "skipped_overlong": skipped,
             "skipped_examples": [e for s in per_block for e in s["skipped_examples"]][:5], "blocks": len(files)}
    if stats["rows"] == 0:
        first = stats["skipped_examples"][0] if stats["skipped_examples"] else "no samples"
        raise StagewiseError(f"training.{stage.name}.data: every sample is longer than max_seq_len "
                             f"{stage.max_seq_len} ({first})")
    return Prepared(files, [s["rows"] for s in per_block], stats)
