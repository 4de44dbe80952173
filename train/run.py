"""Run training stages: Ray Train's TorchTrainer x DeepSpeed, one HF directory + stagewise.json per stage.

    stagewise train configs/demo.yaml [key=value ...] [--stage sft]
    ray job submit --working-dir . -- stagewise train configs/demo.yaml     # the same, as a Ray job

`run_stages` is what `stagewise run` calls. A stage whose export already records the same resolved config, data
hashes and parent is skipped; stages that continue each other train as one chain in one TorchTrainer run
(train/worker.py); an interrupted run resumes from Ray Train's latest checkpoint (same run name and storage),
in the same stage, at the exact step, replaying the same data order.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagewise.core.checkpoints import LINEAGE, files_sha256
from stagewise.core.errors import StagewiseError
from stagewise.train.config import TrainStageConfig
from stagewise.train.data import file_sha256
from stagewise.train.objectives import get_objective

if TYPE_CHECKING:
    from stagewise.core.context import RunContext
    from stagewise.train.config import TinyModelConfig

    Tiny = TinyModelConfig | Mapping[str, TinyModelConfig] | None  # one random-init shape, or one per stage name

log = logging.getLogger(__name__)


def run_stage(stage: TrainStageConfig, ctx: "RunContext", tiny: "Tiny" = None) -> Path:
    """Train one stage (or skip it when its export is current) and return its HF directory."""
    return run_stages([stage], ctx, tiny)[stage.output]


def run_stages(stages: list[TrainStageConfig], ctx: "RunContext", tiny: "Tiny" = None,
               timings: dict[str, float] | None = None) -> dict[str, Path]:
    """Train `stages` in order, skipping those whose export is current; returns model id -> HF dir.

    Needs a Ray cluster (`stagewise.cluster.local.ray_cluster`). `ctx` names the study's models and where
    their weights are; `tiny` sizes the random-init model of an `init: tiny` stage: one shape, or one per stage
    name (a study's families each have their own).

    Consecutive stages on the same workers run as one chain in one TorchTrainer run: the worker group, its
    imports and Ray Data start once, not per stage. A stage continues the previous one's weights when its
    `init` is that stage's `output`; a stage that starts afresh (`init: tiny`, a hub id or a trained model's
    dir, e.g. the next model family's first stage) joins the chain too and loads its own init.
    `timings` (if given) gets `train:<stage>` seconds for each stage trained now, as measured on rank 0.
    """
    for stage in stages:
        _check_device(stage)
    paths: dict[str, Path] = {}
    pending = list(stages)
    while pending:
        stage = pending.pop(0)
        if _current(ctx, tiny, stage):
            log.info("train %s: %s is current, skipping", stage.name, ctx.model_path(stage.output))
            paths[stage.output] = Path(ctx.model_path(stage.output))
            continue
        chain = [stage]
        while pending and _continues(chain, pending[0]) and not _current(ctx, tiny, pending[0]):
            chain.append(pending.pop(0))
        paths |= _train_chain(ctx, tiny, chain, timings)
    return paths


def _continues(chain: list[TrainStageConfig], stage: TrainStageConfig) -> bool:
    """Can `stage` join the chain's run: the same workers, and an init that is either the last stage's weights
    or none of the chain's (whose exports appear only when the run ends)."""
    prev = chain[-1]
    return (stage.num_workers == prev.num_workers and stage.use_gpu == prev.use_gpu
            and (stage.init == prev.output or stage.init not in {s.output for s in chain}))


def _starts_afresh(chain: list[TrainStageConfig], i: int) -> bool:
    """Stage i of a chain loads its own init (the first, or one that does not continue the stage before it)."""
    return i == 0 or chain[i].init != chain[i - 1].output


def _inputs(ctx: "RunContext", stage: TrainStageConfig) -> dict[str, Any]:
    """What a stage's export depends on: resolved config, data hashes, and its parent (weights hash)."""
    data = [{"path": p, "sha256": file_sha256(p)} for p in stage.data]
    config = stage.model_dump(mode="json") | {"seed": stage.resolved_seed(ctx.seed)}
    return {"config": config, "data": data}


def _current(ctx: "RunContext", tiny: "Tiny", stage: TrainStageConfig) -> bool:
    done = _read_lineage(Path(ctx.model_path(stage.output)))
    if not done:
        return False
    if stage.init != "tiny" and stage.init in ctx.models:
        parent_dir = Path(ctx.model_path(stage.init))
        if ctx.models[stage.init].trained and not parent_dir.is_dir():
            return False  # its parent is not trained (yet): it will be, and this stage after it
    return done.get("fingerprint") == _fingerprint(_inputs(ctx, stage), _parent(ctx, tiny, stage))


def _fingerprint(inputs: dict[str, Any], parent: dict[str, Any]) -> str:
    """What a stage's lineage records and a rerun compares: its inputs and its parent as known before training."""
    return _sha256_json(inputs | {"parent": _identity(parent)})


def _identity(parent: dict[str, Any]) -> dict[str, Any]:
    """A parent as fingerprints see it: its id and weights hash, not where it lies. The lineage keeps the path;
    a study copied or moved to another output_dir must still find its exports current."""
    return {k: v for k, v in parent.items() if k != "path"}


def _train_chain(ctx: "RunContext", tiny: "Tiny", chain: list[TrainStageConfig],
                 timings: dict[str, float] | None) -> dict[str, Path]:
    """One TorchTrainer run for the chain; then each stage's export + lineage, in order (a stage's lineage
    hashes its parent's export, written just before it)."""
    inputs = [_inputs(ctx, s) for s in chain]
    # The run's identity: every stage's config and data, and the parent of each stage that starts afresh; the
    # other stages' parents are this run's own outputs.
    fresh = [_identity(_parent(ctx, tiny, s)) for i, s in enumerate(chain) if _starts_afresh(chain, i)]
    identity = {"parent": fresh[0], "stages": inputs} | ({"fresh_parents": fresh[1:]} if len(fresh) > 1 else {})
    result, stats, init_paths = _fit(ctx, tiny, chain, _sha256_json(identity))
    finals = {m["stage_index"]: (ckpt, m) for ckpt, m in (result.best_checkpoints or []) if m.get("final")}
    paths = {}
    for i, stage in enumerate(chain):
        if i not in finals:
            raise StagewiseError(f"training.{stage.name}: the run {result.path} has no final checkpoint for it")
        checkpoint, m = finals[i]
        out = Path(ctx.model_path(stage.output))
        parent = _parent(ctx, tiny, stage)
        fingerprint = _fingerprint(inputs[i], parent)  # before the tiny init's path is added, as _current sees it
        if parent.get("id") == "tiny":
            parent = parent | {"path": str(init_paths[i]), "sha256": _weights_sha256(init_paths[i])}
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        with checkpoint.as_directory() as d:
            shutil.copytree(Path(d) / "hf", tmp)
        lineage = {
            "stage": ctx.models[stage.output].stage,
            "model_id": stage.output,
            "objective": stage.objective,
            "parent": parent,
            "data": inputs[i]["data"],
            "config": inputs[i]["config"],
            "study": ctx.study,
            "code_version": code_version(),
            "fingerprint": fingerprint,
            "data_stats": stats[i],
            "metrics": {
                "final_loss": m["loss"], "steps": m["step"], "tokens": m["tokens"], "wall_s": m["wall_s"],
                "tokens_per_s": m["tokens_per_s"], "step_s_median": m["step_s_median"], "params": m["params"],
                "peak_rss_mb_rank0": m["peak_rss_mb"], "stage_wall_s": m["stage_wall_s"],
                "resumed_from_step": m["resumed_from_step"], "loss_curve": m["history"]["loss"],
                **{f"{c}_curve": m["history"][c] for c in get_objective(stage.objective).curves},
            },
            "run": {"name": Path(result.path).name, "stages": [s.name for s in chain]},
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        lineage["checkpoint_sha256"] = files_sha256(tmp)  # what result rows are keyed by (core.checkpoints)
        (tmp / LINEAGE).write_text(json.dumps(lineage, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
        paths[stage.output] = out
        if timings is not None:
            timings[f"train:{stage.name}"] = round(m["stage_wall_s"], 1)
    return paths


def summary(lineage: dict[str, Any]) -> str:
    """One line per stage for the console."""
    m, s = lineage["metrics"], lineage["data_stats"]
    curve = m["loss_curve"]
    skipped = f", skipped {s['skipped_overlong']} over-long" if s["skipped_overlong"] else ""
    return (f"{lineage['model_id']}: {m['steps']} steps, loss {curve[0]:.3f} -> {curve[-1]:.3f}, "
            f"{m['tokens']:,} tokens, {m['tokens_per_s']:,.0f} tok/s, {m['step_s_median'] or 0:.3f} s/step, "
            f"{s['rows']} rows from {s['samples']} samples{skipped}")


# -----------------------------------------------------------------------------------------------------------


def _fit(ctx: "RunContext", tiny: "Tiny", chain: list[TrainStageConfig], fingerprint: str):
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from transformers import AutoTokenizer

    from stagewise.cluster.env import training_worker_env
    from stagewise.train.prepare import prepare_stage
    from stagewise.train.sources import plan_blocks
    from stagewise.train.stream import run_windows
    from stagewise.train.worker import train_loop

    first = chain[0]
    storage = (ctx.output_dir / "train").resolve()
    run_name = f"{ctx.study}-" + "-".join(s.name for s in chain)
    _forget_stale_run(storage, run_name, fingerprint)
    init_paths: dict[int, Path | str] = {}  # stage index -> the init it loads (the others continue the one before)
    stage_cfgs, all_stats = [], []
    for i, stage in enumerate(chain):
        if _starts_afresh(chain, i):
            init_paths[i] = _init_path(ctx, tiny, stage, storage / (f"{run_name}-init" + (f"-{i}" if i else "")))
            # A continuing stage starts from the previous one's export, which carries this same tokenizer.
            tokenizer = AutoTokenizer.from_pretrained(init_paths[i])
            pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        init_path = init_paths[max(j for j in init_paths if j <= i)]
        seed = stage.resolved_seed(ctx.seed)
        # Rows -> checked, tokenized, packed Parquet blocks (in parallel on the cluster; kept for a resume), then
        # the run's order over them; workers stream their own rows of it (train/stream.py).
        prepared = prepare_stage(stage, tokenizer, str(init_path), plan_blocks(stage.data),
                                 _data_dir(storage, run_name) / f"stage{i}")
        stats = prepared.stats
        rows_per_step = stage.micro_batch_size * stage.grad_accum * stage.num_workers
        total = stage.max_steps or max(1, int(stage.epochs * stats["rows"]) // rows_per_step)
        windows = run_windows(prepared.files, prepared.rows, total * rows_per_step, seed)
        stats["steps"] = total
        all_stats.append(stats)
        if stats["skipped_overlong"]:
            log.warning("train %s: skipped %d over-long samples (first: %s)", stage.name, stats["skipped_overlong"],
                        stats["skipped_examples"][0])
        stage_cfgs.append({"stage": stage.model_dump(mode="json"), "total_steps": total, "seed": seed,
                           "init_path": str(init_paths[i]) if i in init_paths else None,
                           "windows": windows, "pad_id": pad_id, "run_name": f"{ctx.study}-{stage.name}",
                           "wandb_id": f"{ctx.study}-{stage.name}-{fingerprint[:8]}",
                           # W&B groups the run by study and tags it by family and stage (core.wandb_run.start_run)
                           "study": ctx.study, "family": ctx.models[stage.output].family,
                           "model_stage": ctx.models[stage.output].stage})

    cfg = {"stages": stage_cfgs, "wandb": ctx.wandb.model_dump(),
           "wandb_dir": str(ctx.output_dir.resolve())}
    (ctx.output_dir / "wandb").mkdir(parents=True, exist_ok=True)
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=cfg,
        scaling_config=ScalingConfig(num_workers=first.num_workers, use_gpu=first.use_gpu,
                                     resources_per_worker=None if first.use_gpu else {"CPU": 1}),
        torch_config=TorchConfig(backend="nccl" if first.use_gpu else "gloo"),
        run_config=RunConfig(
            name=run_name, storage_path=str(storage),
            worker_runtime_env={"env_vars": training_worker_env(cpu=not first.use_gpu)},
            failure_config=FailureConfig(max_failures=max(s.max_failures for s in chain)),
            # Each stage's final checkpoint (its export) outranks every intermediate one (worker.keep_priority).
            checkpoint_config=CheckpointConfig(
                num_to_keep=max(s.keep_checkpoints for s in chain) + len(chain) - 1,
                checkpoint_score_attribute="keep_priority", checkpoint_score_order="max")),
    )
    result = trainer.fit()
    if result.error:
        raise result.error
    return result, all_stats, init_paths


# The driver checks at most about this many rows before anything starts (~10 s on one idle core): every row of a
# smaller set; of a larger one each source's first block (a wrong layout fails at once), then the blocks in order.
# The data path checks every row as it tokenizes (train/prepare.py, in parallel, before any step), failing with the
# same one line; the driver's check stays seconds whatever the data's size.
DRIVER_CHECK_ROWS = 50_000


def check_stage_inputs(stage: TrainStageConfig) -> None:
    """Fail on what a stage cannot run with (fp16 on CPU, bad data rows) before any cluster or worker starts.
    Streams blocks: the driver never holds the data, and reads at most ~DRIVER_CHECK_ROWS rows of it."""
    from stagewise.train.sources import plan_blocks, read_block

    _check_device(stage)
    objective = get_objective(stage.objective)
    blocks = plan_blocks(stage.data)
    firsts = sorted({b.source: i for i, b in reversed(list(enumerate(blocks)))}.values())
    order = firsts + sorted(set(range(len(blocks))) - set(firsts))
    checked = 0
    for i in order:
        if checked >= DRIVER_CHECK_ROWS:
            break
        for where, rec in read_block(blocks[i]):
            objective.samples(where, rec)
        checked += blocks[i].stop - blocks[i].start


def _check_device(stage: TrainStageConfig) -> None:
    if stage.precision == "fp16" and not stage.use_gpu:
        raise StagewiseError(f"training.{stage.name}.precision: fp16 is not supported on CPU "
                             "(DeepSpeed's CPU accelerator has no fp16); use bf16 or fp32")


def _parent(ctx: "RunContext", tiny: "Tiny", stage: TrainStageConfig) -> dict[str, Any]:
    if stage.init == "tiny":
        return {"id": "tiny", "tiny": _tiny(tiny, stage).model_dump(), "seed": stage.resolved_seed(ctx.seed)}
    path = ctx.model_path(stage.init) if stage.init in ctx.models else stage.init
    if Path(path).is_dir():
        return {"id": stage.init, "path": path, "sha256": _weights_sha256(Path(path))}
    if stage.init in ctx.models and ctx.models[stage.init].trained:
        raise StagewiseError(f"training.{stage.name}.init: model {stage.init!r} is not trained yet "
                             f"({path} is missing); run the stage that outputs it first")
    return {"id": stage.init, "hub": path}


def _tiny(tiny: "Tiny", stage: TrainStageConfig) -> "TinyModelConfig":
    shape = tiny.get(stage.name) if isinstance(tiny, Mapping) else tiny
    if shape is None:
        raise StagewiseError(f"training.{stage.name}.init: tiny, but no `tiny:` model config was given")
    return shape


def _init_path(ctx: "RunContext", tiny: "Tiny", stage: TrainStageConfig, tiny_dir: Path) -> Path | str:
    if stage.init != "tiny":
        if stage.init in ctx.models:
            return ctx.model_path(stage.init)
        local = Path(stage.init).expanduser()
        return str(local.absolute()) if local.exists() else stage.init  # workers have another cwd
    from stagewise.train.tiny import make_tiny_checkpoint

    # Built on the driver, once per run, before any worker starts; deterministic in (data, tiny config, seed).
    texts = get_objective(stage.objective).tokenizer_texts(stage.data)
    return make_tiny_checkpoint(tiny_dir, texts, _tiny(tiny, stage), seed=stage.resolved_seed(ctx.seed))


def _forget_stale_run(storage: Path, run_name: str, fingerprint: str) -> None:
    """Resume only a run of this exact stage config and data: an older run's checkpoints are removed."""
    marker = storage / f"{run_name}.fingerprint"
    if marker.exists() and marker.read_text().strip() != fingerprint:
        log.warning("train %s: config or data changed since the last run; starting over", run_name)
        shutil.rmtree(storage / run_name, ignore_errors=True)
        shutil.rmtree(_data_dir(storage, run_name), ignore_errors=True)
    storage.mkdir(parents=True, exist_ok=True)
    marker.write_text(fingerprint + "\n")


def _data_dir(storage: Path, run_name: str) -> Path:
    """The run's prepared (tokenized, packed) blocks: beside Ray Train's run folder, on the same shared storage."""
    return storage / f"{run_name}-data"


def _read_lineage(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / LINEAGE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _weights_sha256(model_dir: Path) -> str:
    """Hash of a HF dir's weight files (safetensors, else bin), in name order."""
    files = sorted(Path(model_dir).glob("*.safetensors")) or sorted(Path(model_dir).glob("*.bin"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(file_sha256(str(f)).encode())
    return h.hexdigest()


def _sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def code_version() -> str:
    repo = Path(__file__).resolve().parents[1]
    try:
        r = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=repo, capture_output=True, text=True,
                           timeout=10)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import version

    return f"stagewise {version('stagewise')}"
