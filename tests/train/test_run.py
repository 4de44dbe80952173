"""Driver-side checks that need no Ray: device errors, the tiny init, CLI errors."""
import json

import pytest

from stagewise.config import validate_study
from stagewise.core.errors import StagewiseError


def _study(tmp_path, data, **stage):
    return validate_study({
        "name": "t", "output_dir": str(tmp_path / "out"),
        "models": [{"id": "base", "stage": "base"}],
        "training": [{"name": "pre", "objective": "pretrain", "init": "tiny", "output": "base", "data": [data], **stage}],
        "tiny": {"vocab_size": 300, "hidden_size": 32, "num_layers": 1, "num_heads": 1, "num_kv_heads": 1,
                 "intermediate_size": 64},
    })


def test_fp16_on_cpu_is_refused_before_anything_starts(tmp_path):
    from stagewise.train import run_stage

    corpus = tmp_path / "c.txt"
    corpus.write_text("some text\n\nmore text\n")
    study = _study(tmp_path, str(corpus), precision="fp16")
    with pytest.raises(StagewiseError, match="training.pre.precision: fp16 is not supported on CPU"):
        run_stage(study.training[0], study.context(), study.tiny)


def test_missing_data_file_is_named(tmp_path):
    from stagewise.train import run_stage

    study = _study(tmp_path, str(tmp_path / "missing.txt"))
    with pytest.raises(StagewiseError, match="missing.txt: no such file"):
        run_stage(study.training[0], study.context(), study.tiny)


def test_tiny_init_trains_its_tokenizer_on_the_stage_data(tmp_path):
    from transformers import AutoTokenizer

    from stagewise.train.run import _init_path

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(["the miller counted sacks of grain"] * 50))
    study = _study(tmp_path, str(corpus))
    path = _init_path(study.context(), study.tiny, study.training[0], tmp_path / "init")
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


def test_a_study_copied_to_another_output_dir_finds_its_exports_current(tmp_path):
    """Fingerprints hash a parent's id and weights, not its absolute path: copying models/ elsewhere (or moving
    the study) must not retrain anything."""
    import shutil

    from stagewise.train.run import LINEAGE, _current, _fingerprint, _inputs, _parent

    corpus = tmp_path / "c.txt"
    corpus.write_text("some text\n\nmore text\n")

    def study(out):
        return validate_study({
            "name": "t", "output_dir": str(out),
            "models": [{"id": "base", "stage": "base"}, {"id": "sft", "stage": "sft", "parent": "base"}],
            "training": [
                {"name": "pre", "objective": "pretrain", "init": "tiny", "output": "base", "data": [str(corpus)]},
                {"name": "sft", "objective": "pretrain", "init": "base", "output": "sft", "data": [str(corpus)]},
            ],
        })

    first = study(tmp_path / "a")
    for stage in first.training:  # what _train_chain writes: weights + the lineage's fingerprint
        out = tmp_path / "a" / "models" / stage.output
        out.mkdir(parents=True)
        (out / "model.safetensors").write_bytes(stage.output.encode())
        fingerprint = _fingerprint(_inputs(first.context(), stage), _parent(first.context(), first.tiny, stage))
        (out / LINEAGE).write_text(json.dumps({"fingerprint": fingerprint}))
    assert all(_current(first.context(), first.tiny, s) for s in first.training)

    shutil.copytree(tmp_path / "a" / "models", tmp_path / "b" / "models")
    moved = study(tmp_path / "b")
    assert _parent(moved.context(), moved.tiny, moved.training[1])["path"] != _parent(first.context(), first.tiny, first.training[1])["path"]
    assert all(_current(moved.context(), moved.tiny, s) for s in moved.training)

    (tmp_path / "b" / "models" / "base" / "model.safetensors").write_bytes(b"other weights")
    assert not _current(moved.context(), moved.tiny, moved.training[1])  # the parent's weights still count


def test_stages_on_the_same_workers_form_one_chain_and_a_fresh_stage_joins_it():
    """A stage continues the chain when it starts from the last stage's output, or starts afresh from an init
    none of the chain's stages produce (another family's first stage); never from an earlier stage of the chain,
    whose export exists only once the run ends."""
    from stagewise.train.config import TrainStageConfig
    from stagewise.train.run import _continues, _starts_afresh

    def stage(name, init, output, workers=2):
        return TrainStageConfig(name=name, objective="sft", init=init, output=output, data=["d.jsonl"],
                                num_workers=workers)

    pre, sft = stage("pre", "tiny", "base"), stage("sft", "base", "sft")
    assert _continues([pre], sft)
    assert _continues([pre, sft], stage("other-pre", "tiny", "other-base"))  # the next family, afresh
    assert _continues([pre, sft], stage("hub-sft", "org/model", "hub-sft"))
    assert not _continues([pre, sft], stage("sft2", "base", "sft2"))  # base's export appears after the run
    assert not _continues([pre], stage("sft", "base", "sft", workers=4))
    chain = [pre, sft, stage("other-pre", "tiny", "other-base"), stage("other-sft", "other-base", "other-sft")]
    assert [_starts_afresh(chain, i) for i in range(4)] == [True, False, True, False]
