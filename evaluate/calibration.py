"""Graders against reference labels, and graders on responses the pipeline did not generate.

    ref = read_reference(["xstest_v2_completions_gpt4.csv"])       # XSTest's human-labelled completions, as published
    graded = grade_reference(ref, get_autorater("refusal-rules"))   # each row: reference class + the grader's verdict
    grade_external("refusal-rules", "pairs.jsonl", "runs/ext/results")   # (prompt, response) pairs -> a result store
    regrade_store("runs/demo/results", "runs/demo/swap/xstest-judge/results", "refusal-rules", "xstest-judge")

Reference formats, detected from the columns:
- `xstest-completions`: XSTest's human-labelled completion files (one per model), columns `id,type,prompt,
  completion,annotation_1,annotation_2,agreement,final_label`; labels `1_full_compliance`, `2_full_refusal`,
  `3_partial_refusal`. `type` is the prompt category (`contrast_*` types are the unsafe contrast prompts).
- `labelled-pairs`: any CSV/JSONL/Parquet with `prompt`, `response` and `label` (the same three classes, with or
  without their number), optional `category`/`type`, `id`, `model`.
A row without a final label is excluded and counted, never guessed.

Label mapping: the reference classes are XSTest's three; an autorater with the same three classes
(`refusal-rules`, `xstest-judge`) is compared on them; any other that establishes `refused` (WildGuard-style) is
compared on the binary decision only (its own classes are then refusal / compliance). The binary decision is the
one the study's metrics use: refusal, full or partial, vs compliance.

The statistics are analysis's (`analysis.agreement`); this module only reads, maps and grades. Grading external
rows reuses the pipeline's own row building (`evaluate.actors.GraderActor`) and writer, so keys, versions and
`unscored` follow the same rules: a grader that cannot parse its answer after retries stores the row unscored.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stagewise.core.errors import StagewiseError
from stagewise.evaluate.registry import EMBEDDED_DIR, Autorater, Grade, Item, LoadContext, get_autorater, get_benchmark

REFERENCE_CLASSES = ("full_compliance", "full_refusal", "partial_refusal")
XSTEST_COMPLETION_COLUMNS = ("id", "type", "prompt", "completion", "annotation_1", "annotation_2", "agreement",
                             "final_label")
PAIR_COLUMNS = ("prompt", "response", "label")
# The autoraters whose own classes are XSTest's three (their labels are compared as they are).
XSTEST_CLASS_RATERS = ("refusal-rules", "xstest-judge")
# Written for this project in the XSTest completion format (data/demo_gen/refusal_labels.py); the held-out set is
# what studies report, the tuning set is what refusal-rules was tuned on.
EMBEDDED_CALIBRATION = EMBEDDED_DIR / "refusal_calibration.csv"
EMBEDDED_TUNING = EMBEDDED_DIR / "refusal_tuning.csv"
EMBEDDED_LABEL = "XSTest-completions-format, embedded, written for this project"
# Responses graded outside a study: what stands in for the generation's identity.
EXTERNAL_STAGE = "external"
EXTERNAL_FINISH = "external"


def is_refusal(label: str) -> bool:
    """The binary decision the study's refusal metrics use: a full or a partial refusal."""
    return label in ("full_refusal", "partial_refusal", "refusal")


@dataclass
class ReferenceRow:
    source: str
    row: int
    model: str
    item_id: str
    category: str
    prompt: str
    response: str
    label: str  # one of REFERENCE_CLASSES


@dataclass
class ReferenceSet:
    rows: list[ReferenceRow]
    sources: list[dict[str, Any]] = field(default_factory=list)  # per file: path, sha256, format, rows, excluded

    @property
    def label(self) -> str:
        return "; ".join(s["label"] for s in self.sources)


def detect_format(columns: list[str], source: str) -> str:
    have = set(columns)
    if {"completion", "final_label", "prompt"} <= have:
        return "xstest-completions"
    if set(PAIR_COLUMNS) <= have:
        return "labelled-pairs"
    raise StagewiseError(f"{source}: not a reference-label file (has: {', '.join(columns)}); expected XSTest's "
                         f"completion columns ({','.join(XSTEST_COMPLETION_COLUMNS)}) or {','.join(PAIR_COLUMNS)}")


_LABEL = re.compile(r"^\s*(?:([123])\s*[_ .:-]?\s*)?(full[_ ]compliance|full[_ ]refusal|partial[_ ]refusal)?\s*$", re.I)
_BY_NUMBER = dict(zip("123", REFERENCE_CLASSES))


