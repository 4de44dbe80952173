"""Malformed inputs across the whole chain, through the `stagewise` command a user types.

    .venv/bin/pytest tests/stagewise/test_malformed_inputs.py

Each case is a config, data file, checkpoint or argument a user could get wrong. Every one must end with a
single `error: ...` line that names the file/row/field, a non-zero exit, no traceback, and must leave the
study's existing outputs (a trained model folder and a result store) byte for byte as they were. The checks
run before any cluster starts, so the whole table takes seconds. (Unparseable judge answers are not errors:
they are stored `unscored`, see tests/evaluate/test_autoraters.py.)
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from stagewise.cli import main

SFT_OK = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}


def _jsonl(rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def _study(out: Path, data: Path) -> dict:
    return {
        "name": "bad", "output_dir": str(out), "seed": 0,
        "models": [{"id": "base", "stage": "base"}, {"id": "sft", "stage": "sft", "parent": "base"}],
        "training": [
            {"name": "pretrain", "objective": "pretrain", "init": "tiny", "output": "base",
             "data": [str(data / "corpus.txt")], "precision": "fp32", "max_steps": 2},
            {"name": "sft", "objective": "sft", "init": "base", "output": "sft", "data": [str(data / "sft.jsonl")],
             "precision": "fp32", "max_steps": 2},
        ],
        "evaluation": {"benchmarks": [{"name": "xstest"}]},
        "wandb": {"mode": "disabled"},
    }


# (case id, files to write {name: text or bytes}, argv with {cfg}/{data}/{out} placeholders, what the error names)
CASES = [
    # -- configs and overrides
    ("config-unknown-field", {"cfg.yaml": {"training.sft.max_stepz": 3}}, ["check", "{cfg}"],
     "training.sft.max_stepz: unknown field"),
    ("config-wrong-type", {"cfg.yaml": {"seed": "zero"}}, ["check", "{cfg}"], "cfg.yaml: seed: "),
    ("config-invalid-yaml", {"cfg.yaml": "name: [unclosed\n"}, ["check", "{cfg}"], "invalid YAML"),
    ("config-empty", {"cfg.yaml": ""}, ["check", "{cfg}"], "cfg.yaml: empty config"),
    ("config-not-utf8", {"cfg.yaml": b"name: caf\xe9\n"}, ["check", "{cfg}"], "cfg.yaml: not UTF-8"),
    ("config-missing-file", {}, ["check", "{data}/nosuch.yaml"], "nosuch.yaml: no such config file"),
    ("config-unknown-model-ref", {"cfg.yaml": {"models.sft.parent": "ghost"}}, ["check", "{cfg}"],
     "models.sft.parent: 'ghost' is not a model id"),
    ("override-no-equals", {"cfg.yaml": {}}, ["check", "{cfg}", "seed"], "override 'seed': expected key=value"),
    ("override-unknown-stage", {"cfg.yaml": {}}, ["check", "{cfg}", "training.nosuch.max_steps=1"],
     "training has no item 'nosuch'"),
    ("fp16-on-cpu", {"cfg.yaml": {}}, ["train", "{cfg}", "training.sft.precision=fp16"],
     "training.sft.precision: fp16 is not supported on CPU"),
    # -- training data
    ("sft-no-assistant-turn", {"sft.jsonl": _jsonl([SFT_OK, {"messages": [{"role": "user", "content": "Hi"}]}])},
     ["train", "{cfg}"], "sft.jsonl: row 2: no assistant turn"),
    ("sft-unknown-role", {"sft.jsonl": _jsonl([{"messages": [{"role": "wizard", "content": "Hi"}]}])},
     ["train", "{cfg}"], "sft.jsonl: row 1: unknown role 'wizard'"),
    ("sft-missing-column", {"sft.jsonl": _jsonl([SFT_OK, SFT_OK, {"conversation": []}])}, ["train", "{cfg}"],
     "sft.jsonl: row 3: missing column 'messages'"),
    ("sft-invalid-json", {"sft.jsonl": _jsonl([SFT_OK, '{"messages": [']).encode()}, ["train", "{cfg}"],
     "sft.jsonl: row 2: invalid JSON"),
    ("sft-not-utf8", {"sft.jsonl": _jsonl([SFT_OK]).encode() + b'{"messages": "\xff"}\n'}, ["train", "{cfg}"],
     "sft.jsonl: row 2: not UTF-8"),
    ("sft-empty-file", {"sft.jsonl": ""}, ["train", "{cfg}"], "sft.jsonl: empty file"),
    ("pretrain-empty-corpus", {"corpus.txt": "\n\n  \n"}, ["train", "{cfg}"], "corpus.txt: empty file"),
    ("dpo-missing-rejected", {"dpo.jsonl": _jsonl([{"prompt": "Hi", "chosen": "Hello"}])},
     ["train", "{cfg}", "training.sft.objective=dpo", "training.sft.data=[{data}/dpo.jsonl]"],
     "dpo.jsonl: row 1: missing column 'rejected'"),
    # -- benchmark files
    ("xstest-missing-column", {"x.csv": "id,prompt,type,focus,note\n1,Hi,t,f,\n"},
     ["data", "inspect", "xstest", "{data}/x.csv"], "x.csv: missing column 'label'"),
    ("xstest-unknown-label", {"x.csv": "id,prompt,type,label,focus,note\n1,Hi,t,maybe,f,\n"},
     ["data", "inspect", "xstest", "{data}/x.csv"], "x.csv: row 1: label 'maybe'"),
    ("harmbench-empty-file", {"h.csv": ""}, ["data", "inspect", "harmbench", "{data}/h.csv"], "h.csv: empty file"),
    ("strongreject-not-utf8", {"s.csv": b"category,source,forbidden_prompt\nx,y,caf\xe9\n"},
     ["data", "inspect", "strongreject", "{data}/s.csv"], "s.csv: line 2: not UTF-8"),
    ("dilemmas-bad-row", {"d.jsonl": '{"id": "a"}\n'}, ["data", "inspect", "dilemmas", "{data}/d.jsonl"], "d.jsonl: missing column 'tags'"),
    ("eval-benchmark-file-bad", {"x.csv": "prompt\nHi\n"},
     ["eval", "{cfg}", "evaluation.benchmarks.xstest.path={data}/x.csv"], "x.csv: missing column 'id'"),
    # -- checkpoints
    ("eval-checkpoint-missing", {"cfg.yaml": {}}, ["eval", "{cfg}", "models.base.source={data}/gone"],
     "models.base: checkpoint "),
    ("eval-checkpoint-not-a-model", {"notamodel/weights.bin": "x"},
     ["eval", "{cfg}", "models.base.source={data}/notamodel"], "has no config.json"),
    # -- command-line arguments
    ("unknown-benchmark", {}, ["data", "inspect", "nosuchbench", "{data}/x.csv"], "unknown benchmark 'nosuchbench'"),
    ("unknown-stage-option", {"cfg.yaml": {}}, ["train", "{cfg}", "--stage", "nosuch"], "no training stage 'nosuch'"),
    ("analyze-no-store", {}, ["analyze", "{data}/empty-study"], "empty-study/results/grades: no graded results"),
]


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def study_outputs(tmp_path_factory) -> Path:
    """A study output dir with something worth protecting: a model folder and a result store."""
    from tests.analysis.stores import write_rows

    out = tmp_path_factory.mktemp("outputs")
    model = out / "models" / "base"
    model.mkdir(parents=True)
    (model / "config.json").write_text('{"model_type": "llama"}')
    (model / "stagewise.json").write_text('{"stage": "base"}')
    write_rows(out / "results", [{"model": "base", "item_id": str(i), "metrics": {"over_refusal": i % 2}}
                                 for i in range(6)])
    return out


def _apply(raw: dict, edits: dict) -> dict:
    from stagewise.config import apply_override

    for key, value in edits.items():
        apply_override(raw, f"{key}={json.dumps(value)}")
    return raw


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_one_line_error_and_damages_nothing(case, tmp_path, study_outputs, capsys):
    name, files, argv, expected = case
    data = tmp_path / "data"
    data.mkdir()
    (data / "corpus.txt").write_text("The mill stood by the river.\n\nBread needs flour and water.\n")
    (data / "sft.jsonl").write_text(_jsonl([SFT_OK] * 3))
    (data / "empty-study").mkdir()
    cfg_edits = files.get("cfg.yaml", {})
    for rel, content in files.items():
        if rel == "cfg.yaml" and isinstance(content, dict):
            continue
        path = data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    cfg = data / "cfg.yaml"
    if "cfg.yaml" not in files or isinstance(cfg_edits, dict):
        cfg.write_text(yaml.safe_dump(_apply(_study(study_outputs, data), cfg_edits)))
    before = _tree_digest(study_outputs)

    args = [a.format(cfg=cfg, data=data, out=study_outputs) for a in argv]
    code = main(args)
    err = capsys.readouterr().err.strip()

    assert code != 0, f"{name}: exit 0 on bad input"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{name}: not one error line:\n{err}"
    assert expected in lines[0], f"{name}: {lines[0]!r} does not name {expected!r}"
    assert "Traceback" not in err
    assert _tree_digest(study_outputs) == before, f"{name}: stored outputs changed"


def test_the_table_covers_every_part_of_the_chain():
    kinds = {c[0].split("-")[0] for c in CASES}
    assert len(CASES) >= 20
    assert {"config", "sft", "xstest", "eval", "unknown"} <= kinds


def test_a_study_that_grades_code_without_bubblewrap_stops_before_training(tmp_path, study_outputs, capsys, monkeypatch):
    """The code-tests grader refuses to run model-written code unsandboxed; `stagewise run` must say so before it
    trains (a fresh machine once trained for six minutes and then failed at the first reward-hacking grade)."""
    from stagewise.evaluate.sandbox import bubblewrap

    data = tmp_path / "data"
    data.mkdir()
    (data / "corpus.txt").write_text("The mill stood by the river.\n")
    (data / "sft.jsonl").write_text(_jsonl([SFT_OK] * 3))
    raw = _study(tmp_path / "run", data)
    raw["evaluation"] = {"autoraters": [{"name": "code-tests", "kind": "rules"}],
                         "benchmarks": [{"name": "reward-hacking", "autoraters": ["code-tests"]}]}
    cfg = data / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    bubblewrap.require_bubblewrap.cache_clear()
    monkeypatch.setattr(bubblewrap.shutil, "which", lambda name: None)
    try:
        code = main(["run", str(cfg)])
    finally:
        bubblewrap.require_bubblewrap.cache_clear()
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1, err
    assert err[0].startswith("error: sandbox: bwrap not found; install bubblewrap"), err[0]
    assert not (tmp_path / "run" / "models").exists(), "trained before checking the grader"
