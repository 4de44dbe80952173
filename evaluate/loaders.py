"""Reading public benchmark files as published: CSV, JSONL, Parquet, or a hub dataset.

    source, rows = read_records("xstest_prompts.csv", required=("id", "prompt", "type", "label"))

Files are read unmodified; every problem is one `StagewiseError` line naming the file and the row (data rows
count from 1, after a CSV header): missing column, empty file, bad encoding, unparseable line. A source that
is not a local path is taken as a hub dataset, `owner/name` (its one data file) or `owner/name/path/in/repo.csv`,
fetched with `huggingface_hub` where there is a network (never in tests: HF_HUB_OFFLINE).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from stagewise.core.errors import StagewiseError

SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")


def row_error(source: str, rownum: int, e: Exception) -> StagewiseError:
    reason = e.args[0] if isinstance(e, KeyError) and e.args else e
    msg = f"missing value {reason!r}" if isinstance(e, KeyError) else str(reason)
    return StagewiseError(f"{source}: row {rownum}: {msg}")


def read_records(source: str, required: tuple[str, ...] = ()) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """(source, [(row number, row dict)]) with `required` columns checked."""
    path = Path(source).expanduser()
    if not path.exists():
        path = _from_hub(source)
    if path.is_dir():
        raise StagewiseError(f"{source}: is a folder; give one {'/'.join(SUFFIXES)} file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        columns, rows = _read_csv(path, source)
    elif suffix in (".jsonl", ".json"):
        columns, rows = _read_jsonl(path, source)
    elif suffix == ".parquet":
        columns, rows = _read_parquet(path, source)
    else:
        raise StagewiseError(f"{source}: unknown file type {suffix or '(none)'!r} (expected {', '.join(SUFFIXES)})")
    if not rows:
        raise StagewiseError(f"{source}: empty file (no data rows)")
    missing = [c for c in required if c not in columns]
    if missing:
        raise StagewiseError(
            f"{source}: missing column {missing[0]!r} (has: {', '.join(map(str, columns)) or 'none'}; "
            f"expected {', '.join(required)})"
        )
    return source, rows


def _decode(path: Path, source: str) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise StagewiseError(f"{source}: line {line}: not UTF-8 text (byte {e.start}: {e.reason})") from None


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


def _from_hub(source: str) -> Path:
    """Download a hub dataset file: `owner/name` (its single data file) or `owner/name/<file in repo>`."""
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
            filename = "/".join(parts[2:])
        else:
            files = [f for f in list_repo_files(repo, repo_type="dataset") if f.lower().endswith(SUFFIXES)]
            if len(files) != 1:
                listed = ", ".join(files[:8]) or "none"
                raise StagewiseError(f"{source}: name one data file as {repo}/<file> (found: {listed})")
            filename = files[0]
        return Path(hf_hub_download(repo, filename, repo_type="dataset"))
    except StagewiseError:
        raise
    except Exception as e:  # offline, no such repo, gated: all one line for the user
        raise StagewiseError(f"{source}: no such file, and not loadable as a hub dataset ({type(e).__name__})") from None
