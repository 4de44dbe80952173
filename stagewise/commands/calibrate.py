"""`stagewise calibrate`: how far each grader can be trusted, measured.

    stagewise calibrate refusal-rules                               # the embedded held-out set (written for this project)
    stagewise calibrate refusal-rules xstest_v2_completions_*.csv --json   # XSTest's human-labelled completions
    stagewise calibrate xstest-judge labels.csv --endpoint http://127.0.0.1:8000/v1 --judge-model judge
    stagewise calibrate judges gpt.csv claude.csv                   # two judges' 0-5 score tables (ODCV's format)
    stagewise calibrate swap runs/demo refusal-rules xstest-judge   # re-grade a study's responses with another judge

Against reference labels: accuracy, Cohen's kappa with a 95% CI (analytic SE), the confusion matrix on the
grader's own classes, the same collapsed to the decision the study's metrics use (refusal, full or partial, vs
compliance) and a breakdown by category (`type`). `--out DIR` stores it as `DIR/calibration/<autorater>.json` with
the autorater's version; a study's analysis writes the same for its rule-based graders into its report.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from stagewise.core.errors import StagewiseError


class _LabelsByDefault(TyperGroup):
    """`stagewise calibrate <autorater> ...` runs `labels`; `judges` and `swap` are subcommands."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["labels", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(cls=_LabelsByDefault, no_args_is_help=True,
                  help="Grader quality: agreement with reference labels, between judges, and judge swaps.")


# -- against reference labels -------------------------------------------------------------------------------


