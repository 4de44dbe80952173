"""Read and check training rows: chat mixtures (`read_sft`), preference pairs (`read_dpo`), plain text
(`read_text`); each objective in train/objectives/ says which it reads.

    rows = read_sft(["data/demo/sft.jsonl"])      # -> list[Chat]; bad input raises StagewiseError

Every check happens here, once, on the driver, so a bad row fails before any worker starts, with one line
naming the file and the row (`<file>: row <n>: <why>`, 1-based: the JSONL line, the Parquet or CSV data row).
Records (JSONL, Parquet, CSV, hub datasets) come through the one record reader, `stagewise.core.records`;
plain text (`.txt`, pretrain only: documents separated by blank lines) is read here.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stagewise.core.errors import StagewiseError
from stagewise.core import records
from stagewise.core.records import read_records

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Chat:
    messages: list[dict[str, str]]
    where: str  # "file: row N", for messages about this row later (e.g. an over-long skip)


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
    return records.file_sha256(p)


def _records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) for each row of a JSONL/Parquet/CSV file or hub dataset (`stagewise.core.records`)."""
    source, rows = read_records(path)
    for n, rec in rows:
        yield f"{source}: row {n}", rec


def _utf8_lines(p: Path) -> Iterator[str]:
    """The file's lines; bytes that are not UTF-8 fail with the row they are on."""
    with p.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise StagewiseError(f"{p}: line {lineno}: not UTF-8 text ({e.reason} at byte {e.start})") from None


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

