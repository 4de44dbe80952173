from pathlib import Path

import pytest

from stagewise.config import apply_override, load_study
from stagewise.core.errors import StagewiseError

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """\
name: t
output_dir: out
models:
  - {id: base, stage: base}
  - {id: sft, stage: sft, parent: base}
training:
  - {name: pretrain, objective: pretrain, init: tiny, output: base, data: [corpus.txt]}
  - {name: sft, objective: sft, init: base, output: sft, data: [chat.jsonl], max_steps: 10}
"""


def write(tmp_path, text, name="study.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    study = load_study(path)
    assert study.models


def test_shipped_configs_document_their_command():
    for path in (REPO / "configs").glob("*.yaml"):
        head = path.read_text().splitlines()[0]
        assert head.startswith("#") and "stagewise" in head, f"{path.name}: first line should give the command"


def test_minimal_and_overrides(tmp_path):
    p = write(tmp_path, MINIMAL)
    study = load_study(p, ["training.sft.max_steps=3", "seed=7", "training.0.lr=0.01", "wandb.mode=disabled"])
    assert study.seed == 7
    assert [s.max_steps for s in study.training] == [None, 3]
    assert study.training[0].lr == 0.01
    assert study.wandb.mode == "disabled"
    # Relative output dirs are made absolute at load time: Ray workers run in other directories.
    assert study.model_path("sft") == str(Path.cwd() / "out" / "models" / "sft")


@pytest.mark.parametrize(
    "edit, expected",
    [
        (("max_steps: 10", "max_steps: -1"), "training.sft.max_steps: Input should be greater than or equal to 1"),
        (("objective: sft", "objective: rlhf"), "training.sft.objective: Input should be 'pretrain', 'sft' or 'dpo'"),
        (("name: t\n", "name: t\nbogus: 1\n"), "bogus: unknown field"),
        (("output: sft", "output: nope"), "training.sft.output: 'nope' is not a model id"),
        (("{id: sft, stage: sft, parent: base}", "{id: sft, stage: sft, parent: ghost}"), "models.sft.parent: 'ghost' is not a model id"),
        (("  - {id: sft, stage: sft, parent: base}\n", "  - {id: sft, stage: sft, parent: base}\n  - {id: extra, stage: x}\n"),
         "models.extra.source: required"),
        (("output_dir: out\n", ""), "output_dir: required field missing"),
        (("{id: base, stage: base}", "{id: base, stage: base}\n  - {id: base, stage: again}"), "models: duplicate id 'base'"),
    ],
)
def test_invalid_configs_fail_with_one_line_naming_file_and_field(tmp_path, edit, expected):
    old, new = edit
    assert old in MINIMAL
    p = write(tmp_path, MINIMAL.replace(old, new, 1))
    with pytest.raises(StagewiseError) as e:
        load_study(p)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(str(p) + ": ")
    assert expected in msg


@pytest.mark.parametrize(
    "text, expected",
    [("name: [unclosed\n", "invalid YAML"), ("", "empty config"), ("- a\n- b\n", "top level must be a mapping")],
)
def test_unreadable_files(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(StagewiseError, match=expected):
        load_study(p)


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(StagewiseError, match="no such config file"):
        load_study(tmp_path / "nope.yaml")
    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(StagewiseError, match="not UTF-8"):
        load_study(p)


def test_bad_overrides():
    raw = {"training": [{"name": "sft"}]}
    with pytest.raises(StagewiseError, match="expected key=value"):
        apply_override(raw, "seed")
    with pytest.raises(StagewiseError, match="has no item 'dpo'"):
        apply_override(raw, "training.dpo.lr=1")
