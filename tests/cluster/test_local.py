import os
from pathlib import Path

import pytest

from stagewise.cluster.config import ClusterConfig
from stagewise.cluster.local import embedded_num_cpus, init_kwargs, ray_cluster


def test_embedded_cluster_is_oversubscribed_and_loopback(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    kw = init_kwargs(ClusterConfig())
    assert kw["address"] == "local"  # never whatever Ray's address file names
    assert kw["num_cpus"] >= 8 and kw["num_cpus"] >= 2 * (os.cpu_count() or 1)
    assert kw["dashboard_host"] == "127.0.0.1"
    assert embedded_num_cpus(ClusterConfig(num_cpus=3)) == 3


def test_joins_ray_address(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6380")
    assert init_kwargs(ClusterConfig()) == {"address": "127.0.0.1:6380"}
    assert init_kwargs(ClusterConfig(address="ray://h:10001")) == {"address": "ray://h:10001"}


@pytest.mark.timeout(300)
def test_embedded_cluster_starts_runs_and_stops(monkeypatch):
    import ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with ray_cluster(ClusterConfig(num_cpus=4)) as info:
        assert info["embedded"]
        assert ray.cluster_resources()["CPU"] == 4

        @ray.remote(num_cpus=0.5)
        def square(x):
            return x * x, os.environ.get("VLLM_CPU_KVCACHE_SPACE"), os.environ.get("RAY_ADDRESS")

        results = ray.get([square.remote(i) for i in range(4)])
        assert [r[0] for r in results] == [0, 1, 4, 9]
        assert all(r[1] for r in results), "workers get the CPU runtime env"
        # Ray code in workers that looks its cluster up by itself finds this one, not a neighbour's.
        assert {r[2] for r in results} == {info["address"]}
    assert not ray.is_initialized()


@pytest.mark.timeout(300)
def test_reusing_a_smaller_ray_started_elsewhere_in_the_process_warns(monkeypatch, caplog):
    import ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with ray_cluster(ClusterConfig(num_cpus=2)):  # stands in for a stray Ray API call that started one
        with caplog.at_level("WARNING", logger="stagewise.cluster.local"), ray_cluster(ClusterConfig(num_cpus=8)) as info:
            assert not info["embedded"]
        assert "reusing this process's Ray with 2 CPUs, not the 8 cluster.num_cpus asks for" in caplog.text
        assert ray.is_initialized(), "the inner call leaves the outer cluster running"
    assert not ray.is_initialized()


def test_training_worker_env_keeps_values_the_user_set(monkeypatch):
    from stagewise.cluster.env import CPU_TRAINING_MALLOC, training_worker_env

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("RAY_TRAIN_ENABLE_PRINT_PATCH", raising=False)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    env = training_worker_env(cpu=True)
    assert env == {"MALLOC_MMAP_THRESHOLD_": "1048576", "RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
                   "MALLOC_TRIM_THRESHOLD_": CPU_TRAINING_MALLOC["MALLOC_TRIM_THRESHOLD_"]}
    assert training_worker_env(cpu=False) == {"RAY_TRAIN_ENABLE_PRINT_PATCH": "0"}


def test_embedded_cluster_workers_run_the_quieting_hook(monkeypatch):
    import logging

    from stagewise.cluster.env import embedded_worker_setup, quiet_worker_loggers

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    hook = init_kwargs(ClusterConfig())["runtime_env"]["worker_process_setup_hook"]
    module, _, name = hook.rpartition(".")
    assert (module, name) == ("stagewise.cluster.env", embedded_worker_setup.__name__)
    cleaner = logging.getLogger("ray.train.v2._internal.execution.controller.placement_group_cleaner")
    monkeypatch.setattr(cleaner, "level", logging.NOTSET)
    quiet_worker_loggers()
    assert not cleaner.isEnabledFor(logging.WARNING) and cleaner.isEnabledFor(logging.ERROR)


def _private_ray_tmpdir(monkeypatch) -> str:
    """Ray's default temp dir (and with it its address file) in a folder of this test's own: the machine's
    /tmp/ray belongs to everyone's Ray. Short, for Ray's unix socket paths."""
    import tempfile

    root = tempfile.mkdtemp(prefix="swl", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", root)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return root


@pytest.mark.timeout(300)
def test_embedded_cluster_ignores_a_stale_address_file(monkeypatch):
    """The reported failure: a stopped `ray start` head left `ray_current_cluster` behind and `ray.init(num_cpus=...)`
    tried to join it ("num_cpus and num_gpus must not be provided")."""
    import shutil
    from pathlib import Path

    import ray

    from tests.conftest import free_port

    root = _private_ray_tmpdir(monkeypatch)
    (Path(root) / "ray").mkdir()
    (Path(root) / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{free_port()}")  # nobody listens there
    try:
        with ray_cluster(ClusterConfig(num_cpus=3)) as info:
            assert info["embedded"]
            assert ray.cluster_resources()["CPU"] == 3
            assert ray.get(ray.remote(num_cpus=0.5)(lambda: 7).remote()) == 7
        assert not ray.is_initialized()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_embedded_cluster_leaves_another_live_cluster_alone(monkeypatch):
    """A live `ray start` head on the machine, named by the address file: the embedded run starts its own
    cluster beside it, and the other one sees no node, job or resource of ours."""
    import ray

    from tests.cluster.nodes import LocalRay

    with LocalRay() as other:
        other.start_head(num_cpus=1, resources={"theirs": 1})
        monkeypatch.setenv("RAY_TMPDIR", other.root)  # where its `ray_current_cluster` names it
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        named = (Path(other.temp_dir) / "ray_current_cluster").read_text().strip()
        assert named.endswith(f":{other.port}")
        with ray_cluster(ClusterConfig(num_cpus=3)) as info:
            assert info["embedded"] and not info["address"].endswith(f":{other.port}")
            resources = ray.cluster_resources()
            assert resources["CPU"] == 3 and "theirs" not in resources
            assert len(ray.nodes()) == 1
        assert not ray.is_initialized()
        assert other.alive_nodes() == 1  # theirs is still up, with only its own node
