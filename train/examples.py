"""Turn checked rows into token arrays: the helpers each objective's `columns` builds its rows with.

    cols = fixed_width(seqs, width, pad_id, pack=True)       # train/prepare.py stores them cut to length

Columns (int32, width `max_seq_len`, right-padded): `input_ids`, `labels` (-100 where no loss), `position_ids`
(restarting at 0 for every packed conversation, which is how transformers keeps attention inside each one),
plus `length` (real tokens); an objective may hold several sequences per row under prefixes (DPO:
`chosen_*`, `rejected_*`). Right padding needs no attention mask: under a causal mask real tokens never see the
pads that follow them. Each objective (train/objectives/) builds its columns with the helpers here.

Over-long samples: an objective skips those longer than `max_seq_len` through `fits` (train/prepare.py), which
counts and reports them (`stats["skipped_overlong"]`, also in stagewise.json) -- truncating would cut off the
answer that carries the loss. Pretrain documents are never skipped: they are cut into `max_seq_len` blocks.
"""
from __future__ import annotations

import re

import numpy as np

IGNORE = -100


def sft_tokens(tokenizer, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids and labels of one conversation; only assistant tokens (their EOS included) carry loss.

    Templates with `{% generation %}` markers give the assistant mask directly. For any other template the
    span of each assistant turn is found by rendering the conversation up to it (with the generation prompt)
    and up to its end: the tokens in between are the answer.
    """
    if re.search(r"{%-?\s*generation\s*-?%}", tokenizer.chat_template or ""):
        out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        ids, mask = list(out["input_ids"]), out["assistant_masks"]
        return ids, [t if m else IGNORE for t, m in zip(ids, mask)]
    ids = chat_ids(tokenizer, messages, False)
    labels = [IGNORE] * len(ids)
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            start = len(chat_ids(tokenizer, messages[:i], True))
            end = len(chat_ids(tokenizer, messages[: i + 1], False))
            labels[start:end] = ids[start:end]
    return ids, labels


def chat_ids(tokenizer, messages, generation_prompt: bool) -> list[int]:
    """The conversation rendered by the chat template and tokenized."""
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, add_generation_prompt=generation_prompt)
    return list(out["input_ids"])


def best_fit_bins(lengths: list[int], capacity: int) -> list[list[int]]:
    """Pack items into as few bins of `capacity` as best-fit-decreasing finds; deterministic.

    Bins are indexed by free space, so each item scans free sizes upward from its own length: O(n * capacity)
    at worst, a few ms for thousands of conversations.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    by_space: dict[int, list[int]] = {}
    bins: list[list[int]] = []
    space: list[int] = []
    for i in order:
        n = lengths[i]
        b = next((by_space[s].pop() for s in range(n, capacity + 1) if by_space.get(s)), None)
        if b is None:
            b = len(bins)
            bins.append([])
            space.append(capacity)
        bins[b].append(i)
        space[b] -= n
        by_space.setdefault(space[b], []).append(b)
    return [sorted(b) for b in bins]


def fixed_width(seqs: list[tuple[list[int], list[int]]], width: int, pad_id: int, pack: bool) -> dict[str, np.ndarray]:
    """(ids, labels) sequences as the columns above, one per row, or best-fit packed several to a row."""
    groups = best_fit_bins([len(ids) for ids, _ in seqs], width) if pack else [[i] for i in range(len(seqs))]
    n = len(groups)
    input_ids = np.full((n, width), pad_id, dtype=np.int32)
    labels = np.full((n, width), IGNORE, dtype=np.int32)
    position_ids = np.zeros((n, width), dtype=np.int32)
    length = np.zeros(n, dtype=np.int32)
    for r, group in enumerate(groups):
        at = 0
        for i in group:
            ids, lab = seqs[i]
            k = len(ids)
            input_ids[r, at : at + k] = ids
            labels[r, at : at + k] = lab
            position_ids[r, at : at + k] = np.arange(k)
            at += k
        # Pads continue the last sequence's positions unless packed: in a packed row they restart, so they form
        # their own block and no real token's attention changes.
        position_ids[r, at:] = np.arange(width - at) if pack else np.arange(at, width)
        length[r] = at
    return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids, "length": length}
