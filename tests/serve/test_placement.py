"""serve/placement.py: GPU or CPU engines, the one rule the Serve app and the resource planner share.

    .venv/bin/pytest tests/serve/test_placement.py     # seconds
"""
import pytest

from stagewise.serve.config import ServeConfig, ServedModelConfig
from stagewise.serve.placement import live_cluster_has_gpus, serves_on_gpu


@pytest.mark.parametrize("device, accelerator_type, cluster_has_gpus, gpu", [
    ("cpu", None, False, False),
    ("cpu", None, True, False),  # an explicit device wins
    ("cpu", "H100", True, False),
    ("gpu", None, False, True),
    ("gpu", None, True, True),
    ("gpu", "H100", False, True),
    ("auto", None, False, False),
    ("auto", None, True, True),  # the cluster decides
    ("auto", "H100", False, True),  # naming a GPU type asks for one (an autoscaler may add that node)
    ("auto", "H100", True, True),
])
def test_placement_table(device, accelerator_type, cluster_has_gpus, gpu):
    cfg = ServeConfig(device=device, models={"judge": ServedModelConfig(accelerator_type=accelerator_type)})
    assert serves_on_gpu(cfg, "judge", cluster_has_gpus) is gpu
    # A model without overrides never has an accelerator type: only the device and the cluster count.
    assert serves_on_gpu(cfg, "other", cluster_has_gpus) is (device == "gpu" or (device == "auto" and cluster_has_gpus))


def test_without_ray_the_machine_decides(monkeypatch):
    import ray

    assert not ray.is_initialized()
    monkeypatch.setattr("stagewise.cluster.env.has_cuda", lambda: True)
    assert live_cluster_has_gpus()
    monkeypatch.setattr("stagewise.cluster.env.has_cuda", lambda: False)
    assert not live_cluster_has_gpus()