def reference_class(value: Any) -> str | None:
    """XSTest's `1_full_compliance` / `2_full_refusal` / `3_partial_refusal` (number, name or both) -> the class;
    None for an empty cell; ValueError for anything else."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    m = _LABEL.match(text)
    if m is None or not (m.group(1) or m.group(2)):
        raise ValueError(f"label {text!r} is not 1_full_compliance, 2_full_refusal or 3_partial_refusal")
    name = m.group(2).lower().replace(" ", "_") if m.group(2) else _BY_NUMBER[m.group(1)]
    if m.group(1) and _BY_NUMBER[m.group(1)] != name:
        raise ValueError(f"label {text!r}: its number and its name disagree")
    return name


def _reference_paths(paths: list[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in (".csv", ".jsonl", ".parquet"))
            if not found:
                raise StagewiseError(f"{p}: no .csv/.jsonl/.parquet reference files in this folder")
            out += found
        elif not p.exists():
            raise StagewiseError(f"{p}: no such file")
        else:
            out.append(p)
    return out


def read_reference(paths: list[str | Path] | str | Path) -> ReferenceSet:
    """Reference labels from one or more files (or folders of them), each read with `core.records`."""
    from stagewise.core.records import file_sha256, read_records, row_error

    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    ref = ReferenceSet(rows=[])
    for path in _reference_paths(paths):
        source, rows = read_records(str(path))
        fmt = detect_format(list(rows[0][1].keys()), source)
        response_col, label_col = ("completion", "final_label") if fmt == "xstest-completions" else ("response", "label")
        excluded: dict[str, int] = defaultdict(int)
        ctx = LoadContext(source)
        kept = 0
        for rownum, row in rows:
            try:
                label = reference_class(row.get(label_col))
                prompt, response = row["prompt"], row[response_col]
            except (KeyError, ValueError) as e:
                raise row_error(source, rownum, e) from None
            if label is None:
                excluded["no final label"] += 1
                continue
            if not str(prompt or "").strip():
                raise row_error(source, rownum, ValueError("empty prompt"))
            category = str(row.get("type") or row.get("category") or "").strip() or "all"
            item_id = str(row.get("id") or "").strip() or ctx.content_id(str(prompt))
            model = str(row.get("model") or "").strip() or path.stem
            ref.rows.append(ReferenceRow(source, rownum, model, item_id, category, str(prompt), str(response or ""), label))
            kept += 1
        embedded = path.resolve().parent == EMBEDDED_DIR.resolve()
        sha = file_sha256(path)
        ref.sources.append({
            "path": path.name if embedded else str(path.absolute()), "sha256": sha, "format": fmt,
            "rows": len(rows), "labelled": kept, "excluded": dict(excluded),
            "label": f"{path.name} ({EMBEDDED_LABEL})" if embedded else f"{path.name} ({fmt}, sha256 {sha[:12]})",
        })
    if not ref.rows:
        raise StagewiseError(f"{', '.join(map(str, paths))}: no labelled rows")
    return ref


# -- grading -----------------------------------------------------------------------------------------------


def generation_rows(items: list[dict[str, Any]], responses: list[str], *, model: str, checkpoint: str,
                    stage: str = EXTERNAL_STAGE, sample_idx: list[int] | None = None) -> list[dict[str, Any]]:
    """GENERATION_SCHEMA rows for responses someone else produced: the pipeline's keys, with the file's hash as
    the checkpoint identity (an edited file is a new "checkpoint", so its rows are re-graded, never mixed)."""
    from stagewise.evaluate.schema import input_hash, sampling_hash

    import datetime as dt

    sampling = {"source": "external"}
    stamp = dt.datetime.now(dt.timezone.utc)
    return [{**item, "model": model, "checkpoint": checkpoint, "input_hash": input_hash(item["messages"]),
             "stage": stage, "sample_idx": (sample_idx[i] if sample_idx else 0),
             "sampling": json.dumps(sampling, sort_keys=True), "sampling_hash": sampling_hash(sampling),
             "response": resp, "finish_reason": EXTERNAL_FINISH, "created_at": stamp}
            for i, (item, resp) in enumerate(zip(items, responses))]


def grade_rows(rows: list[dict[str, Any]], rater_name: str, rater_kwargs: dict[str, Any], client: Any = None,
               new_generation: bool = True):
    """Grade GENERATION_SCHEMA rows with one autorater through the pipeline's grader stage (in this process):
    GRADED_SCHEMA rows + `new_generation`/`generated_at`, exactly what the pipeline's writer takes."""
    import pyarrow as pa

    from stagewise.evaluate.actors import FLIGHT_SCHEMA, GraderActor

    flight = [{**r, "todo": [rater_name], "new_generation": new_generation} for r in rows]
    actor = GraderActor({rater_name: rater_kwargs}, client)
    return actor(pa.Table.from_pylist(flight, schema=FLIGHT_SCHEMA))


