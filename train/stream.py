"""The data path's second pass: the run's row order, and each rank's share of it streamed by Ray Data.

    windows = run_windows(prepared.files, prepared.rows, needed=steps * rows_per_step, seed=seed)  # driver
    for batch in rank_batches(windows, rank, world, micro_batch, skip, pad_id): ...                   # worker

The order: every epoch is a fresh seeded permutation of the prepared blocks, taken `WINDOW_BLOCKS` at a time;
within a window the rows are permuted again (seeded by epoch and window), so a step mixes several blocks and
no two epochs repeat. Epochs follow each other and the run is cut at the rows it needs. Global micro-batch g is
rows [g*B, (g+1)*B) of that sequence (B = micro_batch x world) and rank r takes its slice [r*mb, (r+1)*mb) --
the same rule the one-table loader had, so losses do not depend on how the data is streamed.

Each rank streams only its own rows: a Ray Data pipeline over the windows (tens of small dicts, not rows) that
reads a window's files and keeps the rank's positions. Ray Train's `streaming_split` is not used: it hands
blocks to whichever rank asks first, so a rank's rows -- and a resumed run's batches -- would depend on timing.
A resumed run skips whole windows before its step and starts inside the first one: nothing before the
checkpoint is read again. Memory: a window's rows at a time per rank, whatever the number of rows.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from stagewise.train.examples import IGNORE

# Blocks per window: more mixes the sources of a step more widely, and costs a rank that many blocks' rows in
# memory at once (4 x 1,024 Tulu-like chats: ~35 MB of int32 tokens).
WINDOW_BLOCKS = 4


def run_windows(files: list[str], rows: list[int], needed: int, seed: int,
                window_blocks: int = WINDOW_BLOCKS) -> list[dict[str, Any]]:
    """The run's order as windows: {files, rows, offset (first position in the run), take, seed}."""
    present = [b for b in range(len(files)) if rows[b] > 0]
    windows: list[dict[str, Any]] = []
    offset, epoch = 0, 0
    while offset < needed:
        order = [present[i] for i in np.random.default_rng([seed, epoch]).permutation(len(present))]
        for w in range(0, len(order), window_blocks):
            ids = order[w : w + window_blocks]
            n = sum(rows[b] for b in ids)
            take = min(n, needed - offset)
            windows.append({"files": [files[b] for b in ids], "rows": n, "offset": offset, "take": take,
                            "seed": [seed, epoch, w]})
            offset += take
            if offset >= needed:
                break
        epoch += 1
    return windows


def rank_positions(window: dict[str, Any], rank: int, world: int, micro_batch: int, skip: int) -> np.ndarray:
    """Indices into the window's (permuted) rows that rank `rank` reads, from run position `skip` on."""
    j = np.arange(max(0, skip - window["offset"]), window["take"])
    mine = j[((window["offset"] + j) % (micro_batch * world)) // micro_batch == rank]
    perm = np.random.default_rng(window["seed"]).permutation(window["rows"])
    return perm[mine]


def read_window(batch: dict[str, np.ndarray], rank: int, world: int, micro_batch: int, skip: int):
    """Ray Data UDF: the rows of a window (one per batch) that belong to rank `rank`, in run order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for raw in batch["window"]:
        window = json.loads(raw)
        take = rank_positions(window, rank, world, micro_batch, skip)
        table = pa.concat_tables([pq.read_table(f) for f in window["files"]]) if len(take) else None
        tables.append(table.take(take) if table is not None else pq.read_schema(window["files"][0]).empty_table())
    return pa.concat_tables(tables).replace_schema_metadata(None)


def rank_dataset(windows: list[dict[str, Any]], rank: int, world: int, micro_batch: int, skip: int):
    """The Ray Dataset of rank `rank`'s rows from run position `skip` on (windows wholly before it dropped)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # the run order is the point
    ctx.enable_progress_bars = False
    left = [json.dumps(w) for w in windows if w["offset"] + w["take"] > skip]
    ds = ray.data.from_items([{"window": w} for w in left], override_num_blocks=max(1, len(left)))
    # No CPU reserved, two at a time: reading Parquet is light, and a task that asks for a CPU waits forever
    # where the training workers hold them all (a node with as many CPUs as ranks: seen hanging in bench_data).
    return ds.map_batches(read_window, fn_kwargs={"rank": rank, "world": world, "micro_batch": micro_batch,
                                                  "skip": skip}, batch_size=1, num_cpus=0, concurrency=2)


def rank_batches(windows: list[dict[str, Any]], rank: int, world: int, micro_batch: int, skip: int, pad_id: int):
    """This rank's micro-batches (dicts of [micro_batch, width] int64 numpy arrays) from run position `skip`."""
    ds = rank_dataset(windows, rank, world, micro_batch, skip)
    for table in ds.iter_batches(batch_size=micro_batch, batch_format="pyarrow", drop_last=True, prefetch_batches=4):
        yield padded(table, pad_id)


def padded(table, pad_id: int) -> dict[str, np.ndarray]:
    """Cut-to-length sequences as right-padded arrays as wide as the longest row. Pads get no loss and positions
    that continue the row's last sequence: under a causal mask no real token sees them."""
    groups = [c.removesuffix("length") for c in table.column_names if c.endswith("length")]
    lengths = {g: table.column(g + "length").to_numpy().astype(np.int64) for g in groups}
    width = max(1, max(int(v.max()) for v in lengths.values()))
    out: dict[str, np.ndarray] = {}
    for g in groups:
        n = lengths[g]
        real = np.arange(width)[None, :] < n[:, None]
        for col, fill in (("input_ids", pad_id), ("labels", IGNORE), ("position_ids", None)):
            flat = table.column(g + col).combine_chunks().flatten().to_numpy().astype(np.int64)
            if fill is None:
                ends = np.cumsum(n) - 1
                last = np.where(n > 0, flat[np.clip(ends, 0, None)] if len(flat) else 0, -1)
                arr = np.arange(width)[None, :] - n[:, None] + last[:, None] + 1
            else:
                arr = np.full((len(n), width), fill, dtype=np.int64)
            arr[real] = flat
            out[g + col] = arr
        out[g + "length"] = n
    return out