def calibration_of(rater_name: str, paths: list[str] | None = None, rater_kwargs: dict[str, Any] | None = None,
                   client: Any = None) -> dict[str, Any]:
    """An autorater graded on reference labels (default: the embedded held-out set): one JSON-able dict."""
    from stagewise.analysis.agreement import calibration_summary
    from stagewise.evaluate.calibration import (EMBEDDED_CALIBRATION, compared_classes, fits_reference,
                                                grade_reference, is_refusal, read_reference)
    from stagewise.evaluate.registry import get_autorater

    rater = get_autorater(rater_name, **(rater_kwargs or {}))
    if not fits_reference(rater_name):
        raise StagewiseError(f"autorater {rater_name} does not judge refusal; the XSTest-format reference labels "
                             "calibrate the graders xstest lists (refusal-rules, xstest-judge, wildguard-judge)")
    rater.check()
    ref = read_reference(paths or [EMBEDDED_CALIBRATION])
    graded = grade_reference(ref, rater, client)
    classes, mapping = compared_classes(rater_name)
    summary = calibration_summary([mapping[g["reference"]] for g in graded], [g["predicted"] for g in graded],
                                  labels=classes, binary=is_refusal, categories=[g["category"] for g in graded])
    return {
        "autorater": rater_name, "autorater_version": rater.version, "reference": ref.label, "sources": ref.sources,
        "rows": len(graded), "unscored": sum(g["predicted"] is None for g in graded),
        "binary_decision": "refusal (full or partial) vs compliance",
        **summary,
        "by_model": _by_model(graded, mapping, classes),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _by_model(graded: list[dict], mapping: dict[str, str], classes: tuple[str, ...]) -> dict[str, Any]:
    from stagewise.analysis.agreement import rate
    from stagewise.evaluate.calibration import is_refusal

    out = {}
    for model in sorted({g["model"] for g in graded}):
        mine = [g for g in graded if g["model"] == model and g["predicted"] in classes]
        agree = sum(is_refusal(mapping[g["reference"]]) == is_refusal(g["predicted"]) for g in mine)
        out[model] = {"binary_accuracy": rate(agree, len(mine)).as_dict()}
    return out


def jsonable(x: Any) -> Any:
    """NaN (an undefined kappa) as null: the JSON printed and stored is strict JSON."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


def write_calibration(result: dict[str, Any], out_dir: str | Path) -> Path:
    """`<out_dir>/calibration/<autorater>.json` (the version inside; a new version replaces the file)."""
    from stagewise.analysis.report import CALIBRATION_DIR  # where the report looks for it

    folder = Path(out_dir) / CALIBRATION_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result['autorater']}.json"
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(jsonable(result), indent=2) + "\n")
    tmp.replace(path)
    return path


def _ci(x: list[float]) -> str:
    return "[" + ", ".join("–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}" for v in x) + "]"


def print_calibration(r: dict[str, Any]) -> None:
    typer.echo(f"{r['autorater']} ({r['autorater_version']}) vs {r['reference']}")
    typer.echo(f"  n {r['n']} (of {r['rows']} rows; {r['unscored']} unscored, not counted)")
    typer.echo(f"  accuracy {r['accuracy']:.3f} {_ci(r['accuracy_ci'])} (wilson); Cohen's kappa {r['kappa']:.3f} "
               f"{_ci(r['kappa_ci'])} (analytic SE)")
    typer.echo(f"  binary ({r['binary_decision']}): accuracy {r['binary_accuracy']:.3f} {_ci(r['binary_accuracy_ci'])}, "
               f"kappa {r['binary_kappa']:.3f} {_ci(r['binary_kappa_ci'])}, recall {r['binary_recall']:.3f}, "
               f"precision {r['binary_precision']:.3f}")
    width = max(len(c) for c in r["labels"])
    typer.echo("  confusion (rows: reference, columns: " + r["autorater"] + ")")
    typer.echo("    " + " " * width + "  " + "  ".join(f"{c[:16]:>16}" for c in r["labels"]))
    for label, row in zip(r["labels"], r["confusion"]):
        typer.echo(f"    {label:<{width}}  " + "  ".join(f"{v:>16}" for v in row))
    typer.echo("  by category: binary accuracy (n)")
    for cat, c in r["by_category"].items():
        typer.echo(f"    {cat:<28} {c['binary_accuracy']:.3f} ({c['n']})")


@app.command("labels")
def labels_command(
    autorater: str = typer.Argument(..., help="A registered refusal grader: refusal-rules, xstest-judge, wildguard-judge."),
    paths: Optional[list[str]] = typer.Argument(None, help="Reference files or folders (XSTest completions or "
                                                "prompt,response,label); none: the embedded held-out set."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    out: Optional[str] = typer.Option(None, "--out", help="Also store it as <out>/calibration/<autorater>.json."),
    endpoint: Optional[str] = typer.Option(None, help="OpenAI base URL serving the judge model (LLM judges)."),
    judge_model: Optional[str] = typer.Option(None, help="The judge's model id at --endpoint."),
    api_key: Optional[str] = typer.Option(None, envvar="STAGEWISE_API_KEY", help="The endpoint's API key, if any."),
) -> None:
    """Agreement of an autorater with reference labels (the default command: `stagewise calibrate <autorater>`)."""
    from stagewise.commands.grade import judge_client

    kwargs, client = judge_client(autorater, endpoint, judge_model, api_key)
    result = calibration_of(autorater, paths or None, kwargs, client)
    stored = write_calibration(result, out) if out else None
    if as_json:
        typer.echo(json.dumps(jsonable(result)))
    else:
        print_calibration(result)
        if stored:
            typer.echo(f"wrote {stored}")


# -- judge vs judge on score tables ------------------------------------------------------------------------


def judges_agreement(paths: list[str], threshold: float = 3, resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Every pair of judges' score tables (same rows and columns): exact, within one, decision, alpha (ordinal)."""
    from stagewise.analysis.agreement import score_agreement

    try:
        from stagewise.evaluate.odcv.scores import read_score_table
    except ImportError:
        raise StagewiseError("score tables need stagewise.evaluate.odcv.scores (ODCV's reader), not installed here") from None
    tables = [(Path(p).stem, read_score_table(p)) for p in paths]
    if len(tables) < 2:
        raise StagewiseError("calibrate judges: give two or more score tables (one file per judge)")
    cells = {name: _cells(t) for name, t in tables}
    out = {"threshold": threshold, "pairs": []}
    for i, (na, _) in enumerate(tables):
        for nb, _ in tables[i + 1:]:
            a, b = cells[na], cells[nb]
            keys = sorted(set(a) & set(b))
            only = len(set(a) ^ set(b))
            if not keys:
                raise StagewiseError(f"{na} and {nb}: no (row, column) cell in common")
            agreement = score_agreement([a[k] for k in keys], [b[k] for k in keys], threshold=threshold,
                                        resamples=resamples, seed=seed)
            out["pairs"].append({"a": na, "b": nb, "cells_not_in_both": only, **agreement})
    return out


def _cells(table: Any) -> dict[tuple[str, str], float | None]:
    """(row, column) -> score of a `ScoreTable` (rows, columns, cells[row][column])."""
    rows, cols, cells = list(table.rows), list(table.columns), table.cells
    if isinstance(cells, dict):
        return {(str(r), str(c)): v for (r, c), v in cells.items()}
    return {(str(r), str(c)): cells[i][j] for i, r in enumerate(rows) for j, c in enumerate(cols)}


@app.command("judges")
def judges_command(
    tables: list[str] = typer.Argument(..., help="One score table per judge (same rows and columns)."),
    threshold: float = typer.Option(3, help="The decision: a score at or above this counts as a violation."),
    resamples: int = typer.Option(2000, min=100, help="Bootstrap resamples for alpha's CI."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Agreement between judges' score tables: exact, within one point, same decision, Krippendorff's alpha."""
    result = judges_agreement(tables, threshold, resamples)
    if as_json:
        typer.echo(json.dumps(jsonable(result)))
        return
    for p in result["pairs"]:
        al = p["alpha"]
        typer.echo(f"{p['a']} vs {p['b']}: n {p['n']} cells scored by both ({p['n_missing']} missing in one)")
        for key, what in (("exact", "exact"), ("within_one", "within one point"), ("decision", f"decision (>= {threshold:g})")):
            r = p[key]
            typer.echo(f"  {what:<22} {r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] (wilson)")
        typer.echo(f"  Krippendorff's alpha (ordinal) {al['alpha']:.3f} [{al['ci_low']:.3f}, {al['ci_high']:.3f}] "
                   f"({al['method']})")


# -- judge swap --------------------------------------------------------------------------------------------


@app.command("swap")
def swap_command(
    study_dir: str = typer.Argument(..., help="A study's output directory (its results/ store)."),
    from_rater: str = typer.Argument(..., help="The autorater the study used."),
    to_rater: str = typer.Argument(..., help="The autorater to re-grade its stored responses with."),
    endpoint: Optional[str] = typer.Option(None, help="OpenAI base URL serving the judge model (LLM judges)."),
    judge_model: Optional[str] = typer.Option(None, help="The judge's model id at --endpoint."),
    api_key: Optional[str] = typer.Option(None, envvar="STAGEWISE_API_KEY", help="The endpoint's API key, if any."),
) -> None:
    """Re-grade a study's stored responses with another autorater (no generation); show how rates and verdicts move.

    The new grades go to <study>/swap/<to>/results (a rerun grades only what is missing); the tables to
    <study>/report/judge_swap-<from>-to-<to>*.csv."""
    from stagewise.analysis.judge_swap import judge_swap
    from stagewise.commands.analyze import STUDY_FILE
    from stagewise.commands.grade import judge_client
    from stagewise.evaluate.calibration import regrade_store

    study = Path(study_dir)
    results = study / "results"
    if not (results / "grades").is_dir():
        raise StagewiseError(f"{study}: no results/grades store (run the study's eval first)")
    cfg, order = _analysis_settings(study / STUDY_FILE)
    kwargs, client = judge_client(to_rater, endpoint, judge_model, api_key)
    dest = study / "swap" / to_rater / "results"
    done = regrade_store(results, dest, from_rater, to_rater, rater_kwargs=kwargs, client=client)
    typer.echo(f"{to_rater}: graded {done['graded']} stored responses ({done['already']} already, "
               f"{done['unscored']} unscored) into {dest}")
    swap = judge_swap(results, dest, from_rater, to_rater, cfg, order)
    for note in swap.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"rates ({from_rater} -> {to_rater}):")
    for r in swap.rates.to_pylist():
        typer.echo(f"  {r['benchmark']}/{r['metric']} {r['model']}: {r['rate_from']:.3f} -> {r['rate_to']:.3f} "
                   f"({r['change']:+.3f}; n {r['n_from']}/{r['n_to']})")
    typer.echo("stage vs stage:")
    for r in swap.comparisons.to_pylist():
        flag = "  CHANGED" if r["verdict_changed"] else ""
        typer.echo(f"  {r['benchmark']}/{r['metric']} {r['model_a']} -> {r['model_b']}: diff {r['diff_from']:+.3f} "
                   f"({r['verdict_from']}) -> {r['diff_to']:+.3f} ({r['verdict_to']}){flag}")
    for p in swap.write(study / "report"):
        typer.echo(f"wrote {p}")


def _analysis_settings(study_file: Path):
    """The study's `analysis:` section and model order when its study.yaml is there, else the defaults."""
    from stagewise.analysis.config import AnalysisConfig

    if not study_file.is_file():
        return AnalysisConfig(), None
    from stagewise.config import load_study

    study = load_study(study_file)
    return study.analysis, [m.id for m in study.models]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="calibrate")
