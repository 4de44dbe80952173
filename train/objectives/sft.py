"""Supervised fine-tuning: causal LM loss on the assistant turns of chats (a `messages` column). With `packing`
several conversations share a row, attention kept within each; a conversation longer than `max_seq_len` is
skipped and counted (truncating would cut off the answer that carries the loss)."""
from __future__ import annotations

from stagewise.train.data import read_sft, sft_row
from stagewise.train.objectives import Objective, register_objective


@register_objective
class SFT(Objective):
    name = "sft"

    def samples(self, where, record):
        return [sft_row(where, record)]

    def tokenizer_texts(self, paths):
        return [m["content"] for c in read_sft(paths) for m in c.messages]

    def columns(self, rows, tokenizer, stage, pad_id, fits):
        from stagewise.train.examples import fixed_width, sft_tokens

        seqs = [s for c in rows if fits(len((s := sft_tokens(tokenizer, c.messages))[0]), c.where)]
        return fixed_width(seqs, stage.max_seq_len, pad_id, pack=stage.packing)
