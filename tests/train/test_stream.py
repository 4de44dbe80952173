"""The streamed data path on a real Ray cluster: blocks prepared in parallel by Ray Data, each rank streaming only
its own rows of the run's seeded order, a resumed stream continuing batch for batch, bad rows named.

    .venv/bin/pytest tests/train/test_stream.py     # ~1 min
"""
from __future__ import annotations

import json
import os
import random

import pytest

from stagewise.core.errors import StagewiseError
from stagewise.train.config import TrainStageConfig

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WORLD, MB = 2, 3


def _chat(rng: random.Random, i: int) -> dict:
    return {"id": f"c{i}", "source": "made-up",  # Tulu 3's extra columns: ignored
            "messages": [{"role": "user", "content": f"question {i} " + "word " * rng.randint(1, 12)},
                         {"role": "assistant", "content": f"answer {i} " + "word " * rng.randint(1, 30)}]}


@pytest.fixture(scope="module")
def cluster():
    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster

    saved = os.environ.pop("RAY_ADDRESS", None)
    with ray_cluster(ClusterConfig(num_cpus=4)) as info:
        yield info
    if saved is not None:
        os.environ["RAY_ADDRESS"] = saved


@pytest.fixture(scope="module")
def prepared(cluster, tmp_path_factory, tiny_model_dir):
    """Two Parquet shards (a glob) of 130 chats, in blocks of 40 rows: four blocks prepared on the cluster."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    from stagewise.train.prepare import prepare_stage
    from stagewise.train.sources import plan_blocks

    d = tmp_path_factory.mktemp("stream")
    rng = random.Random(0)
    chats = [_chat(rng, i) for i in range(130)]
    pq.write_table(pa.Table.from_pylist(chats[:70]), d / "part-0.parquet", row_group_size=16)
    pq.write_table(pa.Table.from_pylist(chats[70:]), d / "part-1.parquet", row_group_size=16)
    stage = TrainStageConfig(name="sft", objective="sft", init="x", output="y", data=[str(d / "part-*.parquet")],
                             max_seq_len=256, packing=False)
    blocks = plan_blocks(stage.data, block_rows=40)
    assert [(b.start, b.stop) for b in blocks] == [(0, 40), (40, 70), (0, 40), (40, 60)]
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    return prepare_stage(stage, tok, str(tiny_model_dir), blocks, d / "prepared", local_blocks=0), tok


def _rows(batches) -> list[tuple[int, ...]]:
    return [tuple(int(t) for t in ids[:n]) for b in batches for ids, n in zip(b["input_ids"], b["length"])]


def _global_order(prepared, windows) -> list[tuple[int, ...]]:
    """The run's order read straight from the files: what one rank of a one-rank run would see."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stagewise.train.stream import rank_positions

    out = []
    for w in windows:
        table = pa.concat_tables([pq.read_table(f) for f in w["files"]]).take(rank_positions(w, 0, 1, 1, 0))
        out += [tuple(r) for r in table.column("input_ids").to_pylist()]
    return out


def test_blocks_are_prepared_on_the_cluster_and_counted(prepared):
    p, _ = prepared
    assert p.stats["samples"] == 130 and p.stats["rows"] == 130 and len(p.files) == 4  # no packing: a chat a row
    assert sum(p.rows) == 130 and p.stats["tokens"] > 130 * 10


def test_each_rank_streams_its_own_rows_disjoint_and_together_complete(prepared):
    from stagewise.train.stream import rank_batches, run_windows

    p, tok = prepared
    needed = 2 * 126  # two epochs of whole global micro-batches (6 rows); the run's rows, cut at that
    windows = run_windows(p.files, p.rows, needed, seed=7, window_blocks=2)
    ranks = [_rows(rank_batches(windows, r, WORLD, MB, 0, tok.pad_token_id)) for r in range(WORLD)]
    assert [len(r) for r in ranks] == [needed // WORLD] * WORLD
    # Interleaved by global micro-batch, the ranks' rows are exactly the run's order ...
    merged = [row for g in range(needed // (MB * WORLD)) for r in ranks for row in r[g * MB:(g + 1) * MB]]
    assert merged == _global_order(p, windows)
    # ... so within an epoch no row is read twice, and an epoch reads every row.
    import pyarrow.parquet as pq

    epoch = merged[:126]
    assert len(set(epoch)) == len(epoch)
    every = {tuple(r) for f in p.files for r in pq.read_table(f).column("input_ids").to_pylist()}
    assert set(epoch) <= every and len(every - set(epoch)) == 130 - 126  # the epoch's cut-off tail only


def test_a_resumed_stream_continues_batch_for_batch(prepared):
    from stagewise.train.stream import rank_batches, run_windows

    p, tok = prepared
    windows = run_windows(p.files, p.rows, 2 * 126, seed=7, window_blocks=2)
    for rank in range(WORLD):
        full = list(rank_batches(windows, rank, WORLD, MB, 0, tok.pad_token_id))
        for step in (1, 17, len(full) - 1):
            resumed = list(rank_batches(windows, rank, WORLD, MB, step * MB * WORLD, tok.pad_token_id))
            assert len(resumed) == len(full) - step
            for a, b in zip(resumed, full[step:]):
                assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_a_bad_row_in_a_parallel_block_fails_with_one_line(cluster, tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    from stagewise.train.prepare import prepare_stage
    from stagewise.train.sources import plan_blocks

    rng = random.Random(1)
    rows = [_chat(rng, i) for i in range(50)]
    rows[45]["messages"][1]["role"] = "robot"
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stage = TrainStageConfig(name="sft", objective="sft", init="x", output="y", data=[str(path)])
    with pytest.raises(StagewiseError) as err:
        prepare_stage(stage, AutoTokenizer.from_pretrained(tiny_model_dir), str(tiny_model_dir),
                      plan_blocks(stage.data, block_rows=20), tmp_path / "prepared", local_blocks=0)
    assert str(err.value) == f"{path}: row 46: unknown role 'robot' in messages[1] (expected system, user, assistant)"
