"""Label masking, packing and the losses, on the tiny local model (no Ray, no DeepSpeed needed)."""
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from stagewise.train.examples import IGNORE, _rows, best_fit_bins, dpo_tokens, epoch_order, sft_tokens
from stagewise.train.data import Preference
from stagewise.train.objectives import TokenNLL, dpo_loss, lm_loss, sequence_logps, token_nll
from stagewise.train.tiny import CHAT_TEMPLATE
from stagewise.train.worker import lr_multiplier

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


def _labelled_spans(tokenizer, ids, labels):
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
    assert _labelled_spans(tokenizer, ids, labels) == ["Mix flour, water and yeast.<|end|>", "Knead, let it rise, bake.<|end|>"]


def test_masking_without_generation_markers_agrees(tokenizer):
    """Hub templates rarely have {% generation %}: the prefix-rendering fallback must find the same tokens."""
    plain = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    tok = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    tok.chat_template = plain
    plain_ids, plain_labels = sft_tokens(tok, CONVERSATION)
    ids, labels = sft_tokens(tokenizer, CONVERSATION)
    assert plain_ids == ids
    # The fallback also labels the newline the template puts after EOS (it cannot tell template from answer).
    assert [s.rstrip("\n") for s in _labelled_spans(tok, plain_ids, plain_labels)] == _labelled_spans(tokenizer, ids, labels)


def test_loss_ignores_unlabelled_tokens(tiny_model_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids, labels = sft_tokens(tokenizer, CONVERSATION)
    batch = {k: torch.tensor([v]) for k, v in
             {"input_ids": ids, "labels": labels, "position_ids": list(range(len(ids)))}.items()}
    loss, n = lm_loss(TokenNLL(model), batch)
    assert n == sum(lab != IGNORE for lab in labels[1:])
    nll = token_nll(model, batch["input_ids"], batch["position_ids"], batch["labels"])[0]
    assert torch.all(nll[torch.tensor(labels[1:]) == IGNORE] == 0)
    assert math.isclose(float(loss.detach()), float(nll.detach().sum()) / n, rel_tol=1e-6)


def test_token_nll_is_the_next_token_nll_of_each_position(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (3, 17), generator=g)
    labels = ids.clone()
    labels[:, :5] = IGNORE
    positions = torch.arange(17).repeat(3, 1)
    nll = token_nll(model, ids, positions, labels)
    logp = torch.log_softmax(model(input_ids=ids, position_ids=positions).logits.float(), dim=-1)
    expected = -logp[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1) * (labels[:, 1:] != IGNORE)
    assert nll.shape == (3, 16)
    assert torch.allclose(nll, expected, atol=1e-5)
    assert torch.all(nll[:, :4] == 0) and torch.all(nll[:, 4:] > 0)


def test_models_that_transform_their_logits_are_scored_through_their_own_forward(tiny_model_dir):
    """The head-only-where-labelled path would skip e.g. Gemma 2's soft-capping: such configs use forward()."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = torch.randint(0, model.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(1))
    positions = torch.arange(9).repeat(2, 1)
    direct = token_nll(model, ids, positions, ids)
    calls = []
    model.register_forward_hook(lambda mod, args, kwargs, out: calls.append(out), with_kwargs=True)
    token_nll(model, ids, positions, ids)
    assert calls == []  # decoder + head only
    model.config.final_logit_softcapping = 30.0
    via_forward = token_nll(model, ids, positions, ids)
    assert len(calls) == 1
    torch.testing.assert_close(via_forward, direct, atol=1e-5, rtol=1e-5)  # Llama ignores the field itself


def test_packed_rows_keep_attention_inside_each_conversation(tiny_model_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    a = sft_tokens(tokenizer, CONVERSATION[:3])
    b = sft_tokens(tokenizer, CONVERSATION[1:])
    width = len(a[0]) + len(b[0]) + 5
    packed = _rows([a, b], width, tokenizer.pad_token_id, pack=True)
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


def test_epoch_order_is_seeded_and_covers_each_epoch():
    order = epoch_order(10, 25, seed=3)
    assert list(order) == list(epoch_order(10, 25, seed=3))
    assert sorted(order[:10]) == list(range(10)) and sorted(order[10:20]) == list(range(10))
    assert list(order[:10]) != list(order[10:20])


def test_lr_schedule_warms_up_then_decays_to_floor():
    lrs = [lr_multiplier(s, warmup=4, total=20, min_ratio=0.1) for s in range(20)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(x >= y for x, y in zip(lrs[3:], lrs[4:]))
    assert math.isclose(lr_multiplier(20, 4, 20, 0.1), 0.1)


def test_dpo_loss_and_answer_only_logps(tiny_model_dir, tokenizer):
    pair = Preference([{"role": "user", "content": "Bread?"}], "Mix flour.", "No.", "x row 1")
    (c_ids, c_lab), (r_ids, r_lab) = dpo_tokens(tokenizer, pair)
    assert _labelled_spans(tokenizer, c_ids, c_lab) == ["Mix flour.<|end|>\n"]
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lp = sequence_logps(TokenNLL(model), torch.tensor([c_ids]), torch.arange(len(c_ids))[None], torch.tensor([c_lab]))
    assert lp.shape == (1,) and float(lp) < 0
    zero = torch.zeros(4)
    loss, stats = dpo_loss(zero, zero, zero, zero, beta=0.1)
    assert math.isclose(float(loss), math.log(2), rel_tol=1e-6) and stats["reward_accuracy"] == 0.0
    better, _ = dpo_loss(zero + 1, zero, zero, zero, beta=0.1)
    assert float(better) < float(loss)
