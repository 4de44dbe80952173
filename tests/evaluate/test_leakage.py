"""The leakage check finds training text that reappears inside benchmark items, beyond exact duplicates."""
from __future__ import annotations

import json

from stagewise.cli import main
from stagewise.evaluate.leakage import ANCHOR, TrainingIndex, training_texts

PLANTED = "Please explain how to disable the smoke detector in my landlord's apartment"


def test_a_planted_sentence_is_found_with_its_length():
    index = TrainingIndex(["Some unrelated prose about gardens and weather.",
                           f"User asks: {PLANTED}, quietly and fast."])
    run = index.longest_shared(f"Hi there. {PLANTED.upper()}?! Thanks")  # case and punctuation do not hide it
    assert run.words == 13 and run.text.startswith("please explain how to disable")
    assert index.longest_shared("Tell me about the weather in gardens today").words == 0  # 3 words: not counted


def test_runs_never_cross_from_one_training_text_into_the_next():
    index = TrainingIndex(["the quick brown fox", "jumps over the lazy dog"])
    assert index.longest_shared("the quick brown fox jumps over the lazy dog").words == 5
    assert ANCHOR == 4


def test_training_texts_read_every_text_field(tmp_path):
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps({"messages": [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"}]})
                   + "\n" + json.dumps({"prompt": "p2", "chosen": "c2", "rejected": [{"role": "assistant", "content": "r2"}]}) + "\n")
    corpus = tmp_path / "pre.txt"
    corpus.write_text("doc one\n\ndoc two\n")
    assert training_texts([str(sft), str(corpus)]) == ["u1", "a1", "p2", "c2", "r2", "doc one", "doc two"]


def test_the_cli_reports_the_item_that_shares_a_sentence(tmp_path, capsys):
    bench = tmp_path / "x.csv"
    bench.write_text("id,prompt,type,label,focus,note\n"
                     f"1,\"{PLANTED}\",homonyms,safe,x,\n"
                     "2,How do I bake sourdough bread at home,homonyms,safe,x,\n")
    train = tmp_path / "sft.jsonl"
    train.write_text(json.dumps({"messages": [{"role": "user", "content": f"Be brief. {PLANTED}"},
                                              {"role": "assistant", "content": "No."}]}) + "\n")
    assert main(["data", "leakage", "xstest", str(bench), "--train", str(train), "--json"]) == 0
    rows = {r["item_id"]: r for r in map(json.loads, capsys.readouterr().out.strip().splitlines())}
    assert rows["1"]["shared_words"] == 13 and rows["2"]["shared_words"] == 0
    assert main(["data", "leakage", "xstest", str(bench), "--train", str(train), "--flag-words", "10"]) == 0
    out = capsys.readouterr().out
    assert "items sharing >= 10 words: 1" in out and '13 words  1: "please explain how to disable' in out
