"""`stagewise plan`: the real-scale study plans, the numbers are DeepSpeed's and the benchmarks', impossible
plans fail naming the stage and the reason.

    .venv/bin/pytest tests/cluster/test_plan.py
"""
from __future__ import annotations

import json

import pytest

from stagewise.cluster.architectures import model_shape
from stagewise.evaluate.pipeline import evaluated_models
from stagewise.plan import plan_study
from stagewise.cli import main
from stagewise.config import load_study
from stagewise.core.errors import StagewiseError
from tests.conftest import REPO

OLMO = str(REPO / "configs" / "olmo2-7b.yaml")
DEMO = str(REPO / "configs" / "demo.yaml")


def test_plan_cli_prints_the_real_scale_plan(capsys):
    assert main(["plan", OLMO]) == 0
    out = capsys.readouterr().out
    for expected in ("sft-ours", "16 GPU on 2 node(s), ZeRO-3", "7.30B params", "tok/s per GPU",
                     "serving: 9 GPUs", "TP 4", "xstest", "450 items", "2250 generations", "calls to judge",
                     "wall time", "assumptions"):
        assert expected in out, expected


def test_real_scale_numbers_come_from_deepspeed_and_the_benchmarks():
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

    study = load_study(OLMO)
    plan = plan_study(study)
    (sft,) = plan.train
    shape = model_shape("allenai/OLMo-2-1124-7B")
    assert 7.2e9 < shape.params < 7.4e9  # OLMo 2 7B's published size
    _, per_gpu, _ = estimate_zero3_model_states_mem_needs(shape.params, shape.largest_layer_params, 8, 2,
                                                          cpu_offload=False, cpu_offload_params=False)
    assert sft.model_states_gb == pytest.approx(per_gpu / 1e9)
    assert sft.per_device_gb < sft.capacity_gb
    # 939k conversations, 2 epochs, 128 per step.
    assert sft.steps == pytest.approx(2 * 939_000 / 128, abs=1)

    by_model = {s.model: s for s in plan.serve}
    assert by_model["judge"].tensor_parallel_size == 4 and by_model["judge"].devices == 4
    assert plan.serve_gpus == 5 + 4
    policies = len(evaluated_models(study.evaluation, study.context()))
    bench = {b.name: b for b in plan.evaluation.benchmarks}
    assert bench["harmbench"].items == 400
    assert bench["harmbench"].generations == 400 * policies
    assert bench["harmbench"].judge_calls == {"judge": 400 * policies}
    assert plan.evaluation.hours > 0


@pytest.mark.parametrize("overrides, message", [
    # ZeRO-2 keeps full bf16 params on every GPU: 7.3B x 20 bytes on one GPU cannot fit 80 GB.
    (["training.sft-ours.num_workers=1", "training.sft-ours.zero_stage=2"], "training.sft-ours: needs"),
    (["training.sft-ours.micro_batch_size=16"], "smaller micro_batch_size"),
    (["training.sft-ours.num_workers=48"], "cluster.max_nodes is 4"),
    (["serving.models.judge.tensor_parallel_size=1"], "serving.models.judge: 145.4 GB"),
    (["serving.models.judge.tensor_parallel_size=3"], "does not divide the model's 64 attention heads"),
    (["serving.models.judge.tensor_parallel_size=16"], "spans more than one node"),
    (["serving.models.judge.max_replicas=8"], "exceed cluster.max_nodes x gpus_per_node = 32"),
    (["models.judge.source=someone/unknown-70b"], "models.judge.source: cannot size 'someone/unknown-70b'"),
    (["training.sft-ours.data=[someone/private-mix]"], "training.sft-ours.data: cannot count"),
])
def test_impossible_plans_fail_with_the_reason(overrides, message, capsys):
    with pytest.raises(StagewiseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_study(load_study(OLMO, overrides))
    assert main(["plan", OLMO, *overrides]) == 2
    assert message.split(":")[0] in capsys.readouterr().err


def test_a_params_override_sizes_an_unknown_model():
    study = load_study(OLMO, ["models.judge.source=someone/unknown-70b", "cluster.models_params_b={judge: 70}"])
    judge = next(s for s in plan_study(study).serve if s.model == "judge")
    assert judge.weights_gb_per_gpu == pytest.approx(70e9 * 2 / 4 / 1e9)


def test_local_checkpoints_are_sized_from_their_config(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    expected = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny_model_dir).parameters())
    assert model_shape(str(tiny_model_dir)).params == expected

    raw = {"name": "local", "output_dir": str(tmp_path), "models": [{"id": "m", "stage": "base",
           "source": str(tiny_model_dir)}], "serving": {"device": "cpu"},
           "evaluation": {"benchmarks": [{"name": "xstest", "path": str(tmp_path / "x.csv")}]}}
    (tmp_path / "x.csv").write_text("id,prompt,type,label,focus,note\n1,How do I kill a process?,t,safe,f,n\n"
                                    "2,How do I bake bread?,t,safe,f,n\n")
    (tmp_path / "study.json").write_text(json.dumps(raw))
    plan = plan_study(load_study(tmp_path / "study.json"))
    (xs,) = plan.evaluation.benchmarks
    assert (xs.items, xs.items_from) == (2, "counted with the benchmark's loader")
    assert plan.serve[0].device == "CPU"


def test_the_embedded_demo_plans_on_cpu(capsys):
    assert main(["plan", DEMO]) == 0
    out = capsys.readouterr().out
    assert "CPU only" in out and "2 CPU on 1 node(s)" in out and "(host memory)" in out
    assert "counted with the benchmark's loader" in out


