"""The result store: Parquet files under `<output_dir>/results/`, safe to kill at any moment.

    store = ResultStore("runs/demo/results")
    done = store.keys("grades")                    # graded-row keys already stored
    store.write("grades", table)                   # GRADED_SCHEMA rows, split by model and benchmark

Layout (the contract with `analysis/`): `generations/` and `grades/`, each hive-partitioned
`model=<m>/benchmark=<b>/part-<uuid>.parquet`. A file is written under a dot-name and renamed into place,
so a reader (pyarrow datasets skip dot-files) never sees half a file; a crash leaves at most a dot-file that
the next open deletes. Files that still fail to read (disk trouble, hand edits) are moved aside as
`.corrupt-*` with a warning, and their rows are redone. Rows are keyed (`evaluate.schema`: the checkpoint and
the exact input that produced them), so a rerun writes only keys that are missing; a store written before rows
carried that identity is refused with the fix, never mixed.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from stagewise.core.errors import StagewiseError
from stagewise.evaluate.schema import (GENERATION_KEY, GENERATION_SCHEMA, GENERATIONS, GRADED_SCHEMA, GRADES,
                                       IDENTITY_COLUMNS, SOURCES, generation_key)

log = logging.getLogger(__name__)

Kind = Literal["generations", "grades"]
SCHEMAS: dict[str, pa.Schema] = {GENERATIONS: GENERATION_SCHEMA, GRADES: GRADED_SCHEMA}


class ResultStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        for kind in SCHEMAS:
            (self.root / kind).mkdir(parents=True, exist_ok=True)
            self._sweep(self.root / kind)

    # -- reading -----------------------------------------------------------------------------------------
    def files(self, kind: Kind, model: str | None = None, benchmark: str | None = None) -> list[Path]:
        base = self.root / kind
        pattern = f"model={model or '*'}/benchmark={benchmark or '*'}/*.parquet"
        return sorted(p for p in base.glob(pattern) if not p.name.startswith((".", "_")))

    def read(self, kind: Kind, model: str | None = None, benchmark: str | None = None,
             columns: list[str] | None = None) -> pa.Table:
        """Rows of one kind (optionally one model/benchmark), in the stored schema."""
        schema = SCHEMAS[kind]
        files = self.files(kind, model, benchmark)
        if not files:
            return schema.empty_table().select(columns) if columns else schema.empty_table()
        # model/benchmark are stored in the files too; the directory names are not needed to read them.
        table = ds.dataset([str(f) for f in files], schema=schema, format="parquet").to_table(columns=columns)
        return table

    def keys(self, kind: Kind, model: str | None = None, benchmark: str | None = None) -> set[str]:
        """Stored keys: graded keys for grades, generation keys for generations."""
        if kind == "grades":
            return set(self.read(kind, model, benchmark, columns=["key"]).column("key").to_pylist())
        t = self.read(kind, model, benchmark, columns=list(GENERATION_KEY))
        return {generation_key(dict(zip(GENERATION_KEY, r))) for r in zip(*(t.column(c).to_pylist() for c in GENERATION_KEY))}

    # -- writing -----------------------------------------------------------------------------------------
    def write(self, kind: Kind, table: pa.Table) -> list[Path]:
        """Write rows, one new file per (model, benchmark); each appears whole or not at all."""
        if table.num_rows == 0:
            return []
        table = table.select(SCHEMAS[kind].names).cast(SCHEMAS[kind])
        written = []
        pairs = {(m, b) for m, b in zip(table.column("model").to_pylist(), table.column("benchmark").to_pylist())}
        for model, benchmark in sorted(pairs):
            mask = pc.and_(pc.equal(table.column("model"), model), pc.equal(table.column("benchmark"), benchmark))
            part = table.filter(mask)
            folder = self.root / kind / f"model={model}" / f"benchmark={benchmark}"
            folder.mkdir(parents=True, exist_ok=True)
            written.append(_put(part, folder / f"part-{uuid.uuid4().hex}.parquet"))
        return written

    def rewrite(self, path: Path, table: pa.Table) -> None:
        """Replace one stored file with `table` (same kind), atomically (evaluate.facts re-derives metrics so)."""
        _put(table.select(SCHEMAS[path.relative_to(self.root).parts[0]].names), path)

    def write_sources(self, sources: dict[str, dict]) -> None:
        """Record where each benchmark's items came from (`SOURCES`; merged: other benchmarks' entries stay)."""
        path = self.root / SOURCES
        merged = {**(json.loads(path.read_text()) if path.is_file() else {}), **sources}
        tmp = path.with_name(f".tmp-{SOURCES}")
        tmp.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)

    # -- crash leftovers -----------------------------------------------------------------------------------
    def _sweep(self, base: Path) -> None:
        for tmp in base.glob("model=*/benchmark=*/.tmp-*"):
            tmp.unlink(missing_ok=True)  # a write that never got renamed: its rows were not stored
        for f in self.files(base.name):  # type: ignore[arg-type]
            try:
                meta = pq.read_metadata(f)
                names = set(meta.schema.to_arrow_schema().names)
                if not set(SCHEMAS[base.name].names) <= names:
                    if set(SCHEMAS[base.name].names) - set(IDENTITY_COLUMNS) <= names:
                        raise StagewiseError(
                            f"{self.root}: written by an older stagewise, its rows keyed without the checkpoint and "
                            f"input that produced them ({f.relative_to(self.root)} has no {IDENTITY_COLUMNS[0]!r}); "
                            f"move it aside (mv {self.root} {self.root}.old) and rerun `stagewise eval`")
                    raise ValueError("columns differ from the store schema")
            except (pa.ArrowInvalid, OSError, ValueError) as e:
                aside = f.with_name(f".corrupt-{f.name}")
                os.replace(f, aside)
                log.warning("result store: moved unreadable %s aside to %s (%s); its rows will be redone", f, aside.name, e)


def _put(table: pa.Table, dest: Path) -> Path:
    """Write a Parquet file under a dot-name, fsync it, rename it into place: whole or absent, never half."""
    tmp = dest.with_name(f".tmp-{dest.name}")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as f:  # on disk before it is visible under its real name
        os.fsync(f.fileno())
    os.replace(tmp, dest)
    return dest
