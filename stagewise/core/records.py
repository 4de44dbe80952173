"""The one record reader: benchmark files and training data, as published: CSV, JSONL, Parquet, or a hub dataset.

    source, rows = read_records("xstest_prompts.csv", required=("id", "prompt", "type", "label"))
    source, rows = read_records("allenai/tulu-3-sft-olmo-2-mixture")     # every shard of its train split

Files are read unmodified; every problem is one `StagewiseError` line in one format, `<source>: row <n>: <why>`
(data rows count from 1, after a CSV header; a JSONL row is its line): missing column, empty file, bad encoding,
unparseable line. A source that is not a local path is a hub dataset, fetched with `huggingface_hub` where there
is a network (never in tests: HF_HUB_OFFLINE) and read by the same readers: `owner/name/path/in/repo.csv` (that
file), or `owner/name` (its one data file, or the shards of its train split).
"""
from __future__ import annotations

import gzip
import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from stagewise.core.errors import StagewiseError

SUFFIXES = (".csv", ".jsonl", ".json", ".jsonl.gz", ".parquet")


_HUB_REVISIONS: dict[str, str] = {}  # hub source -> the commit its files were read at (this process)


def hub_revision(source: str) -> str | None:
    """The Hub commit a hub source's rows were read at, once `read_records` has read it here."""
    return _HUB_REVISIONS.get(source)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def row_error(source: str, rownum: int, e: Exception) -> StagewiseError:
    reason = e.args[0] if isinstance(e, KeyError) and e.args else e
    msg = f"missing value {reason!r}" if isinstance(e, KeyError) else str(reason)
    return StagewiseError(f"{source}: row {rownum}: {msg}")


def read_records(source: str, required: tuple[str, ...] = ()) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """(source, [(row number, row dict)]) with `required` columns checked."""
    path = Path(source).expanduser()
    if not path.exists() and (path.parent.is_dir() and str(path.parent) not in ("", ".")):
        raise StagewiseError(f"{source}: no such file")  # its folder is here: a missing local file, not a hub id
    if not path.exists():
        columns, rows = [], []
        for shard in _from_hub(source):  # shards of one split: row numbers run on across them
            cols, more = _read_file(shard, source)
            columns = columns or cols
            rows += [(len(rows) + n, r) for n, r in more]
    else:
        columns, rows = _read_file(path, source)
    if not rows:
        raise StagewiseError(f"{source}: empty file (no data rows)")
    missing = [c for c in required if c not in columns]
    if missing:
        raise StagewiseError(
            f"{source}: missing column {missing[0]!r} (has: {', '.join(map(str, columns)) or 'none'}; "
            f"expected {', '.join(required)})"
        )
    return source, rows


def _read_file(path: Path, source: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    if path.is_dir():
        raise StagewiseError(f"{source}: is a folder; give one {'/'.join(SUFFIXES)} file")
    suffix = path.suffix.lower()
    if suffix == ".gz" and path.name.lower().endswith(".jsonl.gz"):  # HumanEval ships its problems so
        columns, rows = _read_jsonl(path, source)
    elif suffix == ".csv":
        columns, rows = _read_csv(path, source)
    elif suffix in (".jsonl", ".json"):
        columns, rows = _read_jsonl(path, source)
    elif suffix == ".parquet":
        columns, rows = _read_parquet(path, source)
    else:
        raise StagewiseError(f"{source}: unknown file type {suffix or '(none)'!r} (expected {', '.join(SUFFIXES)})")
    return columns, rows


def _decode(path: Path, source: str) -> str:
    data = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise StagewiseError(f"{source}: not a readable gzip file ({e})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        where = "row" if path.suffix.lower() in (".jsonl", ".json", ".gz") else "line"  # a JSONL row is its line
        raise StagewiseError(f"{source}: {where} {line}: not UTF-8 text (byte {e.start}: {e.reason})") from None


def _read_csv(path: Path, source: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    text = _decode(path, source)
    if not text.strip():
        raise StagewiseError(f"{source}: empty file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
        rows = []
        for n, values in enumerate(reader, start=1):
            if not values or all(not v.strip() for v in values):
                continue  # blank line
            if len(values) != len(header):
                raise StagewiseError(f"{source}: row {n}: {len(values)} fields, header has {len(header)}")
            rows.append((n, dict(zip(header, values))))
    except csv.Error as e:
        raise StagewiseError(f"{source}: line {reader.line_num}: malformed CSV ({e})") from None
    return header, rows


def _read_jsonl(path: Path, source: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    text = _decode(path, source)
    if not text.strip():
        raise StagewiseError(f"{source}: empty file")
    rows, columns = [], {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise StagewiseError(f"{source}: row {n}: invalid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise StagewiseError(f"{source}: row {n}: expected a JSON object, got {type(obj).__name__}")
        columns.update(dict.fromkeys(obj))
        rows.append((n, obj))
    # A column must be in every row to count as present.
    present = [c for c in columns if all(c in r for _, r in rows)]
    return present, rows


def _read_parquet(path: Path, source: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise StagewiseError(f"{source}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
    return table.column_names, list(enumerate(table.to_pylist(), start=1))


def _from_hub(source: str) -> list[Path]:
    """Download a hub dataset's data: `owner/name/<file in repo>`, or `owner/name`: its single data file, or the
    shards of its train split (`train-00000-of-00004.parquet`, ...) in name order."""
    parts = source.strip("/").split("/")
    if len(parts) < 2 or source.startswith((".", "/", "~")):
        raise StagewiseError(f"{source}: no such file")
    try:
        from huggingface_hub import hf_hub_download, list_repo_files
    except ImportError:
        raise StagewiseError(f"{source}: no such file (and huggingface_hub is not installed for hub ids)") from None
    repo = "/".join(parts[:2])
    try:
        if len(parts) > 2:
            filenames = ["/".join(parts[2:])]
        else:
            files = sorted(f for f in list_repo_files(repo, repo_type="dataset") if f.lower().endswith(SUFFIXES))
            train = [f for f in files if Path(f).name.startswith("train")]
            filenames = files if len(files) == 1 else train
            if not filenames:
                listed = ", ".join(files[:8]) or "none"
                raise StagewiseError(f"{source}: name one data file as {repo}/<file> (found: {listed})")
        paths = [Path(hf_hub_download(repo, f, repo_type="dataset")) for f in filenames]
        # The Hub cache lays files out as .../snapshots/<commit>/<file>: the revision these rows came from.
        snapshot = str(paths[0]).split("/snapshots/")
        if len(snapshot) == 2:
            _HUB_REVISIONS[source] = snapshot[1].split("/")[0]
        return paths
    except StagewiseError:
        raise
    except Exception as e:  # offline, no such repo, gated: all one line for the user
        raise StagewiseError(f"{source}: no such file, and not loadable as a hub dataset ({type(e).__name__})") from None
