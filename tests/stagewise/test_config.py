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


FAMILIES = """\
name: fam
output_dir: out
families:
  - name: small
    tiny: {hidden_size: 64, num_heads: 2, num_kv_heads: 1, intermediate_size: 192}
    models:
      - {id: s-base, stage: base}
      - {id: s-sft, stage: sft, parent: s-base}
      - {id: s-prod, stage: production, parent: s-sft, source: hub/s-prod}
    training:
      - {name: s-pretrain, objective: pretrain, init: tiny, output: s-base, data: [corpus.txt]}
      - {name: s-sft, objective: sft, init: s-base, output: s-sft, data: [chat.jsonl]}
  - name: large
    models:
      - {id: l-base, stage: base, source: hub/l-base}
      - {id: l-sft, stage: sft, parent: l-base, source: hub/l-sft}
      - {id: l-prod, stage: production, parent: l-sft, source: hub/l-prod}
models:
  - {id: judge, stage: judge, role: judge, source: hub/judge}
"""


def test_families_flatten_into_the_study_with_their_tags(tmp_path):
    study = load_study(write(tmp_path, FAMILIES), ["training.s-sft.max_steps=5", "families.small.tiny.num_layers=3"])
    assert [m.id for m in study.models] == ["judge", "s-base", "s-sft", "s-prod", "l-base", "l-sft", "l-prod"]
    assert {m.id: m.family for m in study.models}["l-sft"] == "large" and study.family_of("judge") is None
    assert [(s.name, study.family_of(s.output)) for s in study.training] == [("s-pretrain", "small"), ("s-sft", "small")]
    assert study.training[1].max_steps == 5
    assert study.tiny_for("small").hidden_size == 64 and study.tiny_for("small").num_layers == 3
    assert study.tiny_for("large") == study.tiny  # no shape of its own: the study's
    assert study.context().models["s-sft"].family == "small"
    # The dumped study (saved with every run, reread by `stagewise analyze <dir>`) loads back the same.
    from stagewise.config import dump_study

    again = load_study(write(tmp_path, dump_study(study), "again.yaml"))
    assert again.models == study.models and again.training == study.training and again.families == study.families


@pytest.mark.parametrize(
    "edit, expected",
    [
        # A family without a stage the analysis compares (the default headline is sft -> production).
        (("      - {id: l-prod, stage: production, parent: l-sft, source: hub/l-prod}\n", ""),
         "families.large: no model of stage 'production', which the analysis compares"),
        (("models:\n  - {id: judge", "analysis: {stage_comparisons: [[base, dpo]]}\nmodels:\n  - {id: judge"),
         "families.small: no model of stage 'dpo'"),
        # A comparison across families that was not asked for.
        (("models:\n  - {id: judge", "analysis: {comparisons: [[s-sft, l-prod]]}\nmodels:\n  - {id: judge"),
         "analysis.comparisons: [s-sft, l-prod] compares family 'small' with 'large'; set analysis.cross_family"),
        (("{id: l-base, stage: base, source: hub/l-base}", "{id: s-base, stage: base, source: hub/l-base}"),
         "families.large.models.s-base: id also used in families.small.models (model ids are unique across families)"),
        (("{id: l-sft, stage: sft, parent: l-base, source: hub/l-sft}", "{id: l-sft, stage: sft, parent: s-base, source: hub/l-sft}"),
         "models.l-sft.parent: 's-base' is in family 'small', 'l-sft' in 'large' (lineage stays inside a family)"),
        (("{id: judge, stage: judge, role: judge, source: hub/judge}", "{id: judge, stage: judge, source: hub/judge}"),
         "models.judge.family: a study with families puts every policy model in one"),
        (("  - name: large\n", "  - name: small\n"), "families: duplicate name 'small'"),
    ],
)
def test_family_errors_are_one_line_naming_file_and_field(tmp_path, edit, expected):
    old, new = edit
    assert old in FAMILIES
    p = write(tmp_path, FAMILIES.replace(old, new, 1))
    with pytest.raises(StagewiseError) as e:
        load_study(p)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(p) + ": ")
    assert expected in msg


def test_cross_family_comparison_when_asked_for(tmp_path):
    text = FAMILIES.replace("models:\n  - {id: judge",
                            "analysis: {comparisons: [[s-sft, l-sft]], cross_family: true}\nmodels:\n  - {id: judge")
    assert load_study(write(tmp_path, text)).analysis.comparisons == [("s-sft", "l-sft")]


def test_a_config_without_families_is_one_implicit_family(tmp_path):
    study = load_study(write(tmp_path, MINIMAL))
    assert study.families == [] and {m.family for m in study.models} == {None}
    assert {study.family_of(s.output) for s in study.training} == {None} and study.tiny_for(None) == study.tiny


def test_a_literal_api_key_is_not_saved_with_the_study(tmp_path):
    from stagewise.config import dump_study

    study = load_study(REPO / "configs" / "demo.yaml", ["serving.api_key=s3cret-key"])
    assert study.serving.api_key == "s3cret-key"
    assert "s3cret-key" not in dump_study(study)
