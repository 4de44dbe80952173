"""Driver-side checks that need no Ray: device errors, the tiny init, CLI errors."""
import json

import pytest

from stagewise.config import validate_study
from stagewise.errors import StagewiseError


def _study(tmp_path, data, **stage):
    return validate_study({
        "name": "t", "output_dir": str(tmp_path / "out"),
        "models": [{"id": "base", "stage": "base"}],
        "training": [{"name": "pre", "objective": "pretrain", "init": "tiny", "output": "base", "data": [data], **stage}],
        "tiny": {"vocab_size": 300, "hidden_size": 32, "num_layers": 1, "num_heads": 1, "num_kv_heads": 1,
                 "intermediate_size": 64},
    })


def test_fp16_on_cpu_is_refused_before_anything_starts(tmp_path):
    from train import run_stage

    corpus = tmp_path / "c.txt"
    corpus.write_text("some text\n\nmore text\n")
    study = _study(tmp_path, str(corpus), precision="fp16")
    with pytest.raises(StagewiseError, match="training.pre.precision: fp16 is not supported on CPU"):
        run_stage(study, study.training[0])


def test_missing_data_file_is_named(tmp_path):
    from train import run_stage

    study = _study(tmp_path, str(tmp_path / "missing.txt"))
    with pytest.raises(StagewiseError, match="missing.txt: no such file"):
        run_stage(study, study.training[0])


def test_tiny_init_trains_its_tokenizer_on_the_stage_data(tmp_path):
    from transformers import AutoTokenizer

    from train.run import _init_path

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(["the miller counted sacks of grain"] * 50))
    study = _study(tmp_path, str(corpus))
    path = _init_path(study, study.training[0], tmp_path / "init")
    tok = AutoTokenizer.from_pretrained(path)
    assert len(tok("the miller counted sacks", add_special_tokens=False)["input_ids"]) <= 4
    assert json.loads((path / "config.json").read_text())["hidden_size"] == 32


def test_cli_unknown_stage(tmp_path):
    from stagewise.cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("text\n")
    cfg = tmp_path / "s.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump({"name": "t", "output_dir": str(tmp_path / "o"), "models": [{"id": "base", "stage": "base"}],
                                   "training": [{"name": "pre", "objective": "pretrain", "init": "tiny", "output": "base",
                                                 "data": [str(corpus)]}]}))
    assert main(["train", str(cfg), "--stage", "nope"]) == 2
