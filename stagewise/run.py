"""The study layer's steps: each stage called with its own config section and the study's `RunContext`.

    study = load_study("configs/demo.yaml")
    run_study(study)                          # train -> serve -> eval -> analyze, resuming what is done

This is the only code (with `config`, `plan` and `commands/`) that knows a whole study; each function is the
few lines that hand a stage its section. Each step reads the previous step's files and skips what is
complete, so rerunning after a crash resumes. Per-step wall times are printed at the end and saved to
`<output_dir>/report/timings.json`.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ray.actor import ActorHandle

    from stagewise.analysis.analyze import AnalysisOutputs
    from stagewise.config import Study
    from stagewise.evaluate.config import EvalConfig
    from stagewise.serve.client import ServedApp
    from stagewise.train.config import TrainStageConfig

STEPS = ("train", "serve", "eval", "analyze")


def check_inputs(study: "Study", until: str = "analyze") -> None:
    """Every input file and given checkpoint is read or found before any cluster starts: a bad row fails in
    seconds with its file and row, not after an hour of training."""
    from stagewise.serve.app import check_sources
    from stagewise.train.run import check_stage_inputs

    for stage in study.training:
        check_stage_inputs(stage)
    check_sources({m.id: m.source for m in study.models if m.source is not None})
    if until != "train":
        from stagewise.evaluate.pipeline import check_inputs as check_eval_inputs

        study.serving.check_exposure()  # a keyless non-loopback host fails now, not after training
        check_eval_inputs(study.evaluation)


def train(study: "Study", stages: "list[TrainStageConfig] | None" = None,
          timings: dict[str, float] | None = None) -> dict[str, Path]:
    """Train `stages` (default: all) in a running Ray cluster; model id -> exported HF dir. Every model family's
    stages go in one `run_stages` call (one Ray Train run where the workers match), each `init: tiny` stage with
    its family's shape (`families:` in the study config)."""
    from stagewise.train.run import run_stages

    stages = study.training if stages is None else stages
    tiny = {s.name: study.tiny_for(study.family_of(s.output)) for s in stages}
    return run_stages(stages, study.context(), tiny, timings)


def sized_eval_pools(cfg: "EvalConfig") -> "EvalConfig":
    """The eval section with its actor pools cut to the CPUs free beside the engines (`preflight.size_eval_pools`),
    saying so when it cut them."""
    from stagewise import preflight

    sized = preflight.size_eval_pools(cfg, preflight.free_capacity())
    if sized is not cfg:
        typer.echo(f"   eval actors sized to the free CPUs: {sized.policy_actors} policy, {sized.grader_actors} "
                   f"grader (configured {cfg.policy_actors}, {cfg.grader_actors})")
    return sized


def served_models(study: "Study", only: list[str] | None = None) -> dict[str, str]:
    """Model id -> weights for every model of the study (policies, judges, writers): one app serves them all;
    `only`: just these (a serving wave, stagewise/waves.py)."""
    return {m.id: study.model_path(m.id) for m in study.models if only is None or m.id in only}


@contextmanager
def serving(study: "Study", deployer: "ActorHandle | None" = None,
            only: list[str] | None = None) -> Iterator["ServedApp"]:
    """The study's models (`only`: these) served for the duration of the block (inside `cluster.local.ray_cluster`)."""
    from stagewise.serve.app import served_app

    with served_app(served_models(study, only), study.serving, deployer=deployer) as app:
        yield app


def evaluate(study: "Study", served: "ServedApp", *, progress: bool = True, cfg: "EvalConfig | None" = None) -> Path:
    """`cfg`: the evaluation section with its actor pools sized to the cluster (`preflight.size_eval_pools`)."""
    from stagewise.evaluate.pipeline import run_evaluation

    return run_evaluation(cfg or study.evaluation, study.context(), served, progress=progress)


