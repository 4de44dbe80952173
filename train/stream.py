"""The data path's second pass: the run's row order, and each rank's share of it, read by the rank itself.

    windows = run_windows(prepared.files, prepared.rows, needed=steps * rows_per_step, seed=seed)  # driver
    for batch in rank_batches(windows, rank, world, micro_batch, skip, pad_id): ...                   # worker

The order: every epoch is a fresh seeded permutation of the prepared blocks, taken `WINDOW_BLOCKS` at a time;
within a window the rows are permuted again (seeded by epoch and window), so a step mixes several blocks and
no two epochs repeat. Epochs follow each other and the run is cut at the rows it needs. Global micro-batch g is
rows [g*B, (g+1)*B) of that sequence (B = micro_batch x world) and rank r takes its slice [r*mb, (r+1)*mb) --
the same rule the one-table loader had, so losses do not depend on how the data is streamed.

Each rank streams only its own rows: it reads a window's files (a few prepared blocks) and keeps its
positions, a background thread reading the next window meanwhile. Ray Train's `streaming_split` is not used: it
hands blocks to whichever rank asks first, so a rank's rows -- and a resumed run's batches -- would depend on
timing. Nor is a Ray Data pipeline: its blocks pass through the object store, and every shared-memory page a
rank maps to read one stays in its resident set, so a rank's RSS grew with every window it read (120 one-block
windows: shared 23 -> 204 MB, private memory flat; BENCHMARKS.md). A resumed run skips whole windows before its step and
starts inside the first one: nothing before the checkpoint is read again. Memory: two windows' rows at a time
per rank, whatever the number of rows.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from stagewise.train.examples import IGNORE

# Blocks per window: more mixes the sources of a step more widely, and costs a rank that many blocks' rows in
# memory at once (4 x 1,024 Tulu-like chats: ~35 MB of int32 tokens).
WINDOW_BLOCKS = 4
# Windows a rank reads ahead of the one it is consuming: one hides a read (~0.1-0.3 s) behind the ~minute of
# training a window's rows take; memory is (1 + READ_AHEAD) windows.
READ_AHEAD = 1


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


def window_rows(window: dict[str, Any], rank: int, world: int, micro_batch: int, skip: int):
    """The window's rows that belong to rank `rank` from run position `skip` on, in run order (an Arrow
    table), or None when it has none. Reads the window's files whole: a few blocks, never more."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    take = rank_positions(window, rank, world, micro_batch, skip)
    if not len(take):
        return None
    # One thread (Arrow's own pool would take every core of the node for a moment, beside the training step).
    files = [pq.read_table(f, use_threads=False) for f in window["files"]]
    return pa.concat_tables(files).replace_schema_metadata(None).take(take)


def rank_batches(windows: list[dict[str, Any]], rank: int, world: int, micro_batch: int, skip: int, pad_id: int):
    """This rank's micro-batches (dicts of [micro_batch, width] int64 numpy arrays) from run position `skip`.

    A background thread reads the next window while this one is consumed (pyarrow releases the GIL while it
    reads and decompresses); a micro-batch may span two windows, the rows left at the end are dropped."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    left = [w for w in windows if w["offset"] + w["take"] > skip]
    with ThreadPoolExecutor(1, thread_name_prefix="stagewise-read") as reader:
        ahead = deque(reader.submit(window_rows, w, rank, world, micro_batch, skip) for w in left[:READ_AHEAD])
        carry = None
        for i in range(len(left)):
            if i + READ_AHEAD < len(left):
                ahead.append(reader.submit(window_rows, left[i + READ_AHEAD], rank, world, micro_batch, skip))
            table = ahead.popleft().result()
            if table is None:
                continue
            table = pa.concat_tables([carry, table]) if carry is not None else table
            whole = len(table) - len(table) % micro_batch
            for start in range(0, whole, micro_batch):
                yield padded(table.slice(start, micro_batch), pad_id)
            carry = table.slice(whole) if whole < len(table) else None


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
