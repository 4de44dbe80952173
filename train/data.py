"""Read and check a stage's training rows: chat mixtures (sft), preference pairs (dpo), plain text (pretrain).

    rows = read_sft(["data/demo/sft.jsonl"])      # -> list[Chat]; bad input raises StagewiseError

Every check happens here, once, on the driver, so a bad row fails before any worker starts, with one line
naming the file and the row (1-based: the JSONL line number, the Parquet row number). Files are JSONL
(`.jsonl`), Parquet (`.parquet`) or plain text (`.txt`, pretrain only: documents separated by blank lines);
anything else that is not a local path is taken as a hub dataset id (needs the `datasets` package).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stagewise.core.errors import StagewiseError

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Chat:
    messages: list[dict[str, str]]
    where: str  # "file row N", for messages about this row later (e.g. an over-long skip)


@dataclass(frozen=True)
class Preference:
    prompt: list[dict[str, str]]  # the conversation up to the answer; ends with a user turn
    chosen: str
    rejected: str
    where: str


def file_sha256(path: str) -> str:
    p = Path(path)
    if not p.exists():
        if p.suffix:
            raise StagewiseError(f"{path}: no such file")
        return "hub:" + path  # a hub dataset id: its name is what we can record
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) for each row of a JSONL/Parquet file or hub dataset; fails on an empty source."""
    p = Path(path)
    n = 0
    if p.suffix == ".jsonl":
        if not p.is_file():
            raise StagewiseError(f"{path}: no such file")
        for lineno, line in enumerate(_utf8_lines(p), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise StagewiseError(f"{path} row {lineno}: invalid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise StagewiseError(f"{path} row {lineno}: expected a JSON object, got {type(rec).__name__}")
            n += 1
            yield f"{path} row {lineno}", rec
    elif p.suffix == ".parquet":
        import pyarrow.parquet as pq

        if not p.is_file():
            raise StagewiseError(f"{path}: no such file")
        for i, rec in enumerate(pq.read_table(p).to_pylist(), 1):
            n += 1
            yield f"{path} row {i}", rec
    elif p.exists() or p.suffix:
        raise StagewiseError(f"{path}: unsupported file type {p.suffix or '(none)'} (use .jsonl, .parquet or .txt)")
    else:
        try:
            import datasets
        except ImportError:
            raise StagewiseError(f"{path}: not a local file; reading hub datasets needs `pip install datasets`") from None
        for i, rec in enumerate(datasets.load_dataset(path, split="train"), 1):
            n += 1
            yield f"{path} row {i}", dict(rec)
    if n == 0:
        raise StagewiseError(f"{path}: empty file (no rows)")


def _utf8_lines(p: Path) -> Iterator[str]:
    """The file's lines; bytes that are not UTF-8 fail with the row they are on."""
    with p.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise StagewiseError(f"{p} row {lineno}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _column(rec: dict[str, Any], name: str, where: str) -> Any:
    if name not in rec or rec[name] is None:
        raise StagewiseError(f"{where}: missing column {name!r}")
    return rec[name]


def _messages(value: Any, where: str, field: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise StagewiseError(f"{where}: {field} must be a non-empty list of {{role, content}}")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise StagewiseError(f"{where}: {field}[{i}] must have 'role' and 'content'")
        if m["role"] not in ROLES:
            raise StagewiseError(f"{where}: unknown role {m['role']!r} in {field}[{i}] (expected {', '.join(ROLES)})")
        if not isinstance(m["content"], str):
            raise StagewiseError(f"{where}: {field}[{i}].content must be text")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def read_sft(paths: list[str]) -> list[Chat]:
    chats = []
    for path in paths:
        for where, rec in _records(path):
            messages = _messages(_column(rec, "messages", where), where, "messages")
            if not any(m["role"] == "assistant" for m in messages):
                raise StagewiseError(f"{where}: no assistant turn")
            chats.append(Chat(messages, where))
    return chats


def _answer(value: Any, where: str, field: str) -> str:
    """A preference answer: plain text, one assistant message, or a list ending in one."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = [value]
    msgs = _messages(value, where, field)
    if msgs[-1]["role"] != "assistant":
        raise StagewiseError(f"{where}: {field} must end with an assistant turn")
    return msgs[-1]["content"]


def read_dpo(paths: list[str]) -> list[Preference]:
    pairs = []
    for path in paths:
        for where, rec in _records(path):
            if rec.get("prompt") is not None:
                prompt = rec["prompt"]
                prompt = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else _messages(prompt, where, "prompt")
            elif rec.get("messages") is not None:
                prompt = _messages(rec["messages"], where, "messages")
            else:
                raise StagewiseError(f"{where}: missing column 'prompt' (or 'messages')")
            if prompt[-1]["role"] == "assistant":
                raise StagewiseError(f"{where}: the prompt must not end with an assistant turn")
            chosen = _answer(_column(rec, "chosen", where), where, "chosen")
            rejected = _answer(_column(rec, "rejected", where), where, "rejected")
            pairs.append(Preference(prompt, chosen, rejected, where))
    return pairs


def read_text(paths: list[str]) -> list[str]:
    docs: list[str] = []
    for path in paths:
        p = Path(path)
        if p.suffix == ".txt":
            if not p.is_file():
                raise StagewiseError(f"{path}: no such file")
            found = [d.strip() for d in "".join(_utf8_lines(p)).split("\n\n") if d.strip()]
            if not found:
                raise StagewiseError(f"{path}: empty file (no text)")
            docs.extend(found)
        else:
            for where, rec in _records(path):
                text = _column(rec, "text", where)
                if not isinstance(text, str):
                    raise StagewiseError(f"{where}: text must be a string")
                if text.strip():
                    docs.append(text)
    return docs


def check_stage_data(objective: str, paths: list[str]) -> int:
    """Read a stage's data as training will, so bad rows fail before any cluster or worker starts; row count."""
    if objective == "pretrain":
        return len(read_text(paths))
    if objective == "sft":
        return len(read_sft(paths))
    return len(read_dpo(paths))


def texts_for_tokenizer(objective: str, paths: list[str]) -> list[str]:
    """The stage's own text, for training a tiny model's tokenizer (init: tiny)."""
    if objective == "pretrain":
        return read_text(paths)
    if objective == "sft":
        return [m["content"] for c in read_sft(paths) for m in c.messages]
    return [t for p in read_dpo(paths) for t in [*(m["content"] for m in p.prompt), p.chosen, p.rejected]]
