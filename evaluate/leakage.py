"""How much of a benchmark the training data already holds: for each item, the longest run of words it shares
with any training text.

    stagewise data leakage xstest --train data/demo/sft.jsonl --train data/demo/dpo.jsonl
    index = TrainingIndex(training_texts(["data/demo/sft.jsonl"]))
    index.longest_shared("How do I kill a Python process?")   # -> SharedRun(words=..., text=...)

An exact-text check misses a prompt whose harmful act, scenario or template sentence reappears in training with
other words around it; a shared run of eight or more words is that kind of overlap. Words are lowercased runs of
letters and digits (punctuation and spacing do not break a run). Runs shorter than `ANCHOR` words are not
looked for: three-word phrases ("how do i") are ordinary language, not leakage, and indexing them would make
every lookup scan the whole corpus.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stagewise.core.errors import StagewiseError

ANCHOR = 4  # words that must match before a run counts, and the length of the index keys
MAX_POSITIONS = 256  # per key: a phrase the corpus repeats more often than this is boilerplate, not a source
_WORD = re.compile(r"[^\W_]+")
_TEXT_FIELDS = ("messages", "prompt", "chosen", "rejected", "text", "content")


@dataclass(frozen=True)
class SharedRun:
    words: int  # 0 when no run of ANCHOR or more words is shared
    text: str = ""


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class TrainingIndex:
    """The training texts as one stream of word ids (documents separated by a never-matching id), indexed by
    their ANCHOR-word runs."""

    def __init__(self, texts: list[str]):
        self.vocab: dict[str, int] = {}
        self.words: list[str] = []
        stream: list[int] = []
        for text in texts:
            for w in words(text):
                if w not in self.vocab:
                    self.vocab[w] = len(self.words)
                    self.words.append(w)
                stream.append(self.vocab[w])
            stream.append(-1)  # a run never crosses from one document into the next
        self.stream = stream
        self.positions: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i in range(len(stream) - ANCHOR + 1):
            key = tuple(stream[i : i + ANCHOR])
            if -1 not in key and len(self.positions[key]) < MAX_POSITIONS:
                self.positions[key].append(i)

    @property
    def size(self) -> int:
        """Words in the training texts."""
        return len(self.stream) - self.stream.count(-1)

    def longest_shared(self, text: str) -> SharedRun:
        query = [self.vocab.get(w, -2) for w in words(text)]  # -2: a word training never saw matches nothing
        best, best_at = 0, 0
        for i in range(len(query) - ANCHOR + 1):
            for pos in self.positions.get(tuple(query[i : i + ANCHOR]), ()):
                n = ANCHOR
                while i + n < len(query) and pos + n < len(self.stream) and query[i + n] == self.stream[pos + n]:
                    n += 1
                if n > best:
                    best, best_at = n, i
        if not best:
            return SharedRun(0)
        return SharedRun(best, " ".join(self.words[w] for w in query[best_at : best_at + best]))


def training_texts(paths: list[str]) -> list[str]:
    """Every text of the training files: `.txt` documents (separated by blank lines) or each record's text
    fields (messages, prompt, chosen, rejected, text), read by the one record reader."""
    from stagewise.core.records import read_records

    texts: list[str] = []
    for path in paths:
        if Path(path).suffix == ".txt":
            if not Path(path).is_file():
                raise StagewiseError(f"{path}: no such file")
            texts += [d.strip() for d in Path(path).read_text(encoding="utf-8").split("\n\n") if d.strip()]
            continue
        _, rows = read_records(path)
        for _, row in rows:
            texts += [s for f in _TEXT_FIELDS if f in row for s in _strings(row[f])]
    return texts


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return _strings(value.get("content"))
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


FLAG_WORDS = 8  # a shared run this long is a sentence or an act, not common phrasing


def item_text(item: dict[str, Any]) -> str:
    """What the model reads of an item (`ITEM_SCHEMA`): every message's content."""
    return "\n".join(m["content"] for m in item["messages"])
