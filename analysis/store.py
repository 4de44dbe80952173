"""Reading the result store: graded rows -> one long table of metric values, validated once.

    graded = load_graded_values("runs/demo/results")

`<results>/grades/` is a hive-partitioned Parquet dataset (`model=<m>/benchmark=<b>/*.parquet`) of
`evaluate.schema.GRADED_SCHEMA` rows. Each scored row carries `metrics`, its contribution to each metric;
flattening those lists gives one row per (graded row, metric), which is all the statistics need.

A metric's identity is (benchmark, autorater, metric name): two autoraters grading the same generations
give two metrics, never one mixed one. Checks that fail with a one-line `StagewiseError` naming the file
or field: no store or no rows, a file without a needed column (a store from before rows carried their
checkpoint and input: move it aside), a null id, a graded-row key (`KEY_FIELDS`) that appears twice (a
corrupted store), a metric named twice in one row, a model with two stages, an item in two groups.

A rate is about one identity, never a mix: when one autorater has graded a benchmark under several
`autorater_version`s (its prompt or judge changed and the benchmark was re-graded), only the newest version's
rows are kept; when a model was retrained (another checkpoint) or an item's text changed, only the rows of the
newest checkpoint / text are. The rows left out stay in the store and are counted in `notes`, which the report
prints.

Strings are read as Parquet dictionaries and handled as integer codes from there on: validation and
flattening of a million rows are a few numpy sorts, not hash joins of strings.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from stagewise.core.errors import StagewiseError
# the store's schema and layout: all that analysis knows of evaluate
from stagewise.evaluate.schema import GRADES, IDENTITY_COLUMNS, PARTITIONING, SOURCES

# Columns read from each file (model/benchmark come from the directory names when a file lacks them).
NEEDED = ("checkpoint", "input_hash", "stage", "item_id", "group", "sample_idx", "sampling_hash", "autorater",
          "autorater_version", "metric_version", "unscored", "metrics", "created_at")
CATEGORICAL = ("model", "checkpoint", "benchmark", "stage", "item_id", "input_hash", "group", "sampling_hash",
               "autorater", "autorater_version", "metric_version")
NOT_NULL = ("model", "checkpoint", "benchmark", "stage", "item_id", "input_hash", "sample_idx", "sampling_hash",
            "autorater", "autorater_version", "metric_version")
# What identifies a graded row: evaluate.schema.graded_key's fields, plus the autorater (so two autoraters
# that happen to share a version string are not mistaken for a duplicate).
KEY_FIELDS = ("model", "checkpoint", "benchmark", "item_id", "input_hash", "sample_idx", "sampling_hash", "autorater",
              "autorater_version", "metric_version")


@dataclass
class GradedValues:
    """The store, flattened: `values` has one row per (scored graded row, metric).

    values: model, benchmark, autorater, metric, item_id, group, sampling_hash (dictionary-encoded),
        sample_idx, value.
    unscored: model, benchmark, autorater, metric, unscored — unparseable grades, attributed to the
        metrics their item carries elsewhere in the store (all the benchmark's metrics if none).
    """

    values: pa.Table
    unscored: pa.Table
    stages: dict[str, str]
    rows: int  # graded rows used (after dropping superseded autorater versions)
    source: Path
    notes: list[str] = field(default_factory=list)
    # benchmark -> where its items came from (evaluate.schema.SOURCES): `label` is what reports show
    sources: dict[str, dict] = field(default_factory=dict)

    def source_label(self, benchmark: str) -> str:
        return self.sources.get(benchmark, {}).get("label", "source not recorded")


@dataclass
class _Column:
    """A categorical column as codes into labels (-1: null)."""

    codes: np.ndarray
    labels: pa.Array

    def label(self, code: int) -> str | None:
        return None if code < 0 else self.labels[int(code)].as_py()


def grades_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / GRADES


def open_grades(results_dir: str | Path) -> ds.Dataset:
    """The grades dataset, after checking it exists and every file has the columns the analysis reads."""
    path = grades_dir(results_dir)
    if not path.is_dir():
        raise StagewiseError(f"{path}: no graded results (run `stagewise eval` first)")
    files = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))]
    if not files:
        raise StagewiseError(f"{path}: empty store, no Parquet files (run `stagewise eval` first)")
    text_columns = [c for c in CATEGORICAL if c not in ("model", "benchmark")]
    fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=text_columns))
    try:
        dataset = ds.dataset(path, format=fmt, partitioning=PARTITIONING, exclude_invalid_files=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as e:
        raise StagewiseError(f"{path}: not a readable Parquet dataset ({_first_line(e)})") from None
    for fragment in dataset.get_fragments():
        try:
            names = set(fragment.physical_schema.names)
        except (pa.ArrowInvalid, OSError) as e:
            raise StagewiseError(f"{fragment.path}: not a readable Parquet file ({_first_line(e)})") from None
        missing = [c for c in NEEDED if c not in names]
        if missing and set(missing) <= set(IDENTITY_COLUMNS):
            raise StagewiseError(
                f"{path}: written by an older stagewise, its rows keyed without the checkpoint and input that "
                f"produced them ({fragment.path} has no {missing[0]!r}); move the results folder aside and rerun "
                "`stagewise eval`")
        if missing:
            raise StagewiseError(f"{fragment.path}: missing column {missing[0]!r} "
                                 "(expected evaluate.schema.GRADED_SCHEMA)")
    metrics_type = dataset.schema.field("metrics").type
    if not (pa.types.is_list(metrics_type) and pa.types.is_struct(metrics_type.value_type)
            and {"name", "value"} <= {f.name for f in metrics_type.value_type}):
        raise StagewiseError(f"{path}: column 'metrics' is {metrics_type}, expected list<struct<name, value>>")
    return dataset


def load_graded_values(results_dir: str | Path) -> GradedValues:
    dataset = open_grades(results_dir)
    path = grades_dir(results_dir)
    table, cols = _read(dataset, path)
    if table.num_rows == 0:
        raise StagewiseError(f"{path}: empty store, no graded rows (run `stagewise eval` first)")
    for name in NOT_NULL:
        if name in table.column_names and table[name].null_count:
            raise StagewiseError(f"{path}: column {name!r} has {table[name].null_count} null values")
    cols.update({name: _categorical(table[name]) for name in CATEGORICAL if name not in cols})
    sample_idx = table["sample_idx"].to_numpy().astype(np.int64)
    keep, notes = _newest_autorater_versions(cols, table)
    current, superseded = _current_identities(cols, table)
    keep &= current
    notes += superseded
    if not keep.all():
        table, sample_idx = table.filter(pa.array(keep)), sample_idx[keep]
        cols = {k: _Column(c.codes[keep], c.labels) for k, c in cols.items()}
    _check_unique_keys(cols, sample_idx, dataset)
    stages = _model_stages(cols, path)
    cols["group"] = _group_or_item(cols["group"], cols["item_id"])
    _check_item_groups(cols, path)

    scored = ~table["unscored"].fill_null(False).to_numpy(zero_copy_only=False)
    values = _flatten_metrics(table["metrics"], scored, cols, sample_idx, path)
    unscored, lost = _attribute_unscored(cols, ~scored, values)
    if lost:
        notes.append(f"{lost} unscored rows belong to a benchmark/autorater with no scored row, so no metric counts them")
    return GradedValues(values=values, unscored=unscored, stages=stages, rows=table.num_rows, source=path, notes=notes,
                        sources=_sources(Path(results_dir)))


def _sources(results_dir: Path) -> dict[str, dict]:
    path = results_dir / SOURCES
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError as e:
        raise StagewiseError(f"{path}: not valid JSON ({e})") from None


def _read(dataset: ds.Dataset, path: Path) -> tuple[pa.Table, dict[str, _Column]]:
    """The columns the analysis needs; model/benchmark as codes from each file's partition directory."""
    fragments = list(dataset.get_fragments())
    keys = [ds.get_partition_keys(f.partition_expression) for f in fragments]
    partitioned = all("model" in k and "benchmark" in k for k in keys)
    columns = [*NEEDED, "__fragment_index"] if partitioned else ["model", "benchmark", *NEEDED]
    try:
        table = dataset.to_table(columns=columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as e:
        raise StagewiseError(f"{path}: cannot read the graded rows ({_first_line(e)})") from None
    cols: dict[str, _Column] = {}
    if partitioned:  # one int per row instead of two million partition strings to hash
        fragment = table["__fragment_index"].to_numpy()
        for name in ("model", "benchmark"):
            labels = sorted({k[name] for k in keys})
            per_fragment = np.array([labels.index(k[name]) for k in keys], np.int32)
            cols[name] = _Column(per_fragment[fragment] if len(fragment) else np.array([], np.int32),
                                 pa.array(labels, pa.string()))
        table = table.drop_columns(["__fragment_index"])
    return table, cols


def read_graded_rows(results_dir: str | Path, wanted: pa.Table, columns: list[str]) -> pa.Table:
    """Graded rows matching `wanted` (model, benchmark, autorater, item_id, sample_idx, sampling_hash),
    with `columns` added: how the report and W&B fetch responses for the few rows they show."""
    fields = ["model", "benchmark", "autorater", "item_id", "sample_idx", "sampling_hash"]
    wanted = pa.table({f: wanted[f].cast(pa.int32() if f == "sample_idx" else pa.string()) for f in fields})
    if wanted.num_rows == 0:
        extra = {c: pa.array([], pa.string()) for c in columns if c not in fields}
        return pa.table({**{f: wanted[f] for f in fields}, **extra})
    dataset = ds.dataset(grades_dir(results_dir), format="parquet", partitioning=PARTITIONING)
    found = []
    for part in wanted.group_by(["model", "benchmark"]).aggregate([]).to_pylist():
        mine = wanted.filter((pc.field("model") == part["model"]) & (pc.field("benchmark") == part["benchmark"]))
        flt = ((ds.field("model") == part["model"]) & (ds.field("benchmark") == part["benchmark"])
               & ds.field("item_id").isin(mine["item_id"].unique()))
        rows = dataset.to_table(columns=fields + [c for c in columns if c not in fields], filter=flt)
        rows = pa.table({c: rows[c].cast(pa.int32() if c == "sample_idx" else rows.schema.field(c).type)
                         for c in rows.column_names})
        # Join on the key fields only (Acero joins carry no list columns such as `messages`), then take.
        index = rows.select(fields).append_column("__row", pa.array(np.arange(rows.num_rows)))
        at = mine.join(index, fields, join_type="inner")["__row"]
        found.append(rows.take(at))
    return pa.concat_tables(found, promote_options="permissive")


# -- categorical codes -------------------------------------------------------------------------------------


def _categorical(column: pa.ChunkedArray) -> _Column:
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)  # one shared dictionary across chunks
    elif column.num_chunks > 1:
        column = pa.table({"c": column}).unify_dictionaries()["c"]
    if column.num_chunks == 0:
        return _Column(np.array([], np.int32), pa.array([], pa.string()))
    codes = [c.indices.fill_null(-1) if c.null_count else c.indices for c in column.chunks]
    codes = np.concatenate([c.to_numpy() for c in codes]).astype(np.int32, copy=False)
    return _Column(codes, column.chunk(0).dictionary.cast(pa.string()))


def combine_codes(*codes: tuple[np.ndarray, int]) -> np.ndarray:
    """One int64 id per row for a tuple of categorical codes (given with their cardinalities)."""
    out = np.zeros(len(codes[0][0]), np.int64)
    span = 1
    for c, size in codes:
        size = max(int(size), 1)
        if span * size >= 2**62:  # keep the mixed-radix id in int64: renumber densely first
            _, out = np.unique(out, return_inverse=True)
            span = int(out.max()) + 1 if len(out) else 1
        out *= size
        out += c
        span *= size
    return out


def _first_duplicate(ids: np.ndarray) -> int | None:
    """Index of one row whose id occurs more than once (None when all ids are distinct)."""
    ordered = np.sort(ids)
    dup = np.flatnonzero(ordered[1:] == ordered[:-1])
    return int(np.flatnonzero(ids == ordered[dup[0]])[0]) if len(dup) else None


def _one_per(owner: np.ndarray, n_owners: int, value: np.ndarray) -> int | None:
    """A row whose `value` differs from another row's with the same `owner` (None: one value per owner)."""
    seen = np.zeros(n_owners, value.dtype)
    seen[owner] = value  # one of each owner's values lands; if it has two, some row disagrees with it
    bad = np.flatnonzero(seen[owner] != value)
    return int(bad[0]) if len(bad) else None


# -- checks -----------------------------------------------------------------------------------------------


def _newest_autorater_versions(cols: dict[str, _Column], table: pa.Table) -> tuple[np.ndarray, list[str]]:
    b, r, v = cols["benchmark"], cols["autorater"], cols["autorater_version"]
    n_v = max(len(v.labels), 1)
    version = combine_codes((b.codes, len(b.labels)), (r.codes, len(r.labels)), (v.codes, n_v))
    present = np.flatnonzero(np.bincount(version))  # (benchmark, autorater, version) triples in the store
    if len(np.unique(present // n_v)) == len(present):
        return np.ones(len(version), bool), []
    when = table["created_at"].cast(pa.int64()).fill_null(-1).to_numpy()
    newest_at = np.full(int(present.max()) + 1, -1, np.int64)
    np.maximum.at(newest_at, version, when)
    # Per (benchmark, autorater) keep the version written last (ties: the larger version string).
    ranked = sorted(present.tolist(), key=lambda t: (t // n_v, newest_at[t], v.label(t % n_v)))
    winner = {t // n_v: t for t in ranked}
    keep = np.isin(version, list(winner.values()))
    notes = []
    for t in sorted(set(present.tolist()) - set(winner.values())):
        row = int(np.flatnonzero(version == t)[0])
        notes.append(f"dropped {int((version == t).sum())} rows of {b.label(b.codes[row])}/{r.label(r.codes[row])} "
                     f"graded by superseded autorater version {v.label(t % n_v)} (kept the newest, "
                     f"{v.label(winner[t // n_v] % n_v)})")
    return keep, notes


def _current_identities(cols: dict[str, _Column], table: pa.Table) -> tuple[np.ndarray, list[str]]:
    """Rows of the identity each rate is about: per model, the checkpoint graded last (a retrained model's old
    rows drop out); per (model, benchmark, item), the input graded last (an edited item's old rows drop out).
    Superseded rows stay in the store; the notes say how many left the analysis and why."""
    when = table["created_at"].cast(pa.int64()).fill_null(-1).to_numpy()
    keep = np.ones(len(when), bool)
    notes: list[str] = []
    m, c = cols["model"], cols["checkpoint"]
    for model in np.unique(m.codes).tolist():
        mine = m.codes == model
        ckpts = np.unique(c.codes[mine]).tolist()
        if len(ckpts) < 2:
            continue
        newest = max(ckpts, key=lambda k: (int(when[mine & (c.codes == k)].max()), c.label(k)))
        old = mine & (c.codes != newest)
        keep &= ~old
        notes.append(f"left out {int(old.sum())} rows of model {m.label(model)!r} graded on an earlier checkpoint "
                     f"(it was retrained or replaced; kept {c.label(newest)})")
    b, i, h = cols["benchmark"], cols["item_id"], cols["input_hash"]
    item = combine_codes((m.codes, len(m.labels)), (b.codes, len(b.labels)), (i.codes, len(i.labels)))
    pairs = np.unique(np.stack([item, h.codes]), axis=1) if len(item) else np.zeros((2, 0), np.int64)
    items, counts = np.unique(pairs[0], return_counts=True)
    changed = 0
    for it in items[counts > 1].tolist():
        mine = item == it
        hashes = np.unique(h.codes[mine]).tolist()
        newest = max(hashes, key=lambda k: (int(when[mine & (h.codes == k)].max()), h.label(k)))
        old = mine & (h.codes != newest) & keep
        changed += int(old.sum())
        keep &= ~old
    if changed:
        notes.append(f"left out {changed} rows graded on an earlier text of their item (the benchmark file changed)")
    return keep, notes


def _check_unique_keys(cols: dict[str, _Column], sample_idx: np.ndarray, dataset: ds.Dataset) -> None:
    parts = [(sample_idx - sample_idx.min(initial=0), int(sample_idx.max(initial=0) - sample_idx.min(initial=0)) + 1)
             if f == "sample_idx" else (cols[f].codes, len(cols[f].labels)) for f in KEY_FIELDS]
    row = _first_duplicate(combine_codes(*parts))
    if row is None:
        return
    key = {f: int(sample_idx[row]) if f == "sample_idx" else cols[f].label(cols[f].codes[row]) for f in KEY_FIELDS}
    flt = None
    for f, val in key.items():
        flt = (ds.field(f) == val) if flt is None else flt & (ds.field(f) == val)
    files = sorted(set(dataset.to_table(columns=["__filename"], filter=flt)["__filename"].to_pylist()))
    shown = "|".join(str(key[f]) for f in KEY_FIELDS)
    raise StagewiseError(f"{', '.join(files)}: graded row {shown!r} ({'|'.join(KEY_FIELDS)}) appears more than "
                         "once; a corrupted store")


def _model_stages(cols: dict[str, _Column], path: Path) -> dict[str, str]:
    m, s = cols["model"], cols["stage"]
    row = _one_per(m.codes, len(m.labels), s.codes)
    if row is not None:
        model = m.label(m.codes[row])
        other = s.label(s.codes[np.flatnonzero((m.codes == m.codes[row]) & (s.codes != s.codes[row]))[0]])
        stage_pair = sorted([s.label(s.codes[row]), other])
        raise StagewiseError(f"{path}: model {model!r} has two stages, {stage_pair[0]!r} and {stage_pair[1]!r}")
    present = np.flatnonzero(np.bincount(m.codes, minlength=len(m.labels)))
    stage_of = np.zeros(len(m.labels), np.int64)
    stage_of[m.codes] = s.codes
    return {m.label(i): s.label(stage_of[i]) for i in present.tolist()}


def _group_or_item(group: _Column, item: _Column) -> _Column:
    """`group` is the cluster id; a missing or empty group means the item is its own cluster."""
    labels = pc.dictionary_encode(pa.concat_arrays([group.labels, item.labels]))
    remap = labels.indices.to_numpy().astype(np.int64)
    empty = np.asarray(pc.equal(group.labels, "").fill_null(True).to_numpy(zero_copy_only=False), bool)
    missing = (group.codes < 0) | (empty[np.maximum(group.codes, 0)] if len(empty) else True)
    own = remap[np.maximum(group.codes, 0)] if len(group.labels) else 0
    codes = np.where(missing, remap[len(group.labels) + item.codes], own)
    return _Column(codes.astype(np.int64), labels.dictionary)


def _check_item_groups(cols: dict[str, _Column], path: Path) -> None:
    b, i, g = cols["benchmark"], cols["item_id"], cols["group"]
    item = combine_codes((b.codes, len(b.labels)), (i.codes, len(i.labels)))
    if len(item) and item.max() > 50_000_000:  # sparse ids: renumber densely for the lookup table
        item = np.unique(item, return_inverse=True)[1]
    row = _one_per(item, int(item.max(initial=0)) + 1, g.codes)
    if row is not None:
        raise StagewiseError(f"{path}: item {i.label(i.codes[row])!r} of benchmark {b.label(b.codes[row])!r} is in "
                             "more than one group; an item belongs to one group")


# -- flattening -------------------------------------------------------------------------------------------


def _flatten_metrics(metrics: pa.ChunkedArray, scored: np.ndarray, cols: dict[str, _Column], sample_idx: np.ndarray,
                     path: Path) -> pa.Table:
    parent = np.concatenate([np.array([], np.int64), *(c.to_numpy() for c in pc.list_parent_indices(metrics).chunks)])
    flat = pa.chunked_array(pc.list_flatten(metrics).chunks, metrics.type.value_type).combine_chunks()
    keep = scored[parent]  # unscored rows carry no metrics; ignore any they have
    if not keep.all():
        parent, flat = parent[keep], flat.filter(pa.array(keep))
    name, value = flat.field("name"), flat.field("value")
    for what, arr in (("name", name), ("value", value)):
        if arr.null_count:
            bad = int(parent[np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0]])
            raise StagewiseError(f"{path}: metrics.{what} is null in graded row {_describe(cols, sample_idx, bad)}")
    metric = _categorical(pa.chunked_array([name], pa.string()))
    row = _first_duplicate(parent * max(len(metric.labels), 1) + metric.codes)
    if row is not None:
        raise StagewiseError(f"{path}: metric {metric.label(metric.codes[row])!r} is listed twice in graded row "
                             f"{_describe(cols, sample_idx, int(parent[row]))}")

    def dictionary(c: _Column | np.ndarray, labels: pa.Array | None = None) -> pa.DictionaryArray:
        codes, labels = (c.codes[parent], c.labels) if isinstance(c, _Column) else (c, labels)
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), labels)

    return pa.table({
        "model": dictionary(cols["model"]), "benchmark": dictionary(cols["benchmark"]),
        "autorater": dictionary(cols["autorater"]), "metric": dictionary(metric.codes, metric.labels),
        "item_id": dictionary(cols["item_id"]), "group": dictionary(cols["group"]),
        "sampling_hash": dictionary(cols["sampling_hash"]),
        "sample_idx": pa.array(sample_idx[parent].astype(np.int32)),
        "value": pc.cast(value, pa.float64()),
    })


def _attribute_unscored(cols: dict[str, _Column], unscored: np.ndarray, values: pa.Table) -> tuple[pa.Table, int]:
    """Count unscored rows per (model, benchmark, autorater, metric), and those no metric can take.

    Unscored rows have no metrics, so each is charged to the metrics its item has in scored rows (of any
    model or sample) — an XSTest safe prompt counts against over-refusal, not against unsafe compliance —
    or to every metric of its benchmark and autorater when no scored row of the item exists.
    """
    schema = pa.schema([("model", pa.string()), ("benchmark", pa.string()), ("autorater", pa.string()),
                        ("metric", pa.string()), ("unscored", pa.int64())])
    if not unscored.any():
        return schema.empty_table(), 0
    m, b, r, i = (cols[k] for k in ("model", "benchmark", "autorater", "item_id"))
    sizes = (len(b.labels), len(r.labels), len(i.labels))
    v = {k: _Column(values[k].combine_chunks().indices.to_numpy().astype(np.int64),
                    values[k].combine_chunks().dictionary) for k in ("benchmark", "autorater", "item_id", "metric")}
    labels = v["metric"].labels
    n_metrics = max(len(labels), 1)

    def attribute(keys_scored: np.ndarray, keys_unscored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(unscored row, metric) pairs joining on a key, by searching sorted unique (key, metric) pairs."""
        pairs = np.unique(keys_scored * n_metrics + v["metric"].codes)
        pair_key = pairs // n_metrics
        lo, hi = np.searchsorted(pair_key, keys_unscored, "left"), np.searchsorted(pair_key, keys_unscored, "right")
        width = hi - lo
        rows = np.repeat(np.arange(len(keys_unscored)), width)
        at = lo[rows] + np.arange(len(rows)) - np.repeat(np.cumsum(width) - width, width)
        return rows, pairs[at] % n_metrics

    u = np.flatnonzero(unscored)
    item_key = lambda bb, rr, ii: combine_codes((bb, sizes[0]), (rr, sizes[1]), (ii, sizes[2]))  # noqa: E731
    rows1, met1 = attribute(item_key(v["benchmark"].codes, v["autorater"].codes, v["item_id"].codes),
                            item_key(b.codes[u], r.codes[u], i.codes[u]))
    orphan = np.ones(len(u), bool)
    orphan[rows1] = False
    o = u[orphan]
    rater_key = lambda bb, rr: bb * sizes[1] + rr  # noqa: E731
    rows2, met2 = attribute(rater_key(v["benchmark"].codes, v["autorater"].codes), rater_key(b.codes[o], r.codes[o]))
    lost = int(len(o) - len(np.unique(rows2)))
    row = np.concatenate([u[rows1], o[rows2]])
    metric = np.concatenate([met1, met2])
    cell = combine_codes((m.codes[row], len(m.labels)), (b.codes[row], sizes[0]), (r.codes[row], sizes[1]),
                         (metric, n_metrics))
    ids, first, counts = np.unique(cell, return_index=True, return_counts=True)
    at = row[first]
    table = pa.table({
        "model": m.labels.take(pa.array(m.codes[at])), "benchmark": b.labels.take(pa.array(b.codes[at])),
        "autorater": r.labels.take(pa.array(r.codes[at])), "metric": labels.take(pa.array(metric[first])),
        "unscored": pa.array(counts.astype(np.int64)),
    })
    return table.cast(schema), lost


def _describe(cols: dict[str, _Column], sample_idx: np.ndarray, row: int) -> str:
    key = {f: int(sample_idx[row]) if f == "sample_idx" else cols[f].label(cols[f].codes[row]) for f in KEY_FIELDS}
    return "|".join(str(key[f]) for f in KEY_FIELDS)


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
