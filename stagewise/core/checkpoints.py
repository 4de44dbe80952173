"""What a checkpoint is, as a short string: the identity a result row is keyed by.

    checkpoint_identity("runs/demo/models/sft")      # "sha256:3f2a..." of its weights, config and tokenizer files
    checkpoint_identity("allenai/OLMo-2-1124-7B")      # "hub:allenai/OLMo-2-1124-7B@<revision>"

A local Hugging Face folder is identified by the content of every file in it (weights, config, tokenizer and
chat template: what the engine loads and renders prompts with), except `stagewise.json`. Training writes that
hash into the export's `stagewise.json` (`checkpoint_sha256`), so a trained model is not hashed again; any other
folder is hashed once per process. A hub id is its revision when the Hub cache holds it, else the id alone
(flagged `@unknown`: a new upload under the same id would not be noticed).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

LINEAGE = "stagewise.json"
_hashed: dict[tuple, str] = {}


def files_sha256(folder: str | Path) -> str:
    """sha256 over the folder's files (relative path and content, in path order), `stagewise.json` left out."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != LINEAGE and not p.name.startswith("."))
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if stamp in _hashed:
        return _hashed[stamp]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(folder)).encode() + b"\0")
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    _hashed[stamp] = h.hexdigest()
    return _hashed[stamp]


def checkpoint_identity(source: str | Path) -> str:
    path = Path(source).expanduser()
    if path.is_dir():
        try:
            recorded = json.loads((path / LINEAGE).read_text()).get("checkpoint_sha256")
        except (OSError, ValueError):
            recorded = None
        return f"sha256:{recorded or files_sha256(path)}"
    return f"hub:{source}@{_hub_revision(str(source)) or 'unknown'}"


def _hub_revision(repo_id: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # no huggingface_hub, a malformed id: no revision to record
        return None
    if isinstance(cached, str) and "/snapshots/" in cached:
        return cached.split("/snapshots/")[1].split("/")[0]
    return None
