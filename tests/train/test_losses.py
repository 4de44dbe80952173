"""The losses and the loss-only output head's proof of equality, on tiny local and random-init models."""
import logging
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from stagewise.train import losses
from stagewise.train.examples import IGNORE, sft_tokens
from stagewise.train.losses import TokenNLL, dpo_loss, lm_loss, plain_output_head, token_nll
from stagewise.train.worker import lr_multiplier

from tests.train.test_examples import CONVERSATION


def _granite(logits_scaling: float):
    from transformers import GraniteConfig, GraniteForCausalLM

    torch.manual_seed(0)
    config = GraniteConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                           logits_scaling=logits_scaling)
    return GraniteForCausalLM(config).eval()


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


def _batch(vocab: int, seed: int = 1):
    ids = torch.randint(0, vocab, (2, 11), generator=torch.Generator().manual_seed(seed))
    labels = ids.clone()
    labels[:, :4] = IGNORE  # a prompt: no loss
    return ids, torch.arange(11).repeat(2, 1), labels


def _forward_nll(model, ids, positions, labels):
    """What the loss should be: cross-entropy of the model's own forward logits, next token, labelled only."""
    with torch.no_grad():
        logits = model(input_ids=ids, position_ids=positions, use_cache=False).logits[:, :-1].float()
    target = labels[:, 1:]
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target.clamp_min(0), reduction="none")
    return nll * (target != IGNORE)


def test_a_model_that_scales_its_logits_is_scored_through_its_own_forward(caplog, monkeypatch):
    """Granite divides the head's logits by `logits_scaling` in its forward: the loss-only head would skip it."""
    monkeypatch.setattr(losses, "_PLAIN_HEAD", {})
    model = _granite(logits_scaling=4.0)
    rng = torch.get_rng_state()
    params = {k: v.clone() for k, v in model.state_dict().items()}
    with caplog.at_level(logging.WARNING, logger="stagewise.train.losses"):
        assert plain_output_head(model) is False
        assert plain_output_head(model) is False  # decided once per model type
    assert len([r for r in caplog.records if "GraniteForCausalLM" in r.getMessage()]) == 1
    assert torch.equal(torch.get_rng_state(), rng) and not model.training  # no RNG drawn, mode restored
    assert all(torch.equal(v, params[k]) for k, v in model.state_dict().items())
    assert not model.get_output_embeddings()._forward_hooks

    ids, positions, labels = _batch(97)
    with torch.no_grad():
        nll = TokenNLL(model)(ids, positions, labels)
        head_only = token_nll(model, ids, positions, labels, loss_only_head=True)
    expected = _forward_nll(model, ids, positions, labels)
    torch.testing.assert_close(nll, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(head_only, expected, atol=1e-3)  # what the old head-only path would have trained on


def test_plain_models_use_the_loss_only_head_and_both_paths_agree():
    model = _llama().train()
    assert plain_output_head(model) is True
    assert model.training and all(m.training for m in model.modules())  # modes restored
    assert plain_output_head(_granite(logits_scaling=1.0)) is True  # a scale of 1 changes nothing

    ids, positions, labels = _batch(97)
    calls = []
    model.register_forward_hook(lambda mod, args, out: calls.append(out))
    with torch.no_grad():
        head_only = TokenNLL(model)(ids, positions, labels)
        assert calls == []  # decoder + head at loss positions only
        via_forward = token_nll(model, ids, positions, labels, loss_only_head=False)
    torch.testing.assert_close(head_only, via_forward, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(head_only, _forward_nll(model.eval(), ids, positions, labels), atol=1e-5, rtol=1e-5)


def test_a_soft_cap_is_found_even_where_the_logits_are_small():
    """Gemma 2 caps its logits with tanh: invisible on a random-init model's small logits, not on the probe's."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    config = Gemma2Config(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                          final_logit_softcapping=30.0)
    assert plain_output_head(Gemma2ForCausalLM(config).eval()) is False


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


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


def test_dpo_loss():
    zero = torch.zeros(4)
    loss, stats = dpo_loss(zero, zero, zero, zero, beta=0.1)
    assert math.isclose(float(loss), math.log(2), rel_tol=1e-6) and stats["reward_accuracy"] == 0.0
    better, _ = dpo_loss(zero + 1, zero, zero, zero, beta=0.1)
    assert float(better) < float(loss)


def test_lr_schedule_warms_up_then_decays_to_floor():
    lrs = [lr_multiplier(s, warmup=4, total=20, min_ratio=0.1) for s in range(20)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(x >= y for x, y in zip(lrs[3:], lrs[4:]))
    assert math.isclose(lr_multiplier(20, 4, 20, 0.1), 0.1)
