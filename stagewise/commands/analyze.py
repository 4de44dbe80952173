"""`stagewise analyze`: rates with CIs, paired stage comparisons, the figure, the report and W&B views.

    stagewise analyze runs/demo                                  # a study's output dir (reads its study.yaml)
    stagewise analyze configs/demo.yaml                          # or the study config itself
    stagewise analyze runs/demo analysis.equivalence_margin=0.05 wandb.mode=disabled

A study directory without `study.yaml` (a store copied from elsewhere) is analysed with the default
`analysis:` and `wandb:` sections, overridable with `analysis.*=` / `wandb.*=`, and the models and stages
found in the store, ordered by stage.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from stagewise.core.errors import StagewiseError

STUDY_FILE = "study.yaml"


def analyze_command(
    target: str = typer.Argument(..., help="A study output directory, or a study config YAML.", show_default=False),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. analysis.equivalence_margin=0.05",
                                                    show_default=False),
) -> None:
    """Analyse a study's result store: summary.csv, comparisons.csv, figure, report.md/html, W&B runs."""
    from stagewise.analysis.analyze import analyze_store
    from stagewise.config import load_study
    from stagewise.run import analyze as analyze_study
    from stagewise.run import refresh_metrics

    path = Path(target)
    if path.is_dir() and (path / STUDY_FILE).is_file():
        outputs = analyze_study(load_study(path / STUDY_FILE, overrides or []), output_dir=path)
    elif path.is_dir():
        cfg, wandb_settings = _defaults_with_overrides(overrides or [])
        outputs = analyze_store(path / "results", path / "report", cfg, study_name=path.resolve().name,
                                wandb_settings=wandb_settings, wandb_dir=path, notes=refresh_metrics(path / "results"))
    elif path.is_file():
        outputs = analyze_study(load_study(path, overrides or []))
    else:
        raise StagewiseError(f"{path}: no such study directory or config file")
    for note in outputs.notes:
        typer.echo(f"note: {note}")
    alpha = 1 - outputs.config.confidence
    for a, b in outputs.pairs:
        mine = [r for r in outputs.statistics.comparisons.to_pylist() if (r["model_a"], r["model_b"]) == (a, b)]
        equivalent = sum(r["equivalent"] for r in mine)
        different = sum(r["p_holm"] < alpha for r in mine if r["p_holm"] == r["p_holm"])
        typer.echo(f"{a} -> {b}: equivalent on {equivalent}/{len(mine)} metrics, different on {different}")
    pooled = outputs.headline_pooled.to_pylist() if outputs.headline_pooled is not None else []
    if pooled and outputs.config.headline:
        a, b = outputs.config.headline
        different = sum(r["p_holm"] < alpha for r in pooled if r["p_holm"] == r["p_holm"])
        typer.echo(f"headline {a} -> {b}, pooled across families ({pooled[0]['families']}): equivalent on "
                   f"{sum(r['equivalent'] for r in pooled)}/{len(pooled)} metrics, different on {different}")
    for p in (outputs.summary_csv, outputs.comparisons_csv, outputs.headline_csv, outputs.figure_png, outputs.report_md,
              outputs.report_html):
        typer.echo(f"wrote {p}")
    if outputs.wandb is not None:
        where = outputs.wandb.report_url or outputs.wandb.report_spec
        typer.echo(f"W&B: {len(outputs.wandb.run_dirs)} runs; comparison report -> {where}")


def _defaults_with_overrides(overrides: list[str]):
    """AnalysisConfig and W&B settings from defaults plus `analysis.*` / `wandb.*` overrides (no study config)."""
    from pydantic import ValidationError

    from stagewise.analysis.config import AnalysisConfig
    from stagewise.config import apply_override, validation_error_line
    from stagewise.core.wandb_run import WandbSettings

    raw: dict = {}
    for ov in overrides:
        apply_override(raw, ov)
    unknown = [k for k in raw if k not in ("analysis", "wandb")]
    if unknown:
        raise StagewiseError(f"override {unknown[0]}: without {STUDY_FILE} only analysis.* and wandb.* apply")
    sections = {}
    for name, model in (("analysis", AnalysisConfig), ("wandb", WandbSettings)):
        try:
            sections[name] = model.model_validate(raw.get(name, {}))
        except ValidationError as e:
            raise StagewiseError(f"override {validation_error_line(e, raw, prefix=(name,))}") from None
    return sections["analysis"], sections["wandb"]


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze_command)
