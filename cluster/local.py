"""Join a Ray cluster or start an embedded one, and always leave the machine as we found it.

    with ray_cluster(study.cluster):
        ...  # Ray Train / Serve / Data work

Joins the cluster named by the config, by RAY_ADDRESS, or the one a `ray job submit` entrypoint runs in;
otherwise starts a local cluster for this process only and shuts it down on exit, Ctrl-C or SIGTERM. It
never runs `ray stop` (that would kill every Ray process on the machine, including other people's).

Only those three ever make it join. A bare `ray.init()` would also join whatever the address file Ray keeps in its
temp folder (`ray_current_cluster`, written by the last `ray start`) names: a stranger's live cluster, or a stopped
one, where it failed with "num_cpus and num_gpus must not be provided". The embedded cluster asks for
`address="local"`, which always starts a new one.
"""
from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stagewise.cluster.config import ClusterConfig
from stagewise.cluster.env import apply_cpu_env, cpu_runtime_env, has_cuda

log = logging.getLogger(__name__)


# Ray Train switches for a cluster this process starts (and so owns; it ends with this process): such a cluster
# has no preemptible nodes, so the per-run PreemptionWatcher actor (one more Python process importing Ray Train
# for every training stage, polling node state) has nothing to watch. Joined clusters keep Ray's defaults.
EMBEDDED_TRAIN_ENV = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}

# Ray Serve's controller, proxy and replicas log to their files under the session's `logs/serve/` and, by default,
# to stderr, which Ray forwards to this console: access-log lines from the ingress and the engines, each deployment's
# start-up chatter (the demo's console: 136 access lines, half its bytes, torn through the eval progress bar). A
# cluster this process owns keeps them in the files only; a deployment that fails still names its reason here
# (serve.app.wait_ready).
EMBEDDED_SERVE_ENV = {"RAY_SERVE_LOG_TO_STDERR": "0"}


def embedded_num_cpus(cfg: ClusterConfig) -> int:
    if cfg.num_cpus is not None:
        return cfg.num_cpus
    return max(8, 2 * (os.cpu_count() or 1))


def target_address(cfg: ClusterConfig) -> str | None:
    """The cluster to join, or None for an embedded one. Ray sets RAY_ADDRESS for job entrypoints."""
    return cfg.address or os.environ.get("RAY_ADDRESS") or None


def init_kwargs(cfg: ClusterConfig) -> dict[str, Any]:
    address = target_address(cfg)
    if address:
        return {"address": address}
    kwargs: dict[str, Any] = {
        "address": "local",  # our own cluster, whatever `ray start` left in Ray's address file (docstring)
        "num_cpus": embedded_num_cpus(cfg),
        "include_dashboard": cfg.dashboard,
        "dashboard_host": "127.0.0.1",
        "runtime_env": {"worker_process_setup_hook": "stagewise.cluster.env.embedded_worker_setup",
                        **({} if has_cuda() else {"env_vars": cpu_runtime_env()})},
    }
    if cfg.num_gpus is not None:
        kwargs["num_gpus"] = cfg.num_gpus
    if cfg.object_store_memory_gb:
        kwargs["object_store_memory"] = int(cfg.object_store_memory_gb * 2**30)
    return {k: v for k, v in kwargs.items() if v is not None}


def pin_data_stats_actor() -> None:
    """Create Ray Data's stats actor from the driver, on the driver's node, before any dataset runs.

    It is detached and pinned to the node of whichever process first runs a dataset; when that was a training
    worker streaming its rows on an autoscaled node (before ranks read their windows themselves), or could be an
    eval actor's, the node never became idle again and the autoscaler never released it
    (tests/cluster/test_autoscaling.py; on a GPU cluster, an idle node billed by the hour). The driver's node is the
    head, which stays anyway."""
    try:
        from ray.data._internal.stats import get_or_create_stats_actor

        get_or_create_stats_actor()
    except Exception as e:  # another Ray's layout: the cluster still works, only its idle nodes may linger
        log.warning("ray: could not place Ray Data's stats actor on the driver's node (%s)", e)


@contextmanager
def ray_cluster(cfg: ClusterConfig | None = None) -> Iterator[dict[str, Any]]:
    """Yield Ray's context info; shut down on exit only what this call started."""
    import ray

    cfg = cfg or ClusterConfig()
    if ray.is_initialized():  # nested use (e.g. `stagewise run` calling train then eval): reuse
        have = ray.cluster_resources().get("CPU", 0)
        if cfg.num_cpus and have < cfg.num_cpus:
            # Something in this process already started a Ray (any Ray API call does, e.g. a placement-group
            # lookup); work sized for cfg.num_cpus may then wait forever for resources it cannot get.
            log.warning("ray: reusing this process's Ray with %g CPUs, not the %d cluster.num_cpus asks for",
                        have, cfg.num_cpus)
        yield {"address": ray.get_runtime_context().gcs_address, "embedded": False}
        return
    apply_cpu_env()
    kwargs = init_kwargs(cfg)
    embedded = kwargs["address"] == "local"
    if embedded:  # read by Ray Train's and Serve's processes, which inherit this process's values of them
        for key, value in (EMBEDDED_TRAIN_ENV | EMBEDDED_SERVE_ENV).items():
            os.environ.setdefault(key, value)
    ctx = ray.init(**kwargs, log_to_driver=True, configure_logging=True, logging_level=logging.WARNING)
    log.info("ray: %s cluster at %s", "embedded" if embedded else "joined", ctx.address_info.get("gcs_address"))
    if not embedded:
        pin_data_stats_actor()

    # SIGTERM (e.g. a job stop or a CI timeout) should unwind like Ctrl-C so the finally below runs.
    previous = signal.getsignal(signal.SIGTERM)

    def _terminate(signum, frame):  # noqa: ARG001
        raise SystemExit(128 + signum)

    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield {"address": ctx.address_info.get("gcs_address"), "embedded": embedded,
               "session_dir": ctx.address_info.get("session_dir")}
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        try:
            from ray import serve

            if embedded:
                serve.shutdown()
        except Exception:  # Serve was never started, or is already gone
            pass
        ray.shutdown()