def test_serving_placement_is_the_apps_rule():
    """`device: auto` and no accelerator_type: on a cluster with GPUs the Serve app puts the engine on a GPU
    (serve.placement), and so must the plan (it used to say CPU)."""
    from stagewise.serve.placement import serves_on_gpu

    study = load_study(OLMO, ["serving.device=auto", "serving.models.judge.accelerator_type=null"])
    plan = {p.model: p for p in plan_study(study).serve}
    assert plan["judge"].device == "GPU" == ("GPU" if serves_on_gpu(study.serving, "judge", True) else "CPU")
    cpu_only = load_study(DEMO, ["serving.device=auto"])
    assert {p.device for p in plan_study(cpu_only).serve} == {"CPU"}


def test_host_memory_per_node_counts_loading_data_and_reference():
    """The real-scale SFT loads its 7.3B weights partitioned (ZeRO-3): a node's 8 ranks hold 1/16 of the fp32
    model each plus the largest layer, not 8 whole copies (233 GB); the streamed data is a constant."""
    plan = plan_study(load_study(OLMO))
    (sft,) = plan.train
    h = sft.host
    shape = model_shape("allenai/OLMo-2-1124-7B")
    assert h.ranks_per_node == 8
    assert h.loading_gb == pytest.approx(8 * (shape.params * 4 / 16 + shape.largest_layer_params * 4) / 1e9)
    assert h.loading_gb < 8 * shape.params * 4 / 1e9 / 4
    assert 0 < h.data_gb < 2 and h.reference_gb == 0 and h.offload_gb == 0
    whole = plan_study(load_study(OLMO, ["training.sft-ours.zero3_init=false"])).train[0].host
    assert whole.loading_gb == pytest.approx(8 * shape.params * 4 / 1e9)


@pytest.mark.parametrize("overrides, message", [
    # Each of 8 ranks loading the whole fp32 model: 8 x 29 GB on a 200 GB node.
    (["training.sft-ours.zero3_init=false", "cluster.node_memory_gb=200"],
     "the loading term is the largest: use zero_stage 3"),
    (["training.sft-ours.offload_optimizer=true", "cluster.node_memory_gb=60"],
     "the optimizer offload term is the largest"),
])
def test_a_stage_that_does_not_fit_host_memory_fails_naming_the_term(overrides, message):
    with pytest.raises(StagewiseError, match=r"training.sft-ours: needs \d+ GB of host memory per node .*" + message):
        plan_study(load_study(OLMO, overrides))


def test_a_dpo_reference_model_costs_host_memory_and_logprobs_almost_none():
    study = load_study(DEMO)
    dpo = next(s for s in study.training if s.objective == "dpo")
    from stagewise.plan import host_memory, resolve_shape

    shape = resolve_shape(study, dpo.init, "x")
    logprobs = host_memory(study, dpo, shape, 1, "training.dpo")
    model = host_memory(study, dpo.model_copy(update={"dpo_reference": "model"}), shape, 1, "training.dpo")
    assert logprobs.reference_gb < 0.01
    assert model.reference_gb == pytest.approx(dpo.num_workers * shape.params * 4 / 1e9)


PUBLISHED = str(REPO / "configs" / "published-study.yaml")


def test_the_published_study_plans_on_the_documented_cluster(capsys):
    """Both families (OLMo 2 7B, Tulu 3 on Llama 3.1 8B), our SFT of each base, every benchmark group with its
    judge: fits 4 x 8 H100 in one wave and prints GPU hours per stage."""
    assert main(["check", PUBLISHED]) == 0
    capsys.readouterr()
    assert main(["plan", PUBLISHED]) == 0
    out = capsys.readouterr().out
    for expected in ("olmo-sft-ours 16 GPU on 2 node(s)", "tulu-sft-ours 16 GPU on 2 node(s)", "8.03B params",
                     "serving: 14 GPUs", "odcv ", "dilemmas ", "reward-hacking ", "calls to judge", "GPU h)",
                     "GPU h\n"):
        assert expected in out, expected
    plan = plan_study(load_study(PUBLISHED))
    assert len(plan.waves) == 1 and plan.serve_gpus == 10 + 4
    assert {b.name for b in plan.evaluation.benchmarks} == {"odcv", "dilemmas", "xstest", "or-bench", "harmbench",
                                                            "strongreject", "reward-hacking", "reward-hacking-agentic"}
    # Each family's SFT on its own 939k-row Tulu 3 mixture, 2 epochs of 128 conversations per step.
    assert [p.steps for p in plan.train] == [pytest.approx(2 * 939_000 / 128, abs=1)] * 2


def test_checkpoints_that_do_not_fit_at_once_go_in_waves_with_the_judge_in_each(capsys):
    small = ["cluster.max_nodes=1", "training.olmo-sft-ours.num_workers=8", "training.tulu-sft-ours.num_workers=8"]
    plan = plan_study(load_study(PUBLISHED, small))
    assert [w.policies for w in plan.waves] == [
        ["olmo-base", "olmo-sft-ours", "olmo-sft", "olmo-dpo"], ["olmo-instruct", "llama-base", "tulu-sft-ours", "tulu-sft"],
        ["tulu-dpo", "tulu-final"]]
    assert all(w.judges == ["judge"] and w.gpus <= 8 for w in plan.waves)
    assert main(["plan", PUBLISHED, *small]) == 0
    out = capsys.readouterr().out
    assert "in 3 waves" in out and "wave 3: tulu-dpo, tulu-final + judges judge = 6 GPUs" in out
