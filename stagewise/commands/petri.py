"""`stagewise petri-convert`: Petri seed files -> single-prompt `dilemmas` items, written by a served model.

    stagewise petri-convert --out data/dilemmas.jsonl --writer writer --config configs/study.yaml   # Petri's own seeds
    stagewise petri-convert seeds/ --out data/dilemmas.jsonl --writer writer --endpoint http://127.0.0.1:8000/v1

With --config the study's Serve app is started (the writer is any model id in it, e.g. one with
`role: writer`); with --endpoint an app that is already serving is used. The writer calls go through the
evaluation's Ray Data policy actors. Without a folder the seeds are the installed inspect-petri's defaults.
Each kept seed becomes two items (one scenario in both option orders, the format of the embedded `dilemmas`
set); rejected writer outputs are counted by reason; seeds whose output never validates are listed in
`<out>.failures.jsonl` and the command exits 1; `stagewise data inspect petri-seeds [dir]` shows what
would be kept without calling a model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from stagewise.core.errors import StagewiseError


def petri_convert_command(
    seeds_dir: Optional[str] = typer.Argument(None, help="Folder of Petri seed files (*.md, YAML front matter with tags); "
                                              "default: the installed inspect-petri's seeds.", show_default=False),
    out: Path = typer.Option(..., help="Where to write the dilemma items (JSONL).", show_default=False),
    writer: str = typer.Option(..., help="Model id of the scenario writer in the Serve app.", show_default=False),
    config: Optional[str] = typer.Option(None, help="Study config whose Serve app serves the writer."),
    endpoint: Optional[str] = typer.Option(None, help="OpenAI base URL of a Serve app already serving the writer."),
    api_key: Optional[str] = typer.Option(None, envvar="STAGEWISE_API_KEY", help="Its API key, if it needs one."),
    attempts: int = typer.Option(3, min=1, help="Writer calls per seed before it is reported as failed."),
    max_tokens: int = typer.Option(1024, min=16, help="Longest writer output."),
    temperature: float = typer.Option(0.7, min=0.0, help="Writer sampling temperature."),
    seed: Optional[int] = typer.Option(None, help="Sampling seed of the first attempt (default: the study seed, else 0)."),
) -> None:
    """Convert Petri seeds into single-prompt alignment dilemmas with a served scenario-writer model."""
    from stagewise.evaluate.petri import filter_seeds, read_seeds, write_report

    if not config and not endpoint:
        raise StagewiseError("petri-convert: give --config (a study serving the writer) or --endpoint")
    report = filter_seeds(read_seeds(seeds_dir))
    for line in report.lines():
        typer.echo(line)
    if not report.kept:
        raise StagewiseError(f"{seeds_dir or 'inspect-petri'}: no seed has a dilemma tag; nothing to convert")

    from stagewise.cluster.local import ray_cluster

    study = None
    if config:
        from stagewise.config import load_study

        study = load_study(config)
        if writer not in [m.id for m in study.models]:
            raise StagewiseError(f"{config}: --writer {writer!r} is not a model id of the study")
    first_seed = seed if seed is not None else (study.seed if study else 0)
    with ray_cluster(study.cluster if study else None):
        if endpoint:
            from stagewise.serve.app import existing_app

            served = existing_app(endpoint, api_key)
            if writer not in served.model_ids:
                raise StagewiseError(f"--writer {writer!r} is not served at {endpoint} (serves: {', '.join(served.model_ids)})")
            result = _convert(report.kept, served, study, writer, attempts, first_seed, temperature, max_tokens)
        else:
            from stagewise.run import serving

            with serving(study) as served:
                result = _convert(report.kept, served, study, writer, attempts, first_seed, temperature, max_tokens)
    fail_path = write_report(result, out)
    for line in result.lines():
        typer.echo(line)
    typer.echo(f"items written to {out}")
    if result.failures:
        typer.echo(f"failed: {len(result.failures)} seeds after {attempts} attempts each, listed in {fail_path}:", err=True)
        for f in result.failures:
            typer.echo(f"  {f.seed_id}: {f.errors[-1] if f.errors else 'no output'}", err=True)
        raise typer.Exit(1)


def _convert(kept, served, study, writer, attempts, first_seed, temperature, max_tokens):
    from stagewise.evaluate.petri import convert, ray_data_generate

    if study is not None:
        from stagewise.evaluate.pipeline import serve_client

        cfg = study.evaluation
        gen = ray_data_generate(serve_client(cfg, served, [writer], study.context()), writer, batch_size=cfg.batch_size,
                                num_cpus=cfg.actor_num_cpus)
    else:  # no study: no tokenizer at hand, so one chat request per seed
        from stagewise.serve.client import ServeClient

        gen = ray_data_generate(ServeClient(served.base_url, served.api_key), writer)
    return convert(kept, gen, attempts=attempts, seed=first_seed, temperature=temperature, max_tokens=max_tokens)


def register(app: typer.Typer) -> None:
    app.command("petri-convert")(petri_convert_command)
