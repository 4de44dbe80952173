"""The locally built tokenizer and tiny Llama: round trips, chat template, assistant mask, reload."""
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from stagewise.train.tiny import make_tiny_checkpoint, train_tokenizer
from tests.conftest import TINY_CORPUS


def test_tokenizer_round_trips_any_text():
    tok = train_tokenizer(TINY_CORPUS, vocab_size=400)
    for text in ["Hello, world!", "naïve café — 東京 🙂", "  spaces\tand\nnewlines  "]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text


def test_tokenizer_is_deterministic():
    a = train_tokenizer(TINY_CORPUS, vocab_size=400)
    b = train_tokenizer(TINY_CORPUS, vocab_size=400)
    assert a.get_vocab() == b.get_vocab()


def test_chat_template_marks_only_assistant_tokens():
    tok = train_tokenizer(TINY_CORPUS, vocab_size=400)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Bake bread?"},
        {"role": "assistant", "content": "Mix flour and water."},
    ]
    out = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    assistant = tok.decode([i for i, m in zip(ids, mask) if m])
    assert assistant == "Mix flour and water.<|end|>"
    prompt = tok.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|assistant|>\n")


def test_checkpoint_reloads_and_generates(tmp_path, tiny_config):
    d = make_tiny_checkpoint(tmp_path / "m", TINY_CORPUS, tiny_config, seed=3)
    again = make_tiny_checkpoint(tmp_path / "m2", TINY_CORPUS, tiny_config, seed=3)
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d)
    model2 = AutoModelForCausalLM.from_pretrained(again)
    for p1, p2 in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p1, p2), "same seed must give the same weights"
    assert tok.chat_template and tok.eos_token == "<|end|>"
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
