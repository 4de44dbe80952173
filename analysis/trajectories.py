"""A few agent episodes (ODCV, agentic reward hacking) written out readably, for the report to link.

    links = write_trajectory_examples(results_dir, graded, report_dir / "trajectories", per_group=2)

A rate over episodes is only as credible as the episodes behind it: a reader has to be able to open one and see
what the agent ran, what the machine answered and which files it changed. For every model x agentic benchmark the
highest-scoring episodes come first (a violation, when there is one, is what to read), then by item id. An
episode is a graded row whose response is the episode JSON (`evaluate.schema.TRAJECTORY_FORMAT`); benchmarks whose
responses are not episodes are skipped after one read.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stagewise.analysis.store import GradedValues, read_graded_rows
from stagewise.evaluate.schema import TRAJECTORY_FORMAT

KEY = ["model", "benchmark", "autorater", "item_id", "sample_idx", "sampling_hash"]
MESSAGE_CHARS = 1_500  # per message in the Markdown (the full episode stays in the store)


def write_trajectory_examples(results_dir: str | Path, graded: GradedValues, out_dir: str | Path,
                              per_group: int = 2) -> list[dict[str, Any]]:
    """Write up to `per_group` episodes per model x agentic benchmark into `out_dir` as Markdown; return one dict
    per file (model, benchmark, item_id, sample_idx, autorater, label, score, ended, steps, path)."""
    values = graded.values
    if per_group <= 0 or values.num_rows == 0:
        return []
    keys = pa.table({k: values[k].cast(pa.int32() if k == "sample_idx" else pa.string()) for k in KEY}
                    | {"value": values["value"]})
    out_dir = Path(out_dir)
    written: list[dict[str, Any]] = []
    for part in keys.select(["model", "benchmark"]).group_by(["model", "benchmark"]).aggregate([]).to_pylist():
        mine = keys.filter(pc.and_(pc.equal(keys["model"], part["model"]), pc.equal(keys["benchmark"], part["benchmark"])))
        mine = mine.group_by(KEY).aggregate([("value", "max")]).sort_by(
            [("value_max", "descending"), ("item_id", "ascending"), ("sample_idx", "ascending")])
        picked = mine.slice(0, per_group).select(KEY)
        rows = read_graded_rows(results_dir, picked, ["response", "label", "score"]).to_pylist()
        for row in rows:
            episode = _episode(row["response"])
            if episode is None:
                break  # not an agentic benchmark: its responses are completions
            path = out_dir / _file_name(row)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_episode(row, episode), encoding="utf-8")
            written.append({**{k: row[k] for k in ("model", "benchmark", "item_id", "sample_idx", "autorater",
                                                     "label", "score")},
                            "ended": episode.get("ended"), "steps": episode.get("steps"), "path": path})
    return written


def _episode(response: str | None) -> dict[str, Any] | None:
    try:
        episode = json.loads(response or "")
    except json.JSONDecodeError:
        return None
    return episode if isinstance(episode, dict) and episode.get("format") == TRAJECTORY_FORMAT else None


def _file_name(row: dict[str, Any]) -> str:
    stem = "--".join(str(row[k]) for k in ("model", "benchmark", "item_id", "sample_idx"))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem) + ".md"


def render_episode(row: dict[str, Any], episode: dict[str, Any]) -> str:
    """One episode as Markdown: its grade, every message and tool call, and the machine's changed files."""
    lines = [f"# {row['model']} on {row['benchmark']}: {row['item_id']} (sample {row['sample_idx']})", "",
             f"- grade ({row['autorater']}): {row['label']} (score {row['score']})",
             f"- protocol: {episode.get('protocol')}; steps: {episode.get('steps')}; ended: {episode.get('ended')}"
             + (f" ({episode['reason']})" if episode.get("reason") else ""), ""]
    lines += ["## Conversation", ""]
    for m in episode.get("messages") or []:
        lines += [f"**{m.get('role', '?')}**", "", _fenced(_clip(str(m.get("content") or "")))]
        for call in m.get("tool_calls") or []:
            fn = call.get("function", call) if isinstance(call, dict) else {}
            lines += [f"tool call `{fn.get('name', '?')}`:", "", _fenced(_clip(str(fn.get("arguments", ""))))]
    lines += ["## Changed files", ""]
    changed = episode.get("changed_files") or []
    if not changed:
        lines += ["None.", ""]
    for f in changed:
        lines += [f"- `{f.get('path')}`: {f.get('change')}"]
    lines.append("")
    return "\n".join(lines)


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + f"\n[... {len(text) - MESSAGE_CHARS} more characters]"


def _fenced(text: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}\n{text}\n{fence}\n"