def analyze(study: "Study", output_dir: str | Path | None = None) -> "AnalysisOutputs":
    """`analyze_store` on the study's store; `output_dir` overrides `study.output_dir` (a moved or copied study)."""
    from stagewise.analysis.analyze import analyze_store

    out = Path(output_dir if output_dir is not None else study.output_dir)
    notes = refresh_metrics(out / "results") + leakage_notes(study, out / "report")
    notes += calibrate_graders(study, out / "report")
    return analyze_store(out / "results", out / "report", study.analysis,
                         model_order=[m.id for m in study.models], stages={m.id: m.stage for m in study.models},
                         study_name=study.name, wandb_settings=study.wandb, wandb_dir=out, notes=notes,
                         families={m.id: m.family for m in study.models})


def refresh_metrics(results_dir: Path) -> list[str]:
    """Stored rows graded under older metric definitions re-derived from their facts (`evaluate.facts`), before
    the analysis reads them; the report lines that say so."""
    if not (results_dir / "grades").is_dir():
        return []  # nothing evaluated: the analysis says so itself
    from stagewise.evaluate.facts import refresh_metrics as refresh
    from stagewise.evaluate.store import ResultStore

    return [f"metrics of {n} stored {bench} rows re-derived from their facts with today's definitions"
            for bench, n in sorted(refresh(ResultStore(results_dir)).items())]


def calibrate_graders(study: "Study", report_dir: Path) -> list[str]:
    """Each configured rule-based refusal grader against the embedded held-out reference labels (`stagewise
    calibrate`): `report/calibration/<autorater>.json`, which the report shows beside the rates it produced.
    LLM judges need their served model: calibrate them with `stagewise calibrate <judge> --endpoint ... --out`."""
    from stagewise.commands.calibrate import calibration_of, write_calibration
    from stagewise.evaluate.calibration import fits_reference
    from stagewise.evaluate.pipeline import autorater_settings
    from stagewise.evaluate.registry import get_autorater

    notes = []
    for name in autorater_settings(study.evaluation):
        if get_autorater(name).kind == "rules" and fits_reference(name):
            cal = calibration_of(name)
            write_calibration(cal, report_dir)
            notes.append(f"calibration: {name} agrees with {cal['reference']} on the refusal decision in "
                         f"{cal['binary_accuracy']:.1%} of {cal['n']} rows (Cohen's kappa {cal['binary_kappa']:.2f})")
    return notes


