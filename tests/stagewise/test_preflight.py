"""The placement check before each stage: pure logic on stated capacities, then each stage command on a live
2-CPU embedded cluster (one for the module) asked for more than it has.

    .venv/bin/pytest tests/stagewise/test_preflight.py          # seconds, plus the cluster's start
"""
from __future__ import annotations

import time

import pytest
import yaml

from stagewise.config import load_study
from stagewise.core.errors import StagewiseError
from stagewise.preflight import (
    Capacity,
    Demand,
    check_study,
    evaluation_demands,
    place,
    shortfall,
    size_eval_pools,
    study_demands,
)
from tests.conftest import REPO

# The one-family demo: three engines, three training stages (the two-family demo doubles both).
DEMO = REPO / "configs" / "demo-one-family.yaml"


def _demo(*overrides: str):
    return load_study(DEMO, list(overrides))


def test_first_fit_places_each_bundle_on_one_node():
    assert place([{"CPU": 1}] * 3, [{"CPU": 2}, {"CPU": 1}]) is not None
    assert place([{"CPU": 1.5}] * 2, [{"CPU": 2}, {"CPU": 1}]) is None  # 3 CPUs in all, but no node holds two
    left = place([{"CPU": 0.25}] * 3, [{"CPU": 1}])
    assert left is not None and left[0]["CPU"] == pytest.approx(0.25)
    assert place([{"GPU": 4}], [{"GPU": 8, "CPU": 8}]) is not None
    assert place([{"GPU": 1}], [{"CPU": 64}]) is None


def test_demo_demands_are_the_runtime_numbers():
    demands = study_demands(_demo(), gpu_cluster=False)
    assert [(d.what, d.bundle, d.count) for d in demands.training] == [
        ("training.pretrain: 2 workers", {"CPU": 1}, 2), ("training.sft: 2 workers", {"CPU": 1}, 2),
        ("training.dpo: 2 workers", {"CPU": 1}, 2)]
    # One engine per model of the study (base, sft, production), one CPU bundle each (serve/app.py's llm_config).
    (wave,) = demands.serving
    assert [(d.what, d.bundle) for d in wave] == [
        ("serving.base: 1 engine replica", {"CPU": 1}), ("serving.sft: 1 engine replica", {"CPU": 1}),
        ("serving.production: 1 engine replica", {"CPU": 1})]  # the router reserves none (serving.ingress_cpus)
    assert sum(d.count * d.bundle["CPU"] for d in demands.evaluation) == 0.5  # one policy + one grader actor


def test_gpu_engines_ask_for_their_tensor_parallel_group_on_one_node():
    study = load_study(REPO / "configs" / "olmo2-7b.yaml")
    demands = study_demands(study, gpu_cluster=True)
    judge = next(d for wave in demands.serving for d in wave if d.what.startswith("serving.judge"))
    assert judge.bundle == {"GPU": 4.0, "accelerator_type:H100": 0.001}
    train = demands.training[0]
    assert (train.bundle, train.count) == ({"GPU": 1.0}, 16)


def test_demo_fits_the_embedded_cluster_and_fails_fast_on_a_small_one():
    demands = study_demands(_demo(), gpu_cluster=False)
    check_study(demands, Capacity(nodes=[{"CPU": 8}]))
    check_study(demands, Capacity(nodes=[{"CPU": 4}]))  # 3 engines + 1 for Ray Data's block tasks, then 0.5 of actors
    with pytest.raises(StagewiseError) as e:
        check_study(demands, Capacity(nodes=[{"CPU": 3}]))
    line = str(e.value)
    assert "\n" not in line
    assert line.startswith("cluster: serving + evaluation needs 3.5 CPU (serving.base: 1 engine replica x {1 CPU}; ")
    assert "but 3 CPU is free on 1 node(s); no autoscaler adds nodes; lower serving's min_replicas" in line
    with pytest.raises(StagewiseError, match=r"^cluster: training needs 2 CPU \(training\.pretrain: 2 workers x "
                                             r"\{1 CPU\}\) but 1 CPU is free .*lower training\.pretrain\.num_workers"):
        check_study(demands, Capacity(nodes=[{"CPU": 1}]), until="train")


