"""A rank's stream without a cluster: it reads its windows' files itself (no Ray, no object store), keeps the
run's order across window boundaries, resumes batch for batch, holds a few windows at most, and stops its reader.

    .venv/bin/pytest tests/train/test_stream_local.py     # seconds
"""
from __future__ import annotations

import random
import sys
import threading

import pytest

from stagewise.train.config import TrainStageConfig
from tests.train.test_stream import _global_order, _rows

WORLD, MB = 2, 3


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_model_dir):
    """90 chats in JSONL, blocks of 25, 20 and 45 rows (tokenized in this process)."""
    import json

    from transformers import AutoTokenizer

    from stagewise.train.prepare import prepare_stage
    from stagewise.train.sources import plan_blocks

    d = tmp_path_factory.mktemp("stream-local")
    rng = random.Random(0)
    chats = [{"messages": [{"role": "user", "content": f"q {i} " + "word " * rng.randint(1, 12)},
                           {"role": "assistant", "content": f"a {i} " + "word " * rng.randint(1, 30)}]}
             for i in range(90)]
    for name, part in (("a", chats[:25]), ("b", chats[25:45]), ("c", chats[45:])):
        (d / f"{name}.jsonl").write_text("".join(json.dumps(c) + "\n" for c in part))
    stage = TrainStageConfig(name="sft", objective="sft", init="x", output="y", data=[str(d / "*.jsonl")],
                             max_seq_len=256, packing=False)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    return prepare_stage(stage, tok, str(tiny_model_dir), plan_blocks(stage.data, block_rows=50), d / "prepared"), tok


def _ray_running() -> bool:
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def test_ranks_read_the_run_order_themselves_across_window_boundaries(prepared):
    from stagewise.train.stream import rank_batches, run_windows

    p, tok = prepared
    assert p.rows == [25, 20, 45]
    needed = 3 * 90  # three epochs; windows of one block: 25, 20, 45 rows, none a multiple of MB x WORLD
    windows = run_windows(p.files, p.rows, needed, seed=5, window_blocks=1)
    ray_before = _ray_running()
    ranks = [_rows(rank_batches(windows, r, WORLD, MB, 0, tok.pad_token_id)) for r in range(WORLD)]
    assert _ray_running() == ray_before  # no cluster needed, none started
    assert [len(r) for r in ranks] == [needed // WORLD] * WORLD
    merged = [row for g in range(needed // (MB * WORLD)) for r in ranks for row in r[g * MB:(g + 1) * MB]]
    assert merged == _global_order(p, windows)


@pytest.mark.parametrize("step", [0, 1, 4, 7, 40, 44])
def test_a_resumed_stream_continues_batch_for_batch(prepared, step):
    """Steps 4 and 7 resume inside a window (a micro-batch of step 4 spans two windows); 44 is the last."""
    from stagewise.train.stream import rank_batches, run_windows

    p, tok = prepared
    windows = run_windows(p.files, p.rows, 3 * 90, seed=5, window_blocks=1)
    for rank in range(WORLD):
        full = list(rank_batches(windows, rank, WORLD, MB, 0, tok.pad_token_id))
        resumed = list(rank_batches(windows, rank, WORLD, MB, step * MB * WORLD, tok.pad_token_id))
        assert len(full) == 45 and len(resumed) == len(full) - step
        for a, b in zip(resumed, full[step:]):
            assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_a_rank_holds_a_few_windows_however_long_the_run(prepared):
    """Arrow's allocations while streaming 100 epochs (300 windows) stay within what two windows in flight take
    (the one consumed, the next one's file read, decoded and taken: ~3x the biggest seen), not the run's length.
    Under Ray Data they grew with every window read (train/stream.py's docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stagewise.train.stream import rank_batches, run_windows

    p, tok = prepared
    biggest = max(pq.read_table(f).nbytes for f in p.files)
    base, top = pa.total_allocated_bytes(), 0
    for _ in rank_batches(run_windows(p.files, p.rows, 100 * 90, seed=5, window_blocks=1), 0, WORLD, MB, 0,
                          tok.pad_token_id):
        top = max(top, pa.total_allocated_bytes() - base)
    assert 0 < top <= 5 * biggest
    assert pa.total_allocated_bytes() - base <= biggest  # and nothing is left once the stream ends


def test_a_stream_left_early_stops_its_reader(prepared):
    from stagewise.train.stream import rank_batches, run_windows

    p, tok = prepared
    stream = rank_batches(run_windows(p.files, p.rows, 10 * 90, seed=5, window_blocks=1), 0, WORLD, MB, 0,
                          tok.pad_token_id)
    next(stream)
    stream.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("stagewise-read")]
