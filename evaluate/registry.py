"""Benchmarks and autoraters, registered by name.

    from stagewise.evaluate.registry import get_benchmark, get_autorater
    items = get_benchmark("xstest").load(None, limit=20)       # None: the embedded set

## Adding a benchmark
Write one module in `evaluate/benchmarks/` (it is imported by `discover()`, no other file to edit):

    @register_benchmark
    class MyBench(Benchmark):
        name = "my-bench"
        columns = ("prompt", "category")              # the public file's columns, checked on load
        autoraters = ("refusal-rules", "xstest-judge")  # registered autoraters that fit it by default
        metric_names = ("over_refusal",)
        published_items = {"my_bench.csv": 500}     # for `stagewise plan` before the file is downloaded

        def item(self, row, ctx) -> Item | None:      # one public row -> an Item (None: excluded, counted)
            return Item(item_id=ctx.content_id(row["prompt"]), split="benign", prompt=row["prompt"])

        def metrics(self, item, grade) -> list[Metric]:   # what one grade contributes to each metric
            return [Metric("over_refusal", float(grade.refused))] if grade.refused is not None else []

`render(item) -> messages` defaults to one user turn with `Item.prompt`; override it for system prompts,
context or multi-turn items. `load(path_or_id, limit)` reads CSV/JSONL/Parquet or a hub dataset through
`stagewise.core.records` (one-line errors naming file and row) and returns ITEM_SCHEMA dicts; `path=None` reads
`evaluate/benchmarks/embedded/<name>.<csv|jsonl|parquet>`. Override `read_rows` for other layouts (e.g. a
folder of files). Metric names are the contract with `analysis/`: lower_snake_case, a rate's value is 0/1
with 1 = the bad event (over_refusal, unsafe, ...), scores in [0, 1]. Name a metric for what its grader can
establish: a refusal matcher says `non_refusal`, only a grader that judges harm says `unsafe`. Graded rows store
the grade's facts (label, score, refused, harmful) and `metric_version`; metrics are derived from the facts, so a
changed `metrics` re-derives stored rows (`evaluate.facts.refresh_metrics`) without generating or grading again.

## Adding an autorater
Write one module in `evaluate/autoraters/`:

    @register_autorater
    class MyRules(Autorater):
        name = "my-rules"
        kind = "rules"                                # or "llm_judge" (then subclass LLMJudge)
        def definition(self) -> str: ...              # the rules/prompt text: hashed into `version`
        def grade(self, rows) -> list[Grade]: ...     # rows: GENERATION_SCHEMA dicts

An `LLMJudge` (evaluate/autoraters/llm_judge.py) only declares `prompt(row) -> messages` and
`parse(text) -> Grade | None`; sending, retrying and `unscored` are handled there. Every grade is stored with
`version` (a hash of `definition()` and the judge model id), so changing a prompt re-grades, never mixes.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from stagewise.core.errors import StagewiseError

EMBEDDED_DIR = Path(__file__).parent / "benchmarks" / "embedded"
DEGENERATE = "degenerate"  # the metric every benchmark reports: share of responses that say nothing


# ---------------------------------------------------------------------------------------------------------
# What crosses the interfaces


@dataclass
class Item:
    """One benchmark prompt before rendering; `to_row()` gives the ITEM_SCHEMA dict."""

    item_id: str
    split: str
    prompt: str
    metadata: dict[str, Any] = field(default_factory=dict)  # the public row's other columns
    group: str | None = None  # items sharing a source (cluster bootstrap); None: item_id


@dataclass(frozen=True)
class Grade:
    """An autorater's verdict on one response.

    `refused` / `harmful` are the facts benchmarks turn into metrics, so one benchmark can be graded by
    any autorater that establishes the facts it needs (a rule-based refusal detector establishes `refused`
    only; a HarmBench judge establishes `harmful`). None: this autorater does not say.
    """

    label: str | None
    score: float | None = None
    refused: bool | None = None
    harmful: bool | None = None
    raw: str = ""
    unscored: bool = False

    @classmethod
    def unparseable(cls, raw: str) -> "Grade":
        return cls(label=None, raw=raw, unscored=True)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Grade":
        """The grade a graded row stores (its facts), to derive metrics from again."""
        return cls(label=row["label"], score=row["score"], refused=row["refused"], harmful=row["harmful"],
                   raw=row["raw_judgement"] or "", unscored=bool(row["unscored"]))


@dataclass(frozen=True)
class Metric:
    name: str
    value: float


# ---------------------------------------------------------------------------------------------------------
# Benchmarks


@dataclass
class LoadReport:
    """What a load gave: the items, and how many public rows were excluded and why."""

    items: list[dict[str, Any]]
    excluded: dict[str, int] = field(default_factory=dict)
    source: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)  # Benchmark.provenance: where the items came from


class LoadContext:
    """Per-load helpers passed to `Benchmark.item`: stable ids and exclusion counts."""

    def __init__(self, source: str):
        self.source = source
        self.excluded: dict[str, int] = {}
        self._seen: dict[str, int] = {}

    def content_id(self, text: str) -> str:
        """An id from the prompt text (stable across reorderings of the file); repeats get a suffix."""
        base = hashlib.sha256(text.encode()).hexdigest()[:12]
        n = self._seen.get(base, 0)
        self._seen[base] = n + 1
        return base if n == 0 else f"{base}-{n}"

    def exclude(self, reason: str) -> None:
        self.excluded[reason] = self.excluded.get(reason, 0) + 1


class Benchmark:
    """A benchmark: how its public file is read, how an item is shown, which graders fit, what it measures."""

    name: ClassVar[str]
    title: ClassVar[str] = ""  # the public benchmark's own name ("XSTest"), for sources and lookalike labels
    columns: ClassVar[tuple[str, ...]] = ()  # required columns of the public file
    autoraters: ClassVar[tuple[str, ...]] = ("refusal-rules",)  # default graders, best first
    metric_names: ClassVar[tuple[str, ...]] = ()
    embedded_file: ClassVar[str | None] = None  # under evaluate/benchmarks/embedded/; None: "<name>.csv"
    # Items in the public files, by file name, as their paper or repository states them: what `stagewise plan`
    # counts for a file that is not downloaded yet.
    published_items: ClassVar[dict[str, int]] = {}

    # -- reading ---------------------------------------------------------------------------------------
    def embedded_path(self) -> Path:
        return EMBEDDED_DIR / (self.embedded_file or f"{self.name}.csv")

    def read_rows(self, path_or_id: str | None) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
        """(source name, [(row number, row)]) of the public file, columns checked."""
        from stagewise.core.records import read_records

        source = str(self.embedded_path()) if path_or_id is None else path_or_id
        return read_records(source, self.columns)

    def item(self, row: dict[str, Any], ctx: LoadContext) -> Item | None:
        raise NotImplementedError

    def read(self, path_or_id: str | None, limit: int | None = None) -> LoadReport:
        """Load and render the items (first `limit` kept items), with exclusion counts."""
        from stagewise.core.records import row_error

        source, rows = self.read_rows(path_or_id)
        ctx = LoadContext(source)
        items: list[dict[str, Any]] = []
        for rownum, row in rows:
            try:
                item = self.item(row, ctx)
            except (KeyError, ValueError) as e:
                raise row_error(source, rownum, e) from None
            if item is None:
                continue
            if not item.prompt or not str(item.prompt).strip():
                raise row_error(source, rownum, ValueError("empty prompt"))
            items.append(self.to_row(item))
            if limit is not None and len(items) >= limit:
                break
        if not items:
            raise StagewiseError(f"{source}: no {self.name} items (all {len(rows)} rows excluded)")
        ids = [i["item_id"] for i in items]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise StagewiseError(f"{source}: item id {dup!r} appears twice")
        return LoadReport(items, ctx.excluded, source, self.provenance(path_or_id, source, len(rows), len(items),
                                                                       ctx.excluded))

    def provenance(self, path_or_id: str | None, source: str, rows: int, items: int,
                   excluded: dict[str, int]) -> dict[str, Any]:
        """Where a run's items came from, as reports show it (`label`): the embedded lookalike written for this
        project, a public file with its sha256, or a hub dataset; with rows read, items kept, exclusions."""
        from stagewise.core.checkpoints import files_sha256
        from stagewise.core.records import file_sha256, hub_revision

        counts = {"rows_read": rows, "items": items, "excluded": dict(excluded)}
        title = self.title or self.name
        if path_or_id is None:
            return {"kind": "embedded", "label": f"{title}-format, embedded", "path": Path(source).name,
                    "sha256": file_sha256(Path(source)), **counts,
                    "note": f"written for this project in the {title} format; not the public {title}"}
        local = Path(path_or_id).expanduser()
        if local.exists():
            sha = files_sha256(local) if local.is_dir() else file_sha256(local)
            return {"kind": "file", "label": f"{title}: {local.name} (sha256 {sha[:12]})",
                    "path": str(local.absolute()), "sha256": sha, **counts}
        revision = hub_revision(path_or_id)
        shown = f"@{revision[:12]}" if revision else " (revision not recorded)"
        return {"kind": "hub", "label": f"{title}: hub {path_or_id}{shown}", "id": path_or_id, "revision": revision,
                **counts}

    def load(self, path_or_id: str | None, limit: int | None = None) -> list[dict[str, Any]]:
        """ITEM_SCHEMA dicts; `path_or_id=None` loads the embedded set."""
        return self.read(path_or_id, limit).items

    def to_row(self, item: Item) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "item_id": str(item.item_id),
            "split": item.split,
            "group": item.group or str(item.item_id),
            "messages": self.render(item),
            "metadata": json.dumps(item.metadata, sort_keys=True, ensure_ascii=False),
        }

    # -- showing and scoring ---------------------------------------------------------------------------
    def render(self, item: Item) -> list[dict[str, str]]:
        return [{"role": "user", "content": item.prompt}]

    def metrics(self, item: dict[str, Any], grade: Grade) -> list[Metric]:
        """The metrics one grade of `item` (an ITEM_SCHEMA dict) contributes; [] when it says nothing."""
        raise NotImplementedError

    def metrics_of(self, row: dict[str, Any], grade: Grade) -> list[Metric]:
        """What a graded row counts for: nothing when unscored; only `degenerate` = 1 when the response says
        nothing (evaluate/degenerate.py), else the benchmark's `metrics` and `degenerate` = 0."""
        from stagewise.evaluate.degenerate import degenerate_reason

        if grade.unscored:
            return []
        if degenerate_reason(row.get("response")) is not None:
            return [Metric(DEGENERATE, 1.0)]
        return [*self.metrics(row, grade), Metric(DEGENERATE, 0.0)]

    @cached_property
    def metric_version(self) -> str:
        """A hash of the metric definitions (this benchmark's `metrics` and the degenerate rules): graded rows
        store it, and `evaluate.facts.refresh_metrics` re-derives the rows of another version from their facts."""
        import inspect

        from stagewise.evaluate import degenerate

        text = inspect.getsource(type(self).metrics) + inspect.getsource(degenerate) + repr(self.metric_names)
        return f"{self.name}-metrics@{hashlib.sha256(text.encode()).hexdigest()[:12]}"


