"""Process environment shared by the driver and every Ray worker on a CPU machine.

One place for the switches STACK.md found necessary, so a test, a Ray job and the demo all run with the same
ones. Values already set by the user win.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path


def cache_dir() -> Path:
    """Build caches (DeepSpeed's JIT ops, vLLM's compile cache) kept across runs."""
    root = Path(os.environ.get("STAGEWISE_CACHE", Path.home() / ".cache" / "stagewise"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # torch missing or broken: certainly no CUDA for us
        return False


def cpu_runtime_env() -> dict[str, str]:
    """Environment variables for CPU runs (DeepSpeed on gloo, vLLM's CPU build)."""
    cache = cache_dir()
    env = {
        "DS_ACCELERATOR": "cpu",
        # vLLM's CPU engine refuses to start without an explicit KV-cache budget on a busy machine (GiB).
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_CACHE_ROOT": str(cache / "vllm"),
        "TORCH_EXTENSIONS_DIR": str(cache / "torch_extensions"),
        "TOKENIZERS_PARALLELISM": "false",
        "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    }
    return _set_values_win(env)


def _set_values_win(defaults: dict[str, str]) -> dict[str, str]:
    return {k: os.environ.get(k, v) for k, v in defaults.items()}


# glibc serves allocations above its mmap threshold (at most 32 MiB by default) with a fresh mmap and unmaps
# them on free, so every training step page-faults its logits and their gradients back in (a 16 x 256 x 2048
# fp32 micro-batch's logits alone are 32 MiB): ~20% of a CPU rank's time went to the kernel. A fixed high
# threshold and no trimming keep freed memory in the heap for the next step (bench/bench_train_step.py).
CPU_TRAINING_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(4 << 30), "MALLOC_TRIM_THRESHOLD_": str(16 << 30)}
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


@contextmanager
def large_allocations_mapped(threshold: int = 1 << 20):
    """In a CPU training worker (CPU_TRAINING_MALLOC set), give each allocation over `threshold` its own mapping
    for the duration, then restore the worker's threshold and trim the heap; elsewhere, nothing.

    A ZeRO-3 partitioned load (transformers under deepspeed.zero.Init) gathers each module's full tensors, copies
    them in and partitions them again; with the training threshold (4 GiB) every freed full tensor stays in the
    heap as a hole between the live partitions, and a rank peaked above a whole load (1.17-1.29x the fp32 model,
    bench/bench_load.py). Mapped, each goes back to the OS when freed: 0.71x, and the rank holds its half after."""
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        yield
        return
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(M_MMAP_THRESHOLD, threshold)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, int(os.environ["MALLOC_MMAP_THRESHOLD_"]))
        libc.malloc_trim(0)


# Ray Train replaces `print` in its workers with one that logs to Train's own log file and, when sys.stdout is
# wrapped (W&B's console capture wraps it in our workers), prints as well: each line then reached the driver twice,
# from the worker's stdout and its stderr. Ray's tqdm bars travel as printed lines, so the duplicate of each stage's
# "closed" line opened the bar again, and the finished bars were redrawn under all later output. Plain print
# reaches the console (and W&B's capture) once.
TRAINING_WORKER_ENV = {"RAY_TRAIN_ENABLE_PRINT_PATCH": "0"}


def training_worker_env(cpu: bool) -> dict[str, str]:
    """Environment for training workers (set when their process starts; values already set win)."""
    return _set_values_win(TRAINING_WORKER_ENV | (CPU_TRAINING_MALLOC if cpu else {}))


def quiet_worker_loggers() -> None:
    """`worker_process_setup_hook` of an embedded cluster: silence what only says the dashboard is off.

    Ray Train's PlacementGroupCleaner asks the State API (served by the dashboard, which the embedded cluster
    does not start) every second whether the run's controller lives, and warns each time it cannot: a hundred
    identical lines per training stage on the console. It keeps trying; an error is still shown.
    """
    import logging

    logging.getLogger("ray.train.v2._internal.execution.controller.placement_group_cleaner").setLevel(logging.ERROR)


def embedded_worker_setup() -> None:
    """`worker_process_setup_hook` of an embedded cluster: its workers name their own cluster, and stay quiet.

    Ray code inside workers that looks the cluster up by itself (Ray Train's PlacementGroupCleaner asks the State
    API with no address) finds "the" local cluster from the processes running on the machine; beside anyone
    else's Ray it failed with "Found multiple active Ray instances" and a traceback on the console. RAY_ADDRESS
    names the worker's own cluster, as it does in a Ray job's processes."""
    import ray

    os.environ.setdefault("RAY_ADDRESS", ray.get_runtime_context().gcs_address)
    quiet_worker_loggers()


def apply_cpu_env() -> dict[str, str]:
    """Put the CPU environment into this process (and so into what it spawns) unless CUDA is present."""
    if has_cuda():
        return {}
    env = cpu_runtime_env()
    os.environ.update(env)
    return env


# The architecture the embedded study builds (train/tiny.py); other models' entries are filled on first use.
WARM_ARCHITECTURES = ("LlamaForCausalLM",)


def warm_caches() -> None:
    """Fill the build caches at install time (scripts/setup.sh) that the first run would otherwise fill:

    - DeepSpeed's CPU shared-memory collective op, JIT-compiled on first use (~45 s of 2 cores here);
    - vLLM's per-architecture model info (`$VLLM_CACHE_ROOT/modelinfos`): without it every engine process
      inspects the architecture in a fresh subprocess that imports vLLM again (the demo's serve start on a
      fresh clone: 150 s cold, 118 s warmed here; BENCHMARKS.md).
    """
    env = apply_cpu_env()
    if not env:
        return  # CUDA machines: NCCL (no shm op), and vLLM's cache is theirs to place
    from deepspeed.accelerator import get_accelerator

    builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
    if builder is not None and builder.is_compatible():
        builder.load(verbose=False)
    from vllm.model_executor.models.registry import ModelRegistry

    for arch in WARM_ARCHITECTURES:
        ModelRegistry.models[arch].inspect_model_cls()


if __name__ == "__main__":
    # A CPU node's Ray processes pass their environment to every worker, so a CPU cluster started by hand
    # gets the same switches as the embedded one with:  eval "$(python -m stagewise.cluster.env)" && ray start --head ...
    import shlex

    for key, value in cpu_runtime_env().items():
        print(f"export {key}={shlex.quote(value)}")