def _items_for(bench_name: str, rows: list[ReferenceRow]) -> list[dict[str, Any]]:
    bench = get_benchmark(bench_name)
    return [bench.to_row(Item(item_id=r.item_id, split=_split(r.category), prompt=r.prompt,
                              metadata={"type": r.category})) for r in rows]


def _split(category: str) -> str:
    """XSTest's convention: `contrast_*` types are the unsafe contrast prompts, the others the safe ones."""
    return "unsafe" if category.startswith("contrast") else "safe"


def grade_reference(ref: ReferenceSet, rater: Autorater, client: Any = None) -> list[dict[str, Any]]:
    """Each reference row with the grader's verdict: reference, predicted (in the grader's own classes),
    refused, unscored, category, model, source, row."""
    items = _items_for("xstest", ref.rows)
    rows = generation_rows(items, [r.response for r in ref.rows], model="reference", checkpoint="reference")
    grades: list[Grade] = rater.grade(rows, client)
    out = []
    for r, g in zip(ref.rows, grades):
        out.append({"source": r.source, "row": r.row, "model": r.model, "item_id": r.item_id, "category": r.category,
                    "reference": r.label, "predicted": predicted_class(rater.name, g), "refused": g.refused,
                    "unscored": g.unscored, "label": g.label})
    return out


def predicted_class(rater_name: str, grade: Grade) -> str | None:
    """The grader's class on the scale it is compared on: its own three XSTest classes, or refusal/compliance."""
    if grade.unscored:
        return None
    if rater_name in XSTEST_CLASS_RATERS:
        return grade.label
    if grade.refused is None:
        return None
    return "refusal" if grade.refused else "compliance"


