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


def test_plan_sizes_each_familys_tiny_init_with_its_own_shape(tmp_path):
    from stagewise.config import validate_study
    from stagewise.plan import plan_study
    from tests.stagewise.test_families_e2e import LARGE, SMALL, _family

    study = validate_study({"name": "t", "output_dir": str(tmp_path), "families": [_family("small", SMALL),
                                                                                   _family("large", LARGE)]})
    params = {p.stage: p.params for p in plan_study(study).train}
    assert params["small-sft"] == params["small-dpo"] < params["large-sft"] == params["large-dpo"]
    served = {s.model: s.weights_gb_per_gpu for s in plan_study(study).serve}
    assert served["small-prod"] < served["large-prod"]
