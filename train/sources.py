"""Where training rows come from, in blocks a worker can read on its own: files, globs, `datasets` folders, hub ids.

    blocks = plan_blocks(["data/tulu/*.parquet"])           # cheap: row counts, no row is parsed
    for where, record in read_block(blocks[0]): ...          # one block's rows, anywhere on the cluster

A `training[].data` entry is a JSONL/JSON/Parquet/CSV/`.txt` file, a glob of such files (matched in name order),
a local Hugging Face dataset folder (`save_to_disk`'s, or a folder of data files) or a hub dataset id (its
`train` split); the last two load through `datasets` (memory-mapped Arrow: a block is a row range, not a copy of
the set). Rows keep the one error format of `stagewise.core.records`: `<file>: row <n>: <why>` (a JSONL row is
its line; a Parquet or dataset row counts from 1).

Blocks are what make the data path independent of the number of rows: the driver only counts rows (Parquet
metadata, a dataset's length, one pass over a JSONL file noting where every block starts), and whoever prepares
a block reads just its rows.
"""
from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stagewise.core.errors import StagewiseError
from stagewise.core.records import read_records, row_error

# Rows per block: big enough that best-fit packing within a block wastes little (a few % of a 4k row at 1,024
# chats), small enough that a block's tokens (~3 MB at Tulu's ~700 tokens a chat) are nothing to any process.
BLOCK_ROWS = 1024
FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".txt")


@dataclass(frozen=True)
class Block:
    source: str  # the file (a glob's match) or dataset as errors name it
    kind: str  # "jsonl" | "parquet" | "csv" | "text" | "datasets"
    start: int  # rows [start, stop) of the source, 0-based
    stop: int
    offset: int = 0  # jsonl: byte where row `start` begins
    line: int = 1  # jsonl: the line number of that byte

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def expand(entry: str) -> list[tuple[str, str]]:
    """(source, kind) for one `data` entry: a file, a glob's matches, a dataset folder or a hub dataset id."""
    if any(c in entry for c in "*?["):
        files = sorted(p for p in glob.glob(str(Path(entry).expanduser())) if Path(p).is_file())
        if not files:
            raise StagewiseError(f"{entry}: the glob matches no file")
        return [one for f in files for one in expand(f)]
    path = Path(entry).expanduser()
    if path.is_dir():
        return [(str(path), "datasets")]
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix not in FILE_SUFFIXES:
            raise StagewiseError(f"{entry}: unknown file type {suffix or '(none)'!r} (expected {', '.join(FILE_SUFFIXES)})")
        kind = {".json": "jsonl", ".txt": "text"}.get(suffix, suffix[1:])
        return [(str(path), kind)]
    if path.suffix.lower() in FILE_SUFFIXES or entry.startswith((".", "/", "~")) or entry.count("/") != 1:
        raise StagewiseError(f"{entry}: no such file")
    return [(entry, "datasets")]  # owner/name: a hub dataset


def plan_blocks(entries: list[str], block_rows: int = BLOCK_ROWS) -> list[Block]:
    """Every entry's rows as blocks of at most `block_rows`, in data order (entries, then files, then rows)."""
    blocks: list[Block] = []
    for entry in entries:
        for source, kind in expand(entry):
            found = _blocks_of(source, kind, block_rows)
            if not found:
                raise StagewiseError(f"{source}: empty file (no data rows)")
            blocks += found
    return blocks