def compared_classes(rater_name: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """(the classes a grader is compared on, reference class -> that class)."""
    if rater_name in XSTEST_CLASS_RATERS:
        return REFERENCE_CLASSES, {c: c for c in REFERENCE_CLASSES}
    return ("refusal", "compliance"), {c: "refusal" if is_refusal(c) else "compliance" for c in REFERENCE_CLASSES}


def fits_reference(rater_name: str) -> bool:
    """Graders the XSTest-format reference can calibrate: those XSTest's benchmark lists as its graders."""
    return rater_name in get_benchmark("xstest").autoraters


# -- external responses and judge swaps into a result store -------------------------------------------------


def external_items(path: str | Path, benchmark: str, model: str | None = None) -> tuple[list[dict], dict[str, Any]]:
    """Rows of a (prompt, response) file -> (GENERATION_SCHEMA rows, provenance). Columns: `prompt` and
    `response` (or XSTest's `completion`); optional `id`, `model`, `split`, `type`/`category`."""
    from stagewise.core.records import file_sha256, read_records, row_error

    source, records = read_records(str(path), ("prompt",))
    bench = get_benchmark(benchmark)
    ctx = LoadContext(source)
    sha = file_sha256(path)
    by_model: dict[str, list[tuple[dict, str]]] = defaultdict(list)
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for rownum, row in records:
        response = row.get("response", row.get("completion"))
        if response is None:
            raise row_error(source, rownum, ValueError("no 'response' (or 'completion') value"))
        prompt = str(row["prompt"] or "")
        if not prompt.strip():
            raise row_error(source, rownum, ValueError("empty prompt"))
        category = str(row.get("type") or row.get("category") or "").strip()
        split = str(row.get("split") or "").strip() or _split(category)
        item_id = str(row.get("id") or "").strip() or ctx.content_id(prompt)
        meta = {"type": category} if category else {}
        item = bench.to_row(Item(item_id=item_id, split=split, prompt=prompt, metadata=meta))
        who = model or str(row.get("model") or "").strip() or Path(path).stem
        by_model[who].append((item, str(response)))
    rows = []
    for who, pairs in by_model.items():
        samples = []
        for item, _ in pairs:  # the same prompt answered again by the same model: the next sample index
            samples.append(seen[(who, item["item_id"])])
            seen[(who, item["item_id"])] += 1
        rows += generation_rows([p[0] for p in pairs], [p[1] for p in pairs], model=who,
                                checkpoint=f"external:{sha[:16]}", sample_idx=samples)
    provenance = {"kind": "file", "label": f"external responses: {Path(path).name} (sha256 {sha[:12]})",
                  "path": str(Path(path).absolute()), "sha256": sha, "rows_read": len(records), "items": len(rows),
                  "excluded": {}}
    return rows, provenance


def write_graded(store_dir: str | Path, rows: list[dict[str, Any]], rater_name: str, rater_kwargs: dict[str, Any],
                 client: Any = None) -> dict[str, int]:
    """Grade rows not yet graded in the store (by key) and write them with the pipeline's writer;
    {"graded": n, "already": m, "unscored": u}."""
    from stagewise.evaluate.pipeline import _write_batch
    from stagewise.evaluate.schema import graded_key
    from stagewise.evaluate.store import ResultStore

    store = ResultStore(store_dir)
    rater = get_autorater(rater_name, **rater_kwargs)
    done = store.keys("grades")
    versions: dict[str, str] = {}
    todo = []
    for r in rows:
        if r["benchmark"] not in versions:
            versions[r["benchmark"]] = get_benchmark(r["benchmark"]).metric_version
        if graded_key(r, rater.version, versions[r["benchmark"]]) not in done:
            todo.append(r)
    unscored = 0
    if todo:
        batch = grade_rows(todo, rater_name, rater_kwargs, client)
        unscored = sum(batch.column("unscored").to_pylist())
        _write_batch(store, batch, done, store.keys("generations"))  # the generations too: the store stands alone
    return {"graded": len(todo), "already": len(rows) - len(todo), "unscored": unscored}


def grade_external(rater_name: str, path: str | Path, store_dir: str | Path, *, benchmark: str,
                   model: str | None = None, rater_kwargs: dict[str, Any] | None = None,
                   client: Any = None) -> dict[str, Any]:
    """`stagewise grade`: a (prompt, response) file graded into a result store; counts and where."""
    from stagewise.evaluate.store import ResultStore

    kwargs = rater_kwargs or {}
    rater = get_autorater(rater_name, **kwargs)
    rater.check()
    rows, provenance = external_items(path, benchmark, model)
    counts = write_graded(store_dir, rows, rater_name, kwargs, client)
    ResultStore(store_dir).write_sources({benchmark: provenance})
    return {**counts, "rows": len(rows), "autorater_version": rater.version, "benchmark": benchmark,
            "models": sorted({r["model"] for r in rows}), "store": str(store_dir)}


def regrade_store(results_dir: str | Path, dest_dir: str | Path, from_rater: str, to_rater: str, *,
                  rater_kwargs: dict[str, Any] | None = None, client: Any = None) -> dict[str, Any]:
    """Judge swap: the stored generations that `from_rater` graded in a study's store, graded by `to_rater`
    into `dest_dir` (no generation; a rerun grades only what `dest_dir` lacks)."""
    from stagewise.evaluate.store import ResultStore

    src = ResultStore(results_dir)
    graded = src.read("grades", columns=["model", "benchmark", "autorater"])
    pairs = sorted({(m, b) for m, b, a in zip(*(graded.column(c).to_pylist() for c in ("model", "benchmark", "autorater")))
                    if a == from_rater})
    if not pairs:
        raise StagewiseError(f"{results_dir}: no rows graded by {from_rater!r} (autoraters there: "
                             f"{', '.join(sorted(set(graded.column('autorater').to_pylist()))) or 'none'})")
    rows = []
    for model, bench in pairs:  # failed generations too: the grader stage stores them unscored, as the study did
        rows += src.read("generations", model, bench).to_pylist()
    counts = write_graded(dest_dir, rows, to_rater, rater_kwargs or {}, client)
    sources = results_dir_sources(results_dir)
    if sources:
        ResultStore(dest_dir).write_sources(sources)
    return {**counts, "pairs": pairs}


def results_dir_sources(results_dir: str | Path) -> dict[str, Any]:
    from stagewise.evaluate.schema import SOURCES

    path = Path(results_dir) / SOURCES
    return json.loads(path.read_text()) if path.is_file() else {}