# ---------------------------------------------------------------------------------------------------------
# Autoraters


class Autorater:
    """A grader of responses. Subclasses set `name`, `kind` and implement `definition` and `grade`."""

    name: ClassVar[str]
    kind: ClassVar[Literal["rules", "llm_judge"]] = "rules"

    def __init__(self, judge_model: str | None = None, max_retries: int = 2, **_: Any):
        self.judge_model = judge_model
        self.max_retries = max_retries

    def definition(self) -> str:
        """The text that decides grades (rules, prompt template): any change makes a new version."""
        raise NotImplementedError

    @property
    def version(self) -> str:
        text = json.dumps({"name": self.name, "definition": self.definition(), "judge": self.judge_model})
        return f"{self.name}@{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    def check(self) -> None:
        """Raise `StagewiseError` when this machine cannot run the grader (e.g. a missing sandbox tool); called
        before any cluster starts, so a study does not train for minutes and then fail at its first grade."""

    def grade(self, rows: list[dict[str, Any]], judge: Any = None) -> list[Grade]:
        """Grade GENERATION_SCHEMA rows; `judge` is a `serve.client.ServeClient` for LLM judges."""
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------------------
# The registry

BENCHMARKS: dict[str, type[Benchmark]] = {}
AUTORATERS: dict[str, type[Autorater]] = {}
_T = TypeVar("_T", bound=type)
_discovered = False


