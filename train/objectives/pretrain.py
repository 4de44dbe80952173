"""Pretraining: causal LM loss on every token of plain text (`.txt`, documents separated by blank lines, or a
`text` column). With `packing` the corpus is one stream cut into `max_seq_len` blocks (attention crosses
documents); without, each document is cut into blocks of its own. Documents are never skipped for length."""
from __future__ import annotations

from stagewise.train.data import read_text, text_rows
from stagewise.train.objectives import Objective, register_objective


@register_objective
class Pretrain(Objective):
    name = "pretrain"

    def samples(self, where, record):
        return text_rows(where, record)

    def tokenizer_texts(self, paths):
        return read_text(paths)

    def columns(self, rows, tokenizer, stage, pad_id, fits):
        from stagewise.train.examples import fixed_width

        width = stage.max_seq_len
        return fixed_width(_blocks(tokenizer, rows, width, stage.packing), width, pad_id, pack=False)


def _blocks(tokenizer, docs: list[str], width: int, pack: bool) -> list[tuple[list[int], list[int]]]:
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    encoded = [bos + ids + eos for ids in tokenizer(docs, add_special_tokens=False)["input_ids"]]
    if pack:  # the standard pretraining layout: one stream cut into blocks, attention across documents
        stream = [t for ids in encoded for t in ids]
        blocks = [stream[i : i + width] for i in range(0, len(stream), width)]
        if len(blocks) > 1 and len(blocks[-1]) < width:
            blocks.pop()  # a short tail would be the only padded row
    else:
        blocks = [ids[i : i + width] for ids in encoded for i in range(0, len(ids), width)]
    return [(b, b) for b in blocks]
