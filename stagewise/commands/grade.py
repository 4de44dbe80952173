"""`stagewise grade`: grade (prompt, response) pairs someone else produced, with any registered autorater.

    stagewise grade refusal-rules completions.csv --out runs/ext/results                 # rule-based: no model
    stagewise grade xstest-judge completions.jsonl --out runs/ext/results \\
        --endpoint http://127.0.0.1:8000/v1 --judge-model judge                          # a served judge model
    stagewise analyze runs/ext                                                            # rates with CIs

The file (CSV, JSONL or Parquet) needs `prompt` and `response` (or XSTest's `completion`); optional `id`,
`model` (one model per value; default: the file's name), `split`, `type`/`category`. Nothing is generated: rows
are keyed and graded as the pipeline does (`evaluate.calibration.grade_external`), with the file's sha256 as the
checkpoint identity, so a rerun grades only what the store lacks and an edited file is graded anew.
"""
from __future__ import annotations

from typing import Any, Optional

import typer

from stagewise.core.errors import StagewiseError


def judge_client(rater_name: str, endpoint: str | None, judge_model: str | None, api_key: str | None
                 ) -> tuple[dict[str, Any], Any]:
    """(autorater kwargs, ServeClient or None): an LLM judge needs an OpenAI-compatible endpoint and a model id."""
    from stagewise.evaluate.registry import get_autorater

    if get_autorater(rater_name).kind != "llm_judge":
        return {}, None
    if not endpoint or not judge_model:
        raise StagewiseError(f"autorater {rater_name} is an LLM judge: give --endpoint <OpenAI base URL> and "
                             "--judge-model <served model id> (e.g. a running study's app: `stagewise serve`)")
    from stagewise.serve.client import ServeClient

    return {"judge_model": judge_model}, ServeClient(endpoint, api_key, max_retries=8, backoff_s=1.0)


def default_benchmark(rater_name: str) -> str:
    """xstest for the refusal graders it lists (external refusal completions mostly answer XSTest-like prompts),
    else the first registered benchmark (by name) that lists the autorater among its graders."""
    from stagewise.evaluate.registry import benchmark_names, get_benchmark

    for name in ["xstest", *benchmark_names()]:
        if rater_name in get_benchmark(name).autoraters:
            return name
    raise StagewiseError(f"no benchmark lists {rater_name!r} among its graders; give --benchmark")


def grade_command(
    autorater: str = typer.Argument(..., help="A registered autorater, e.g. refusal-rules, xstest-judge."),
    path: str = typer.Argument(..., help="CSV/JSONL/Parquet with prompt and response (or completion) columns."),
    out: str = typer.Option(..., "--out", help="The result store to write (a study's <output_dir>/results works)."),
    benchmark: Optional[str] = typer.Option(None, help="Whose metrics the grades feed; default: xstest for its "
                                            "graders, else the first benchmark that lists the autorater."),
    model: Optional[str] = typer.Option(None, help="Model id for every row (default: the `model` column, else the file name)."),
    endpoint: Optional[str] = typer.Option(None, help="OpenAI base URL serving the judge model (LLM judges)."),
    judge_model: Optional[str] = typer.Option(None, help="The judge's model id at --endpoint."),
    api_key: Optional[str] = typer.Option(None, envvar="STAGEWISE_API_KEY", help="The endpoint's API key, if any."),
) -> None:
    """Grade external (prompt, response) pairs into a result store, without generating."""
    from stagewise.evaluate.calibration import grade_external

    kwargs, client = judge_client(autorater, endpoint, judge_model, api_key)
    bench = benchmark or default_benchmark(autorater)
    done = grade_external(autorater, path, out, benchmark=bench, model=model, rater_kwargs=kwargs, client=client)
    typer.echo(f"{autorater} ({done['autorater_version']}) on {done['rows']} rows of {path} as {bench}: "
               f"graded {done['graded']}, already stored {done['already']}, unscored {done['unscored']}; "
               f"models {', '.join(done['models'])}")
    typer.echo(f"store: {out}")


def register(app: typer.Typer) -> None:
    app.command("grade")(grade_command)