def test_nodes_the_autoscaler_may_launch_count():
    demands = study_demands(_demo(), gpu_cluster=False)
    head_only = Capacity(nodes=[{"CPU": 0.5}], launchable=[{"CPU": 2}] * 2)
    check_study(demands, head_only)
    line = shortfall("serving + evaluation", demands.serving[0] + demands.evaluation,
                     Capacity(nodes=[{"CPU": 0.5}], launchable=[{"CPU": 2}]))
    assert line is not None and "the autoscaler may add 1 node(s)" in line


def test_a_bundle_no_node_can_hold_is_named():
    line = shortfall("training", [Demand("training.sft: 1 workers", {"GPU": 1}, 1)], Capacity(nodes=[{"CPU": 64}]))
    assert line is not None and "no node can hold one bundle of {1 GPU}" in line


def test_eval_pools_are_sized_to_what_serving_left():
    cfg = _demo("evaluation.policy_actors=4", "evaluation.grader_actors=2").evaluation
    assert size_eval_pools(cfg, Capacity(nodes=[{"CPU": 8}])) is cfg  # everything fits: unchanged
    with pytest.raises(StagewiseError, match=r"^cluster: evaluation needs 1 CPU \(evaluation: Ray Data's block"):
        size_eval_pools(cfg, Capacity(nodes=[{"CPU": 0.75}]))  # from_arrow's metadata tasks take a whole CPU
    sized = size_eval_pools(cfg, Capacity(nodes=[{"CPU": 1.0}]))  # 4 actors of 0.25
    assert (sized.policy_actors, sized.grader_actors) == (2, 2)
    assert sum(d.count * d.bundle["CPU"] for d in evaluation_demands(sized)) <= 1.0
    sized = size_eval_pools(cfg, Capacity(nodes=[{"CPU": 0.5}, {"CPU": 1.0}]))
    assert (sized.policy_actors, sized.grader_actors) == (4, 2)


def test_plan_states_the_placement_and_refuses_an_embedded_cluster_too_small(monkeypatch):
    from stagewise.plan import format_plan, plan_study

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    text = format_plan(plan_study(_demo("cluster.num_cpus=4")))
    assert "placement (Ray resources per stage)" in text
    assert "  serving.base: 1 engine replica x {1 CPU}" in text
    assert "fits the embedded cluster (4 CPUs, cluster.num_cpus)" in text
    with pytest.raises(StagewiseError, match=r"^cluster: serving \+ evaluation needs 3\.5 CPU .* but 3 CPU is free"):
        plan_study(_demo("cluster.num_cpus=3"))
    # A cluster it will join is only known when the study starts: stated, checked then.
    joined = format_plan(plan_study(_demo("cluster.num_cpus=3", "cluster.address=127.0.0.1:6379")))
    assert "checked against the live cluster (and what its autoscaler may add) before each stage" in joined


# ---------------------------------------------------------------------------------------------------------
# The stage commands (`stagewise train / serve / eval`) check their stage before starting it, as `stagewise run`
# does: on a live cluster too small for it, each fails in seconds with one line, exit code 2.

CLUSTER_CPUS = 2


@pytest.fixture(scope="module")
def small_cluster():
    """One embedded 2-CPU Ray for the module: the commands' own `ray_cluster` reuses this process's Ray."""
    from stagewise.cluster.config import ClusterConfig
    from stagewise.cluster.local import ray_cluster

    with ray_cluster(ClusterConfig(num_cpus=CLUSTER_CPUS)):
        yield