def _blocks_of(source: str, kind: str, block_rows: int) -> list[Block]:
    if kind == "text":  # a pretraining corpus: documents split by blank lines, read whole (one block)
        return [Block(source, kind, 0, 1)]
    if kind == "jsonl":
        return _jsonl_blocks(source, block_rows)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            n = pq.ParquetFile(source).metadata.num_rows
        except Exception as e:  # noqa: BLE001 -- any unreadable file: one line naming it
            raise StagewiseError(f"{source}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
    elif kind == "csv":
        n = len(read_records(source)[1])
    else:
        n = len(open_dataset(source))
    return [Block(source, kind, s, min(n, s + block_rows)) for s in range(0, n, block_rows)]


def _jsonl_blocks(source: str, block_rows: int) -> list[Block]:
    """One pass over the file's bytes: where every `block_rows`-th data row starts (blank lines are no rows)."""
    blocks, rows, offset, start_at, start_line = [], 0, 0, 0, 1
    with open(source, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if raw.strip():
                if rows % block_rows == 0:
                    if rows:
                        blocks.append(Block(source, "jsonl", rows - block_rows, rows, start_at, start_line))
                    start_at, start_line = offset, lineno
                rows += 1
            offset += len(raw)
    if rows:
        blocks.append(Block(source, "jsonl", rows - (rows - 1) % block_rows - 1, rows, start_at, start_line))
    return blocks


_DATASETS: dict[str, Any] = {}  # source -> its datasets.Dataset (memory-mapped; one per process)


def open_dataset(source: str):
    """A local dataset folder (`save_to_disk`'s, a DatasetDict's `train`, or data files) or a hub id's train split."""
    if source in _DATASETS:
        return _DATASETS[source]
    try:
        import datasets
    except ImportError:
        raise StagewiseError(f"{source}: reading a dataset folder or hub id needs the `datasets` package") from None
    path = Path(source)
    try:
        if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                if "train" not in ds:
                    raise StagewiseError(f"{source}: the saved DatasetDict has no 'train' split (has: {', '.join(ds)})")
                ds = ds["train"]
        else:
            ds = datasets.load_dataset(str(path) if path.is_dir() else source, split="train")
    except StagewiseError:
        raise
    except Exception as e:  # noqa: BLE001 -- offline, no such repo, gated, unreadable: one line for the user
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        where = "dataset folder" if path.is_dir() else "hub dataset"
        raise StagewiseError(f"{source}: not loadable as a {where} ({first[:200]})") from None
    _DATASETS[source] = ds
    return ds


def read_block(block: Block | dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, record) for each row of the block; `text` blocks give (where, the file's text)."""
    b = block if isinstance(block, Block) else Block(**block)
    if b.kind == "text":
        yield b.source, _read_text(b.source)
    elif b.kind == "jsonl":
        yield from _jsonl_rows(b)
    elif b.kind == "parquet":
        yield from _parquet_rows(b)
    elif b.kind == "csv":
        _, rows = read_records(b.source)
        for n, rec in rows[b.start : b.stop]:
            yield f"{b.source}: row {n}", rec
    else:
        batch = open_dataset(b.source)[b.start : b.stop]  # {column: values}
        names = list(batch)
        for i in range(b.stop - b.start):
            yield f"{b.source}: row {b.start + i + 1}", {k: batch[k][i] for k in names}


def _jsonl_rows(b: Block) -> Iterator[tuple[str, dict[str, Any]]]:
    with open(b.source, "rb") as f:
        f.seek(b.offset)
        rows, lineno = 0, b.line - 1
        while rows < b.stop - b.start:
            raw = f.readline()
            if not raw:
                raise StagewiseError(f"{b.source}: changed while training read it (fewer rows than counted)")
            lineno += 1
            if not raw.strip():
                continue
            rows += 1
            try:
                obj = json.loads(raw.decode("utf-8-sig" if lineno == 1 else "utf-8"))
            except UnicodeDecodeError as e:
                raise StagewiseError(f"{b.source}: row {lineno}: not UTF-8 text ({e.reason})") from None
            except json.JSONDecodeError as e:
                raise StagewiseError(f"{b.source}: row {lineno}: invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise StagewiseError(f"{b.source}: row {lineno}: expected a JSON object, got {type(obj).__name__}")
            yield f"{b.source}: row {lineno}", obj


def _parquet_rows(b: Block) -> Iterator[tuple[str, dict[str, Any]]]:
    """Only the row groups the block overlaps are read, a few hundred rows at a time: reading them whole (a row
    group can hold thousands of long chats) and converting the block at once doubled what the driver's check
    added to its memory (bench_data's chats: +190 -> +92 MB)."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(b.source)
    groups, first, at = [], None, 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if at + n > b.start and at < b.stop:
            groups.append(g)
            first = at if first is None else first
        at += n
    at = first or 0  # the source row of the next batch's first row
    for batch in pf.iter_batches(batch_size=256, row_groups=groups):
        lo, hi = max(b.start - at, 0), min(b.stop - at, batch.num_rows)
        if lo < hi:
            for i, rec in enumerate(batch.slice(lo, hi - lo).to_pylist()):
                yield f"{b.source}: row {at + lo + i + 1}", rec
        at += batch.num_rows
        if at >= b.stop:
            break


def _read_text(source: str) -> str:
    data = Path(source).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise StagewiseError(f"{source}: line {line}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def checked(rows: Iterator[tuple[str, Any]], check) -> Iterator[Any]:
    """`check(where, record)` over rows; an error that is not already one line names the row."""
    for where, rec in rows:
        try:
            yield check(where, rec)
        except StagewiseError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            source, _, n = where.rpartition(": row ")
            raise row_error(source, int(n), e) if n.isdigit() else StagewiseError(f"{where}: {e}") from None


def sources_sha256(entry: str) -> str:
    """What a stage's lineage records for one data entry: a file's sha256, a glob's or folder's files' hash, or
    `hub:<id>` (its name is what we can record)."""
    import hashlib

    from stagewise.core.records import file_sha256

    if any(c in entry for c in "*?[") or Path(entry).expanduser().is_dir():
        root = Path(entry).expanduser()
        files = sorted(Path(s) for s, _ in expand(entry)) if not root.is_dir() else sorted(
            p for p in root.rglob("*") if p.is_file() and not p.name.startswith("cache-"))
        h = hashlib.sha256()
        for f in files:
            h.update(str(f.relative_to(root) if root.is_dir() else f.name).encode())
            h.update(file_sha256(f).encode())
        return h.hexdigest()
    p = Path(entry).expanduser()
    if p.is_file():
        return file_sha256(p)
    expand(entry)  # a missing local file fails here, naming it
    return "hub:" + entry
