"""Published ODCV score tables: read one, or turn it into a result store that `stagewise analyze` reports on.

    table = read_score_table("scores_final_median.csv")      # rows, columns, cells (float | None), what was skipped
    summary = import_scores("scores_final_median.csv", "runs/odcv-published/results")
    print(summary)                                             # then: stagewise analyze runs/odcv-published/results

The benchmark's results ship one CSV per judge (and their median): one row per scenario name (first column,
`scenario`), one column per `<model>-<variant>` (variant `mandated` or `incentivized`; a model name may itself
hold dashes and dots, `qwen3.6-27b-mandated`), a 0-5 score or `N/A` in each cell (a median of judges can be a
half point), extra per-row summary columns after the score columns (e.g. `row_avg`, `row_violation_count`:
ignored, and named in `ignored_columns`), and summary rows at the bottom (`col_avg`, `col_MR%`: skipped, named
in `skipped_rows`). Problems are one line naming the file, the row and the column.

The store written by `import_scores` holds one graded row per (model, scenario, variant): benchmark `odcv`, item
`<scenario>/<variant>` grouped by scenario name (so the analysis resamples names, keeping a name's two variants
together), stage `published`, autorater `published:<file stem>` (two judges' tables imported into one store stay
two autoraters), the cell as the score, and the metrics the `odcv` benchmark derives from it. N/A cells are stored
as unscored rows: excluded from every rate and counted in summary.csv's `unscored`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from stagewise.core.errors import StagewiseError

VARIANTS = ("mandated", "incentivized")
NOT_AVAILABLE = {"n/a", "na", "nan", ""}
SUMMARY_ROW = re.compile(r"^col_", re.IGNORECASE)  # col_avg, col_MR%, ...
_COLUMN = re.compile(r"^(?P<model>.+)-(?P<variant>mandated|incentivized)$")
PUBLISHED_STAGE = "published"


@dataclass
class ScoreTable:
    """One published table: `cells[(scenario, column)]` is the score, or None for N/A."""

    path: Path
    rows: list[str]  # scenario names, in file order
    columns: list[str]  # `<model>-<variant>` score columns, in file order
    cells: dict[tuple[str, str], float | None]
    scenario_column: str = "scenario"
    ignored_columns: list[str] = field(default_factory=list)  # per-row summary columns after the scores
    skipped_rows: list[str] = field(default_factory=list)  # col_avg, col_MR%, ...

    @staticmethod
    def split_column(column: str) -> tuple[str, str]:
        """`qwen3.6-27b-mandated` -> ("qwen3.6-27b", "mandated")."""
        m = _COLUMN.match(column)
        if m is None:
            raise ValueError(f"column {column!r} is not <model>-<variant>")
        return m.group("model"), m.group("variant")

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.split_column(c)[0] for c in self.columns))

    @property
    def not_available(self) -> int:
        return sum(v is None for v in self.cells.values())


def read_score_table(path: str | Path) -> ScoreTable:
    from stagewise.core.records import read_records

    source, records = read_records(str(path))
    header = list(records[0][1])
    scenario_col, rest = header[0], header[1:]
    columns, ignored = [], []
    for c in rest:
        if _COLUMN.match(c):
            if ignored:  # a score column after an extra one: the layout is not the published one
                raise StagewiseError(f"{source}: column {ignored[0]!r}: not <model>-<variant> "
                                     f"(variant {' or '.join(VARIANTS)}), yet score column {c!r} follows it")
            columns.append(c)
        else:
            ignored.append(c)
    if not columns:
        raise StagewiseError(f"{source}: no <model>-<variant> score columns (has: {', '.join(header)})")
    rows, cells, skipped = [], {}, []
    for rownum, record in records:
        name = (record[scenario_col] or "").strip()
        if not name:
            raise StagewiseError(f"{source}: row {rownum}: column {scenario_col!r}: empty scenario name")
        if SUMMARY_ROW.match(name):
            skipped.append(name)
            continue
        if name in rows:
            raise StagewiseError(f"{source}: row {rownum}: column {scenario_col!r}: scenario {name!r} appears twice")
        rows.append(name)
        for c in columns:
            cells[(name, c)] = _cell(record[c], source, rownum, c)
    if not rows:
        raise StagewiseError(f"{source}: no scenario rows (only summary rows: {', '.join(skipped)})")
    return ScoreTable(Path(path), rows, columns, cells, scenario_col, ignored, skipped)


def _cell(value: str | None, source: str, rownum: int, column: str) -> float | None:
    text = (value or "").strip()
    if text.lower() in NOT_AVAILABLE:
        return None
    try:
        score = float(text)
    except ValueError:
        raise StagewiseError(f"{source}: row {rownum}: column {column!r}: {text!r} is not a 0-5 score or N/A") from None
    if not 0 <= score <= 5:
        raise StagewiseError(f"{source}: row {rownum}: column {column!r}: score {text} is outside 0-5")
    return score


@dataclass
class ImportSummary:
    table: ScoreTable
    results_dir: Path
    scored: int
    unscored: int
    files: list[Path]

    def __str__(self) -> str:
        t = self.table
        lines = [f"{t.path.name}: {len(t.rows)} scenarios x {len(t.columns)} model-variant columns "
                 f"({len(t.models)} models) -> {self.results_dir}",
                 f"  {self.scored} scored cells, {self.unscored} N/A cells (stored unscored, excluded from rates)"]
        if t.skipped_rows:
            lines.append(f"  skipped summary rows: {', '.join(t.skipped_rows)}")
        if t.ignored_columns:
            lines.append(f"  ignored per-row summary columns: {', '.join(t.ignored_columns)}")
        lines.append(f"  next: stagewise analyze {self.results_dir}")
        return "\n".join(lines)


def import_scores(csv_path: str | Path, out_dir: str | Path) -> ImportSummary:
    """Write `csv_path`'s cells as graded `odcv` rows into the result store at `out_dir` (created if needed).
    Importing the same file again adds nothing (its rows are keyed like every other row)."""
    import datetime as dt

    import pyarrow as pa

    from stagewise.core.records import file_sha256
    from stagewise.evaluate.autoraters.odcv_judge import label_of
    from stagewise.evaluate.benchmarks.odcv import OdcvBenchmark
    from stagewise.evaluate.registry import Grade
    from stagewise.evaluate.schema import GRADED_SCHEMA, graded_key, input_hash, sampling_hash
    from stagewise.evaluate.store import ResultStore

    table = read_score_table(csv_path)
    sha = file_sha256(csv_path)
    bench = OdcvBenchmark()
    rater = f"published:{table.path.stem}"
    version = f"{rater}@{sha[:12]}"
    now = dt.datetime.now(dt.timezone.utc)
    store = ResultStore(out_dir)
    stored = store.keys("grades")
    rows = []
    for column in table.columns:
        model, variant = table.split_column(column)
        for name in table.rows:
            score = table.cells[(name, column)]
            item_id = f"{name}/{variant}"
            messages: list[dict[str, str]] = []  # the published table carries no prompts
            response = json.dumps({"format": "published-score", "file": table.path.name, "sha256": sha,
                                   "column": column, "scenario": name, "cell": score}, sort_keys=True)
            grade = Grade.unparseable(f"{column}: N/A") if score is None else Grade(
                label=label_of(score), score=score, raw=f"{column}: {score:g}")
            row = {"benchmark": bench.name, "item_id": item_id, "split": variant, "group": name,
                   "messages": messages, "metadata": json.dumps({"name": name, "variant": variant, "source": column}),
                   "model": model, "checkpoint": f"published:{sha[:12]}", "input_hash": input_hash(messages),
                   "stage": PUBLISHED_STAGE, "sample_idx": 0, "sampling": "{}", "sampling_hash": sampling_hash({}),
                   "response": response, "finish_reason": "published"}
            metrics = bench.metrics_of(row, grade)
            key = graded_key(row, version, bench.metric_version)
            if key in stored:
                continue
            rows.append({**row, "autorater": rater, "autorater_version": version, "label": grade.label,
                         "score": grade.score, "refused": None, "harmful": None,
                         "metric_version": bench.metric_version, "unscored": grade.unscored,
                         "raw_judgement": grade.raw, "metrics": [{"name": m.name, "value": m.value} for m in metrics],
                         "key": key, "created_at": now})
    files = store.write("grades", pa.Table.from_pylist(rows, schema=GRADED_SCHEMA))
    store.write_sources({bench.name: {
        "kind": "file", "label": f"ODCV published scores: {table.path.name} (sha256 {sha[:12]})",
        "path": str(Path(csv_path).absolute()), "sha256": sha, "rows_read": len(table.rows) + len(table.skipped_rows),
        "items": len(table.rows) * len(VARIANTS), "excluded": {"N/A cell": table.not_available},
        "note": f"published per-scenario scores; skipped rows {table.skipped_rows}, ignored columns "
                f"{table.ignored_columns}"}})
    scored = sum(v is not None for v in table.cells.values())
    return ImportSummary(table, store.root, scored, table.not_available, files)
