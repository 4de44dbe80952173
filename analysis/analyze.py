"""From a result store to the study's report: the whole `stagewise analyze` in one call.

    outputs = analyze_store("runs/demo/results", "runs/demo/report", AnalysisConfig(),
                            model_order=["base", "sft", "production"], study_name="demo")
    outputs = stagewise.run.analyze(load_study("configs/demo.yaml"))   # the same, for a study (study layer)

Writes into `report_dir`: summary.csv (model x benchmark x metric), comparisons.csv (pair x benchmark x
metric), headline.csv + headline_pooled.csv (SFT-only vs production per model family, pooled across families:
analysis/headline.py), disagreements.csv, figure.png/svg, report.md/html; then, if `wandb_settings` is given and its
mode is not "disabled", the W&B runs under `<wandb_dir>/wandb/` (default: the report dir's parent, i.e.
the study's output dir). A W&B failure is reported in `outputs.notes`, never fatal: the report comes first.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from stagewise.analysis.config import AnalysisConfig
from stagewise.analysis.figure import draw_family_figure, save_figure
from stagewise.analysis.headline import headline_pairs, headline_table, pooled_table
from stagewise.analysis.report import attach_responses, find_disagreements, write_report
from stagewise.analysis.trajectories import write_trajectory_examples
from stagewise.analysis.store import load_graded_values
from stagewise.analysis.summary import Statistics, compute_statistics
from stagewise.analysis.wandb_views import WandbOutputs
from stagewise.core.wandb_run import WandbSettings
from stagewise.core.errors import StagewiseError
from stagewise.evaluate.schema import POSITION_METRIC

log = logging.getLogger(__name__)

# Without a study config, models are ordered by their stage's place in training, then by name.
STAGE_ORDER = ("base", "pretrain", "pretrained", "sft", "dpo", "rlhf", "production")


@dataclass
class AnalysisOutputs:
    summary_csv: Path
    comparisons_csv: Path
    disagreements_csv: Path
    figure_png: Path
    figure_svg: Path
    report_md: Path
    report_html: Path
    statistics: Statistics
    config: AnalysisConfig
    model_order: list[str]
    pairs: list[tuple[str, str]]
    headline_csv: Path | None = None
    headline_pooled_csv: Path | None = None
    headline: pa.Table | None = None
    headline_pooled: pa.Table | None = None
    families: dict[str, str | None] = field(default_factory=dict)  # model -> its family (None: no family)
    wandb: WandbOutputs | None = None
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return str(self.report_md.parent)


def analyze_store(results_dir: str | Path, report_dir: str | Path, cfg: AnalysisConfig | None = None, *,
                  model_order: list[str] | None = None, stages: dict[str, str] | None = None,
                  study_name: str = "study", wandb_settings: WandbSettings | None = None,
                  wandb_dir: str | Path | None = None, notes: list[str] | None = None,
                  families: dict[str, str | None] | None = None) -> AnalysisOutputs:
    """`notes`: lines the caller adds to the report (the study's leakage check). `families`: model id -> its
    model family (the study's `families:`); without it every model is of one family."""
    cfg = cfg or AnalysisConfig()
    results_dir, report_dir = Path(results_dir), Path(report_dir)
    graded = load_graded_values(results_dir)
    notes = [*(notes or []), *graded.notes]
    for model, stage in (stages or {}).items():
        if model in graded.stages and graded.stages[model] != stage:
            notes.append(f"model {model!r} is stage {stage!r} in the study config but {graded.stages[model]!r} "
                         "in the store; the store's stage is used")
    order = resolve_model_order(graded.stages, model_order)
    families = {m: (families or {}).get(m) for m in order}
    heads = headline_pairs(order, graded.stages, families, cfg.headline)
    pairs = study_pairs(cfg, order, graded.stages, families, graded.source)
    pairs += [(a, b) for _, a, b in heads if (a, b) not in pairs]  # the headline is a comparison of its own
    stats = compute_statistics(graded, cfg, order, pairs)
    notes += stats.notes + position_bias_notes(stats.summary.to_pylist())

    report_dir.mkdir(parents=True, exist_ok=True)
    summary_csv, comparisons_csv = report_dir / "summary.csv", report_dir / "comparisons.csv"
    pacsv.write_csv(stats.summary, summary_csv)
    pacsv.write_csv(stats.comparisons, comparisons_csv)
    headline = headline_table(stats.comparisons, heads, graded.stages)
    pooled = pooled_table(headline, heads, cfg)
    headline_csv, pooled_csv = report_dir / "headline.csv", report_dir / "headline_pooled.csv"
    pacsv.write_csv(headline, headline_csv)
    pacsv.write_csv(pooled, pooled_csv)
    png, svg = save_figure(draw_family_figure(stats.summary, order, families, cfg.confidence), report_dir)
    disagreements = attach_responses(results_dir, find_disagreements(graded, pairs, cfg), stats, cfg)
    disagreements_csv = report_dir / "disagreements.csv"
    pacsv.write_csv(disagreements, disagreements_csv)
    trajectories = write_trajectory_examples(results_dir, graded, report_dir / "trajectories", cfg.trajectory_examples)
    md, html = write_report(report_dir, stats, disagreements, study_name=study_name, cfg=cfg, model_order=order,
                            stages=graded.stages, source=str(graded.source), rows=graded.rows, notes=notes,
                            figure=png.name, families=families, headline=headline, headline_pooled=pooled,
                            trajectories=trajectories)
    outputs = AnalysisOutputs(summary_csv, comparisons_csv, disagreements_csv, png, svg, md, html, stats, cfg,
                              order, pairs, headline_csv, pooled_csv, headline, pooled, families, notes=notes)
    if wandb_settings is not None and wandb_settings.mode != "disabled":
        from stagewise.analysis.wandb_views import log_study

        try:
            outputs.wandb = log_study(stats, settings=wandb_settings,
                                      wandb_dir=Path(wandb_dir) if wandb_dir else report_dir.parent,
                                      results_dir=results_dir, study_name=study_name, model_order=order,
                                      stages=graded.stages, cfg=cfg, figure_png=png, families=families)
        except Exception as e:  # W&B is a view of the results, never a requirement for them
            log.warning("W&B logging failed: %s", e)
            outputs.notes.append(f"W&B logging failed: {type(e).__name__}: {e}")
    return outputs


POSITION_FLAG = 0.9  # one letter in this share of the parsed answers: the choices are explained by position


def position_bias_notes(summary: list[dict]) -> list[str]:
    """Per model and benchmark with lettered options, the share of answers naming A and B and of unparseable
    ones; flagged when one letter covers POSITION_FLAG or more of them (on a balanced set such a model's
    misaligned rate is ~50% by construction, not by judgement)."""
    notes = []
    for r in summary:
        if r["metric"] != POSITION_METRIC or not r["n"]:
            continue
        a = r["rate"]
        line = (f"position: {r['model']} on {r['benchmark']} ({r['autorater']}) named A in {a:.0%} and B in "
                f"{1 - a:.0%} of {r['n']} parsed answers; {r['unscored']} unparseable")
        if max(a, 1 - a) >= POSITION_FLAG:
            line += (f" — FLAG: its choices are explained by option position alone, so its {r['benchmark']} "
                     "rates say little about alignment")
        notes.append(line)
    return notes


def resolve_model_order(store_stages: dict[str, str], model_order: list[str] | None) -> list[str]:
    """The study's order for the models it has in the store; others after, by stage then name."""
    given = [m for m in (model_order or []) if m in store_stages]
    rest = sorted((m for m in store_stages if m not in given), key=lambda m: (_stage_rank(store_stages[m]), m))
    return given + rest


def resolve_pairs(configured: list[tuple[str, str]], order: list[str], source: Path) -> list[tuple[str, str]]:
    """The configured pairs, or each model against the next one in stage order."""
    if not configured:
        return list(zip(order, order[1:]))
    for a, b in configured:
        for m in (a, b):
            if m not in order:
                raise StagewiseError(f"analysis.comparisons: model {m!r} has no graded rows in {source} "
                                     f"(models there: {', '.join(order)})")
    return [tuple(p) for p in configured]


def study_pairs(cfg: AnalysisConfig, order: list[str], stages: dict[str, str], families: dict[str, str | None],
                source: Path) -> list[tuple[str, str]]:
    """The configured model pairs; else `cfg.stage_comparisons` inside every family (each model of stage a with
    each of stage b); else consecutive models of each family in model order. Never across families unasked:
    the study config refuses a cross-family pair unless `analysis.cross_family` is set."""
    if cfg.comparisons:
        return resolve_pairs(cfg.comparisons, order, source)
    pairs: list[tuple[str, str]] = []
    for family in dict.fromkeys(families.get(m) for m in order):
        mine = [m for m in order if families.get(m) == family]
        if cfg.stage_comparisons:
            pairs += [(a, b) for sa, sb in cfg.stage_comparisons for a in mine if stages.get(a) == sa
                      for b in mine if stages.get(b) == sb]
        else:
            pairs += list(zip(mine, mine[1:]))
    return list(dict.fromkeys(pairs))


def _stage_rank(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


def read_csv(path: Path) -> pa.Table:
    """Read back one of the CSVs written here (tests and downstream tools)."""
    return pacsv.read_csv(path)
