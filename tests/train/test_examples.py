"""Label masking, packing and the run's row order, on the tiny local tokenizer (no Ray, no DeepSpeed needed)."""
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from stagewise.train.examples import IGNORE, best_fit_bins, fixed_width, sft_tokens
from stagewise.train.tiny import CHAT_TEMPLATE

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "How do I bake bread?"},
    {"role": "assistant", "content": "Mix flour, water and yeast."},
    {"role": "user", "content": "And then?"},
    {"role": "assistant", "content": "Knead, let it rise, bake."},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def labelled_spans(tokenizer, ids, labels):
    spans, cur = [], []
    for t, lab in zip(ids, labels):
        if lab != IGNORE:
            assert lab == t
            cur.append(t)
        elif cur:
            spans.append(tokenizer.decode(cur))
            cur = []
    return spans + ([tokenizer.decode(cur)] if cur else [])


def test_only_assistant_tokens_carry_loss(tokenizer):
    ids, labels = sft_tokens(tokenizer, CONVERSATION)
    assert labelled_spans(tokenizer, ids, labels) == ["Mix flour, water and yeast.<|end|>", "Knead, let it rise, bake.<|end|>"]


def test_masking_without_generation_markers_agrees(tokenizer):
    """Hub templates rarely have {% generation %}: the prefix-rendering fallback must find the same tokens."""
    plain = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    tok = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    tok.chat_template = plain
    plain_ids, plain_labels = sft_tokens(tok, CONVERSATION)
    ids, labels = sft_tokens(tokenizer, CONVERSATION)
    assert plain_ids == ids
    # The fallback also labels the newline the template puts after EOS (it cannot tell template from answer).
    assert [s.rstrip("\n") for s in labelled_spans(tok, plain_ids, plain_labels)] == labelled_spans(tokenizer, ids, labels)


def test_packed_rows_keep_attention_inside_each_conversation(tiny_model_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    a = sft_tokens(tokenizer, CONVERSATION[:3])
    b = sft_tokens(tokenizer, CONVERSATION[1:])
    width = len(a[0]) + len(b[0]) + 5
    packed = fixed_width([a, b], width, tokenizer.pad_token_id, pack=True)
    assert len(packed["length"]) == 1
    pos = packed["position_ids"][0]
    assert list(pos[: len(a[0])]) == list(range(len(a[0]))) and pos[len(a[0])] == 0
    with torch.no_grad():
        together = model(input_ids=torch.tensor(packed["input_ids"]).long(),
                         position_ids=torch.tensor(packed["position_ids"]).long(), use_cache=False).logits[0]
        alone = model(input_ids=torch.tensor([b[0]]), use_cache=False).logits[0]
    second = together[len(a[0]) : len(a[0]) + len(b[0])]
    torch.testing.assert_close(second, alone, atol=1e-4, rtol=1e-4)


def test_best_fit_fills_bins_and_keeps_every_item():
    lengths = [200, 30, 90, 150, 60, 100, 20, 250, 5]
    bins = best_fit_bins(lengths, 256)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 256 for b in bins)
    assert len(bins) == math.ceil(sum(lengths) / 256)


def test_run_order_is_seeded_and_covers_each_epoch():
    """Each epoch is a fresh seeded order of every prepared row; two runs with one seed agree."""
    from stagewise.train.stream import rank_positions, run_windows

    files, rows = [f"b{i}" for i in range(5)], [3, 0, 4, 2, 5]  # an empty block (all over-long) is skipped

    def order(seed):
        out = []
        for w in run_windows(files, rows, 35, seed, window_blocks=2):
            perm = rank_positions(w, 0, 1, 1, 0)  # one rank: the window's whole order
            names = [(f, i) for f in w["files"] for i in range(rows[files.index(f)])]
            out += [names[j] for j in perm]
        return out

    a = order(3)
    assert a == order(3) and a != order(4) and len(a) == 35
    assert sorted(a[:14]) == sorted(a[14:28])  # every row once per epoch
    assert a[:14] != a[14:28]