def _study(tmp_path, model_dir, **sections) -> str:
    (tmp_path / "corpus.txt").write_text("The river ran past the old mill.\n" * 20)
    raw = {"name": "preflight", "output_dir": str(tmp_path / "out"), "wandb": {"mode": "disabled"},
           "models": [{"id": "tiny", "stage": "sft", "source": str(model_dir)}],
           "evaluation": {"autoraters": [{"name": "refusal-rules", "kind": "rules"}],
                          "benchmarks": [{"name": "xstest", "limit": 4, "autoraters": ["refusal-rules"]}]},
           **sections}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _fails_fast(capsys, *argv: str) -> str:
    """Run `stagewise <argv>` in this process; the one `error:` line it printed (exit code 2, within seconds)."""
    from stagewise.cli import main

    start = time.monotonic()
    code = main(list(argv))
    took = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert took < 30, f"took {took:.0f} s"  # the check itself is milliseconds; loading the study and inputs is the rest
    return lines[0]


@pytest.mark.timeout(180)
def test_train_command_refuses_workers_the_cluster_cannot_place(small_cluster, tmp_path, tiny_model_dir, capsys):
    stage = {"name": "pretrain", "objective": "pretrain", "init": "tiny", "output": "base",
             "data": [str(tmp_path / "corpus.txt")], "num_workers": 3, "max_steps": 2}
    cfg = _study(tmp_path, tiny_model_dir, models=[{"id": "base", "stage": "base"}], training=[stage])
    line = _fails_fast(capsys, "train", cfg)
    assert line.startswith("error: cluster: training needs 3 CPU (training.pretrain: 3 workers x {1 CPU}) but "
                           f"{CLUSTER_CPUS} CPU is free on 1 node(s)"), line
    assert "lower training.pretrain.num_workers" in line
    assert not (tmp_path / "out" / "models" / "base").exists()


@pytest.mark.timeout(180)
def test_serve_command_refuses_engines_the_cluster_cannot_place(small_cluster, tmp_path, tiny_model_dir, capsys):
    cfg = _study(tmp_path, tiny_model_dir, serving={"cpus_per_replica": 3})
    line = _fails_fast(capsys, "serve", cfg)
    assert line.startswith("error: cluster: serving needs 3 CPU (serving.tiny: 1 engine replica x {3 CPU}) but "
                           f"{CLUSTER_CPUS} CPU is free on 1 node(s)"), line
    assert "lower serving's min_replicas / cpus_per_replica" in line
    from ray import serve

    assert not serve.status().applications  # nothing was deployed


@pytest.mark.timeout(180)
def test_eval_command_refuses_engines_and_actors_the_cluster_cannot_place(small_cluster, tmp_path, tiny_model_dir,
                                                                           capsys):
    # Serving the model (2 CPUs) leaves nothing for the eval actors that run beside it (0.25 CPU each).
    cfg = _study(tmp_path, tiny_model_dir, serving={"cpus_per_replica": 2})
    line = _fails_fast(capsys, "eval", cfg)
    assert line.startswith("error: cluster: serving + evaluation needs 2.5 CPU (serving.tiny: 1 engine replica x "
                           "{2 CPU}; evaluation: 1 policy actor x {0.25 CPU}; evaluation: 1 grader actor x "
                           f"{{0.25 CPU}}) but {CLUSTER_CPUS} CPU is free"), line
    # With an endpoint serving elsewhere, the actors alone are checked, before the endpoint is asked anything.
    cfg = _study(tmp_path, tiny_model_dir, evaluation={
        "actor_num_cpus": 1.5, "autoraters": [{"name": "refusal-rules", "kind": "rules"}],
        "benchmarks": [{"name": "xstest", "limit": 4, "autoraters": ["refusal-rules"]}]})
    line = _fails_fast(capsys, "eval", cfg, "--endpoint", "http://127.0.0.1:9/v1")
    assert line.startswith("error: cluster: evaluation needs 3 CPU (evaluation: 1 policy actor x {1.5 CPU}; "
                           "evaluation: 1 grader actor x {1.5 CPU})"), line