def _register(table: dict[str, Any], what: str) -> Callable[[_T], _T]:
    def add(cls: _T) -> _T:
        name = getattr(cls, "name", None)
        if not name:
            raise TypeError(f"{cls.__qualname__}: a {what} needs a `name`")
        if name in table and table[name] is not cls and table[name].__qualname__ != cls.__qualname__:
            raise TypeError(f"{what} {name!r} is registered twice ({table[name].__qualname__}, {cls.__qualname__})")
        table[name] = cls
        return cls

    return add


register_benchmark = _register(BENCHMARKS, "benchmark")
register_autorater = _register(AUTORATERS, "autorater")


def discover() -> None:
    """Import every module of evaluate/benchmarks/ and evaluate/autoraters/ so they register themselves."""
    global _discovered
    if _discovered:
        return
    for package in ("stagewise.evaluate.benchmarks", "stagewise.evaluate.autoraters"):
        pkg = importlib.import_module(package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{package}.{mod.name}")
    _discovered = True


def get_benchmark(name: str) -> Benchmark:
    discover()
    if name not in BENCHMARKS:
        raise StagewiseError(f"unknown benchmark {name!r} (registered: {', '.join(sorted(BENCHMARKS))})")
    return BENCHMARKS[name]()


def get_autorater(name: str, **kwargs: Any) -> Autorater:
    discover()
    if name not in AUTORATERS:
        raise StagewiseError(f"unknown autorater {name!r} (registered: {', '.join(sorted(AUTORATERS))})")
    return AUTORATERS[name](**kwargs)


def benchmark_names() -> list[str]:
    discover()
    return sorted(BENCHMARKS)


def autorater_names() -> list[str]:
    discover()
    return sorted(AUTORATERS)