def leakage_notes(study: "Study", report_dir: Path) -> list[str]:
    """The leakage check (`stagewise data leakage`) of every benchmark against all of the study's local training
    data: `leakage.csv` (every item's longest shared run of words) and one report line per benchmark."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from stagewise.evaluate.leakage import FLAG_WORDS, TrainingIndex, item_text, training_texts
    from stagewise.evaluate.registry import get_benchmark

    files = list(dict.fromkeys(p for stage in study.training for p in stage.data))
    local = [p for p in files if Path(p).is_file()]
    if not local or not study.evaluation.benchmarks:
        return []
    index = TrainingIndex(training_texts(local))
    rows, notes = [], []
    for b in study.evaluation.benchmarks:
        found = [(i["item_id"], index.longest_shared(item_text(i))) for i in get_benchmark(b.name).read(b.path, b.limit).items]
        rows += [{"benchmark": b.name, "item_id": i, "shared_words": r.words, "shared_text": r.text} for i, r in found]
        flagged = sum(r.words >= FLAG_WORDS for _, r in found)
        longest = max((r for _, r in found), key=lambda r: r.words)
        notes.append(f"leakage: {b.name}: {flagged}/{len(found)} items share a run of >= {FLAG_WORDS} words with the "
                     f"training data (longest {longest.words}: \"{longest.text}\"); every item in leakage.csv")
    skipped = [p for p in files if p not in local]
    if skipped:
        notes.append(f"leakage: not checked against {', '.join(skipped)} (not local files)")
    report_dir.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(pa.Table.from_pylist(rows), report_dir / "leakage.csv")
    return notes


@contextmanager
def _timed(timings: dict[str, float], name: str):
    start = time.perf_counter()
    typer.secho(f"== {name}", bold=True)
    try:
        yield
    finally:
        timings[name] = round(time.perf_counter() - start, 1)


def run_study(study: "Study", until: str = "analyze") -> dict[str, float]:
    """The whole study: train -> serve -> eval -> analyze (stop after `until`); returns wall seconds per step."""
    from stagewise.cluster.local import ray_cluster
    from stagewise.config import dump_study

    out = Path(study.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.yaml").write_text(dump_study(study))
    timings: dict[str, float] = {}
    total_start = time.perf_counter()
    with ray_cluster(study.cluster) as cluster:
        from stagewise import preflight
        from stagewise.serve.placement import live_cluster_has_gpus
        from stagewise.waves import study_waves

        # What each stage will ask Ray for, against the whole cluster: a study that cannot be placed fails now, in
        # seconds, naming the shortfall, instead of waiting silently for resources that never come (issue 24).
        demands = preflight.study_demands(study, live_cluster_has_gpus())
        preflight.check_study(demands, preflight.cluster_capacity(), until)
        deployer = None
        if until != "train":
            from stagewise.serve.deployer import start_deployer

            # Started now, it imports Ray Serve LLM and vLLM (~17 CPU-s) on the core the driver's training prep
            # (tokenizing, the tiny init) leaves idle, instead of between training and serving (serve/deployer.py).
            deployer = start_deployer()
        trained: dict[str, float] = {}
        with _timed(timings, "train"):
            for d in demands.training:  # what is free now: a joined cluster may be running other work
                preflight.check_free("training", [d], d.hint)
            paths = train(study, timings=trained)
        for stage in study.training:
            typer.echo(f"   {stage.output} -> {paths[stage.output]}")
        # One chained run trains the stages: `train` is its wall time; `train:<stage>` each stage's part of it
        # as rank 0 measured (the first includes worker start-up), the rest is the driver's start and exports.
        timings |= trained
        # All checkpoints at once, or in waves when they do not fit the GPUs together (stagewise/waves.py).
        waves = study_waves(study, live_cluster_has_gpus()) if until != "train" else []
        for i, wave in enumerate(waves, 1):
            step = "" if len(waves) == 1 else f":wave{i}"
            if step:
                typer.echo(f"   wave {i}/{len(waves)}: {', '.join(wave.policies)} + judges {', '.join(wave.judges) or '-'}")
            with _timed(timings, "serve:start" + step):
                preflight.check_free("serving + evaluation", demands.serving[min(i, len(demands.serving)) - 1]
                                     + demands.evaluation, preflight.SERVE_HINT)
                # The deployer actor is spent by its first app (serve.app.start_app kills it); later waves start one.
                served = serving(study, deployer if i == 1 else None, only=wave.models() if step else None)
                app = served.__enter__()
            if cluster["embedded"] and cluster.get("session_dir"):  # its Serve logs go to files only (cluster/local.py)
                typer.echo(f"   serving logs -> {Path(cluster['session_dir']) / 'logs' / 'serve'}")
            try:
                with _timed(timings, "eval" + step):
                    eval_cfg = sized_eval_pools(study.evaluation)
                    if step:
                        eval_cfg = eval_cfg.model_copy(update={"models": wave.policies})
                    results = evaluate(study, app, cfg=eval_cfg)
            finally:
                served.__exit__(None, None, None)
            typer.echo(f"   results -> {results}")
    if until == "analyze":
        with _timed(timings, "analyze"):
            report = analyze(study)
        typer.echo(f"   report -> {report}")
    timings["total"] = round(time.perf_counter() - total_start, 1)
    (out / "report").mkdir(parents=True, exist_ok=True)
    (out / "report" / "timings.json").write_text(json.dumps(timings, indent=2))
    typer.secho("\nwall time per step (s)", bold=True)
    for name, secs in timings.items():
        part = name.startswith("train:")  # a part of `train` above it, not a step of its own
        typer.echo(f"  {'  ' + name if part else name:<24}{secs:>8.1f}")
    typer.echo(f"\noutputs: {out.resolve()}")
    return timings
