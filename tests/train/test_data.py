"""Row checks: bad input fails with one line naming file and row; over-long samples are counted and skipped."""
import json
import re

import pytest

from stagewise.core.errors import StagewiseError
from stagewise.train.config import TrainStageConfig
from stagewise.train.data import read_dpo, read_sft, read_text


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "row 2: no assistant turn"),
        ({"messages": [{"role": "robot", "content": "x"}, GOOD["messages"][1]]}, "row 2: unknown role 'robot'"),
        ({"conversation": []}, "row 2: missing column 'messages'"),
        ({"messages": [{"role": "user"}]}, "row 2: messages[0] must have 'role' and 'content'"),
    ],
)
def test_bad_sft_row_names_file_and_row(tmp_path, bad, message):
    path = _jsonl(tmp_path / "sft.jsonl", [GOOD, bad])
    with pytest.raises(StagewiseError, match="^" + re.escape(f"{path}: {message}")):
        read_sft([path])


def test_empty_missing_and_broken_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(StagewiseError, match="empty.jsonl: empty file"):
        read_sft([str(empty)])
    with pytest.raises(StagewiseError, match="nope.jsonl: no such file"):
        read_sft([str(tmp_path / "nope.jsonl")])
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(GOOD) + "\n{not json\n")
    with pytest.raises(StagewiseError, match="broken.jsonl: row 2: invalid JSON"):
        read_sft([str(broken)])
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n  \n")
    with pytest.raises(StagewiseError, match="blank.txt: empty file"):
        read_text([str(blank)])


def test_parquet_rows_are_numbered(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "q", "chosen": "a", "rejected": "b"},
                                         {"prompt": "q", "chosen": "a", "rejected": None}]), path)
    with pytest.raises(StagewiseError, match=r"pairs.parquet: row 2: missing column 'rejected'"):
        read_dpo([str(path)])


def test_dpo_accepts_text_or_messages(tmp_path):
    path = _jsonl(tmp_path / "dpo.jsonl", [
        {"prompt": "q?", "chosen": "yes", "rejected": "no"},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q?"}],
         "chosen": [{"role": "assistant", "content": "yes"}], "rejected": {"role": "assistant", "content": "no"}},
    ])
    a, b = read_dpo([path])
    assert a.prompt == [{"role": "user", "content": "q?"}] and (a.chosen, a.rejected) == ("yes", "no")
    assert b.prompt[0]["role"] == "system" and (b.chosen, b.rejected) == ("yes", "no")


def test_overlong_conversations_are_skipped_and_counted(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    from stagewise.train.prepare import prepare_stage
    from stagewise.train.sources import plan_blocks

    long = {"messages": [{"role": "user", "content": "tell me " * 200}, {"role": "assistant", "content": "ok"}]}
    path = _jsonl(tmp_path / "sft.jsonl", [GOOD, long, GOOD])
    stage = TrainStageConfig(name="sft", objective="sft", init="x", output="y", data=[path], max_seq_len=64)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    prepared = prepare_stage(stage, tok, str(tiny_model_dir), plan_blocks([path]), tmp_path / "a")
    assert prepared.stats["skipped_overlong"] == 1 and prepared.rows == [2]
    assert prepared.stats["skipped_examples"][0].startswith(f"{path}: row 2: ")
    only_long = _jsonl(tmp_path / "long.jsonl", [long])
    with pytest.raises(StagewiseError, match="every sample is longer than max_seq_len 64"):
        prepare_stage(stage, tok, str(tiny_model_dir), plan_blocks([only_long]), tmp_path / "b")


def test_the_driver_checks_each_sources_first_block_then_the_rest_within_its_budget(tmp_path, monkeypatch):
    """The driver's check reads a bounded sample: each source's first block, then the rest in order, up to
    DRIVER_CHECK_ROWS rows (the data path checks every row as it tokenizes)."""
    import stagewise.train.run as run

    bad = {"messages": [{"role": "user", "content": "hi"}]}
    big = [GOOD] * 1500
    big[1199] = bad  # row 1200: the big file's second block (rows 1025-1500)
    small = [GOOD] * 10
    small[4] = bad
    a, b = _jsonl(tmp_path / "a.jsonl", big), _jsonl(tmp_path / "b.jsonl", small)
    stage = TrainStageConfig(name="sft", objective="sft", init="x", output="y", data=[a, b])
    monkeypatch.setattr(run, "DRIVER_CHECK_ROWS", 1000)
    run.check_stage_inputs(stage)  # only a.jsonl's first block: both bad rows are left to the data path
    monkeypatch.setattr(run, "DRIVER_CHECK_ROWS", 2000)
    with pytest.raises(StagewiseError, match="^" + re.escape(f"{b}: row 5: no assistant turn")):
        run.check_stage_inputs(stage)  # b.jsonl's first block comes before a.jsonl's second
    _jsonl(tmp_path / "b.jsonl", [GOOD] * 10)
    with pytest.raises(StagewiseError, match="^" + re.escape(f"{a}: row 1200: no assistant turn")):
        run.check_stage_inputs(stage)


def test_parquet_blocks_read_exactly_their_rows_across_row_groups_and_batches(tmp_path):
    """A block starts and ends inside row groups and inside the reader's batches; its rows and their numbers are
    the file's, each once."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stagewise.train.sources import plan_blocks, read_block

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"i": list(range(1000))}), path, row_group_size=70)
    read = [(where, rec["i"]) for block in plan_blocks([str(path)], block_rows=300) for where, rec in read_block(block)]
    assert read == [(f"{path}: row {i + 1}", i) for i in range(1000)]
