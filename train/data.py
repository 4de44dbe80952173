"""Read and check training rows: chat mixtures (`read_sft`), preference pairs (`read_dpo`), plain text
(`read_text`); each objective in train/objectives/ says which it reads.

    rows = read_sft(["data/demo/sft.jsonl"])      # -> list[Chat]; bad input raises StagewiseError

The row checks (`sft_row`, `dpo_row`, `text_rows`) are the only ones: the driver runs them before any worker
starts (`train.run.check_stage_inputs`) and the data path again on every row it tokenizes (train/prepare.py),
so a bad row fails with one line naming the file and the row (`<file>: row <n>: <why>`, 1-based: the JSONL
line, the Parquet, CSV or dataset row). Rows come in blocks from train/sources.py (files, globs, `datasets`
folders, hub ids); the `read_*` lists are for small inputs (a tiny model's tokenizer texts, tests).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from stagewise.core.errors import StagewiseError
from stagewise.train.sources import plan_blocks, read_block, sources_sha256

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
    """A data entry's hash for the lineage: a file's sha256, a glob's or dataset folder's files', or `hub:<id>`."""
    return sources_sha256(path)


def _records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) for each row of a data entry (train/sources.py: files, globs, dataset folders, hub ids)."""
    for block in plan_blocks([path]):
        yield from read_block(block)


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


def sft_row(where: str, rec: dict[str, Any]) -> Chat:
    """One chat row (Tulu 3's layout: `messages` of role/content; other columns are ignored)."""
    messages = _messages(_column(rec, "messages", where), where, "messages")
    if not any(m["role"] == "assistant" for m in messages):
        raise StagewiseError(f"{where}: no assistant turn")
    return Chat(messages, where)


def read_sft(paths: list[str]) -> list[Chat]:
    return [sft_row(where, rec) for path in paths for where, rec in _records(path)]


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


def dpo_row(where: str, rec: dict[str, Any]) -> Preference:
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
    return Preference(prompt, chosen, rejected, where)


def read_dpo(paths: list[str]) -> list[Preference]:
    return [dpo_row(where, rec) for path in paths for where, rec in _records(path)]


def text_rows(where: str, rec: Any) -> list[str]:
    """A pretraining row's documents: a `.txt` file's (split by blank lines) or a record's `text` column."""
    if isinstance(rec, str):  # a whole .txt file (train/sources.py reads it as one block)
        found = [d.strip() for d in rec.split("\n\n") if d.strip()]
        if not found:
            raise StagewiseError(f"{where}: empty file (no text)")
        return found
    text = _column(rec, "text", where)
    if not isinstance(text, str):
        raise StagewiseError(f"{where}: text must be a string")
    return [text] if text.strip() else []


def read_text(paths: list[str]) -> list[str]:
    return [d for path in paths for where, rec in _records(path) for d in text_rows(where, rec)]
