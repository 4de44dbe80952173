"""The objective registry: names, config checks, sizing facts, and each objective's rows and loss."""
import json
import math
import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError
from transformers import AutoModelForCausalLM, AutoTokenizer

from stagewise.train.config import TrainStageConfig
from stagewise.train.data import Preference
from stagewise.train.losses import TokenNLL, sequence_logps
from stagewise.train.objectives import Objective, get_objective, objective_names, register_objective
from stagewise.train.objectives.dpo import dpo_tokens

from tests.conftest import REPO
from tests.train.test_examples import labelled_spans


def _stage(**kw):
    return TrainStageConfig(**{"name": "s", "init": "x", "output": "y", "data": ["d.jsonl"], **kw})


def test_the_builtin_objectives_and_their_sizing_facts():
    assert objective_names()[:3] == ["pretrain", "sft", "dpo"]
    facts = {n: (get_objective(n).sequences_per_row, get_objective(n).flops_per_param_token,
                 get_objective(n).supports_packing, get_objective(n).needs_reference, get_objective(n).curves)
             for n in ("pretrain", "sft", "dpo")}
    assert facts == {"pretrain": (1, 6, True, False, ()), "sft": (1, 6, True, False, ()),
                     "dpo": (2, 8, False, True, ("logp_margin",))}


def test_config_checks_the_name_and_packing_against_the_registry():
    with pytest.raises(ValidationError) as e:
        _stage(objective="rlhf")
    msg = e.value.errors()[0]["msg"]
    assert "\n" not in msg and "'pretrain', 'sft' or 'dpo'" in msg and "'rlhf'" in msg
    with pytest.raises(ValidationError, match="packing is not supported for the dpo objective"):
        _stage(objective="dpo", packing=True)
    assert _stage(objective="sft", packing=True).packing


def test_a_new_objective_is_one_registered_class(monkeypatch):
    from stagewise.train import objectives

    monkeypatch.setattr(objectives, "OBJECTIVES", dict(objectives.OBJECTIVES))

    @register_objective
    class Echo(Objective):
        name = "echo"
        supports_packing = False

    assert "echo" in objective_names() and isinstance(get_objective("echo"), Echo)
    with pytest.raises(ValidationError, match="packing is not supported for the echo objective"):
        _stage(objective="echo", packing=True)
    with pytest.raises(TypeError, match="registered twice"):
        register_objective(type("Other", (Objective,), {"name": "echo"}))


def test_loading_a_config_imports_no_heavy_library():
    """train/config.py checks `objective:` when the CLI loads a study: the registry must stay light."""
    probe = ("import sys\n"
             "from stagewise.train.config import TrainStageConfig\n"
             "TrainStageConfig(name='s', objective='dpo', init='x', output='y', data=['d.jsonl'])\n"
             "print(json.dumps(sorted(m for m in ('torch', 'transformers', 'ray', 'pyarrow', 'numpy') if m in sys.modules)))\n")
    r = subprocess.run([sys.executable, "-c", "import json\n" + probe], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout) == []


def test_each_objective_reads_and_tokenizes_its_rows(tmp_path, tiny_model_dir):
    from stagewise.train.prepare import prepare_block
    from stagewise.train.sources import plan_blocks

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    (tmp_path / "p.txt").write_text("one document\n\nanother one\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                                               {"role": "assistant", "content": "hello"}]}) + "\n")
    (tmp_path / "d.jsonl").write_text(json.dumps({"prompt": "q?", "chosen": "yes", "rejected": "no"}) + "\n")
    for name, path, columns in [("pretrain", "p.txt", {"input_ids", "labels", "position_ids", "length"}),
                                ("sft", "c.jsonl", {"input_ids", "labels", "position_ids", "length"}),
                                ("dpo", "d.jsonl", {f"{side}_{c}" for side in ("chosen", "rejected")
                                                    for c in ("input_ids", "labels", "position_ids", "length")})]:
        data = [str(tmp_path / path)]
        assert get_objective(name).tokenizer_texts(data)
        [block] = plan_blocks(data)
        table, stats = prepare_block(block, _stage(objective=name, data=data, max_seq_len=32), tok, 0)
        assert set(table.column_names) == columns and stats["rows"] >= 1, name


def test_dpo_rows_and_loss(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    pair = Preference([{"role": "user", "content": "Bread?"}], "Mix flour.", "No.", "x row 1")
    (c_ids, c_lab), (r_ids, r_lab) = dpo_tokens(tok, pair)
    assert labelled_spans(tok, c_ids, c_lab) == ["Mix flour.<|end|>\n"]
    model = TokenNLL(AutoModelForCausalLM.from_pretrained(tiny_model_dir))
    lp = sequence_logps(model, torch.tensor([c_ids]), torch.arange(len(c_ids))[None], torch.tensor([c_lab]))
    assert lp.shape == (1,) and float(lp.detach()) < 0

    width = max(len(c_ids), len(r_ids))
    pad = lambda x, v: torch.tensor([x + [v] * (width - len(x))])  # noqa: E731
    batch = {"chosen_input_ids": pad(c_ids, 0), "chosen_labels": pad(c_lab, -100),
             "chosen_position_ids": torch.arange(width)[None], "chosen_length": torch.tensor([len(c_ids)]),
             "rejected_input_ids": pad(r_ids, 0), "rejected_labels": pad(r_lab, -100),
             "rejected_position_ids": torch.arange(width)[None], "rejected_length": torch.tensor([len(r_ids)])}
    loss, stats = get_objective("dpo").loss(model, model, batch, _stage(objective="dpo", dpo_beta=0.1))
    assert math.isclose(float(loss.detach()), math.log(2), rel_tol=1e-5)  # policy == reference
    assert set(get_objective("dpo").curves) <= set(stats)
