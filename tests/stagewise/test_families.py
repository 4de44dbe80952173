"""Serving waves (stagewise/waves.py): the judges in every wave, policies packed in study order."""
from __future__ import annotations

import pytest

from stagewise.core.errors import StagewiseError
from stagewise.waves import pack_waves


def test_everything_that_fits_is_one_wave():
    (wave,) = pack_waves([("a", 1), ("b", 1)], [("judge", 4)], capacity=8)
    assert (wave.policies, wave.judges, wave.gpus) == (["a", "b"], ["judge"], 6)
    (cpu,) = pack_waves([("a", 0), ("b", 0)], [], capacity=None)  # CPU: no GPUs to run out of
    assert cpu.models() == ["a", "b"]


def test_policies_fill_waves_in_order_beside_every_judge():
    waves = pack_waves([("a", 2), ("b", 2), ("c", 1), ("d", 2)], [("j1", 2), ("j2", 1)], capacity=6)
    assert [w.policies for w in waves] == [["a"], ["b", "c"], ["d"]]
    assert all(w.judges == ["j1", "j2"] for w in waves) and [w.gpus for w in waves] == [5, 6, 5]


def test_a_policy_that_cannot_fit_beside_the_judges_fails_naming_it():
    with pytest.raises(StagewiseError, match=r"serving: big \(4 GPUs\) beside the judges \(judge 4: 4 GPUs, in every "
                                             r"wave\) exceed cluster.max_nodes x gpus_per_node = 6"):
        pack_waves([("a", 1), ("big", 4)], [("judge", 4)], capacity=6)


def test_plan_sizes_each_familys_tiny_init_with_its_own_shape():
    from stagewise.config import load_study
    from stagewise.plan import plan_study
    from tests.conftest import REPO

    plan = plan_study(load_study(REPO / "configs" / "demo.yaml"))  # the demo: a small and a large family
    params = {p.stage: p.params for p in plan.train}
    assert params["small-pretrain"] == params["small-sft"] == params["small-dpo"] < params["large-sft"]
    assert params["large-pretrain"] == params["large-sft"] == params["large-dpo"]
    served = {s.model: s.weights_gb_per_gpu for s in plan.serve}
    assert served["small-production"] < served["large-production"]


def test_a_cap_on_models_per_wave_splits_them_on_cpu_too():
    """serving.max_models_per_wave bounds what is served at once where GPUs do not (CPU: host memory)."""
    waves = pack_waves([("s-sft", 0), ("s-prod", 0), ("l-sft", 0), ("l-prod", 0), ("l-base", 0)], [("judge", 0)],
                       capacity=None, max_models=3)
    assert [w.policies for w in waves] == [["s-sft", "s-prod"], ["l-sft", "l-prod"], ["l-base"]]
    assert all(w.judges == ["judge"] for w in waves)
    (one,) = pack_waves([("a", 0), ("b", 0)], [], capacity=None, max_models=2)
    assert one.policies == ["a", "b"]
    with pytest.raises(StagewiseError, match="serving.max_models_per_wave: 1 leaves no room"):
        pack_waves([("a", 0)], [("judge", 0)], capacity=None, max_models=1)
