"""Arrow schemas of the data that crosses boundaries (see ../shared/DESIGN.md).

Items flow from benchmark loaders into the pipeline; generations are what the policy said;
graded rows are what the autoraters made of it (the facts: label, score, refused, harmful) and are what
`analysis/` reads. Every metric a benchmark derives from those facts is stored per graded row in `metrics`
(name -> value in [0, 1] or a score) with the `metric_version` that derived it, so the analysis never needs
to know a benchmark's labels, and a changed definition re-derives rows without grading again.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
METRIC = pa.struct([("name", pa.string()), ("value", pa.float64())])

ITEM_SCHEMA = pa.schema(
    [
        ("benchmark", pa.string()),
        ("item_id", pa.string()),
        ("split", pa.string()),  # e.g. XSTest label safe/unsafe, HarmBench functional category
        ("group", pa.string()),  # items sharing a source (cluster bootstrap); defaults to item_id
        ("messages", pa.list_(MESSAGE)),
        ("metadata", pa.string()),  # JSON object: the public row's other columns
    ]
)

GENERATION_FIELDS = [
    ("model", pa.string()),  # served model id, e.g. "sft"
    ("checkpoint", pa.string()),  # what that id served: stagewise.core.checkpoints.checkpoint_identity
    ("input_hash", pa.string()),  # item_input_hash(item): the exact conversation (and files) the model was given
    ("stage", pa.string()),  # training stage of that model: base | sft | production | ...
    ("sample_idx", pa.int32()),
    ("sampling", pa.string()),  # JSON of the sampling parameters sent
    ("sampling_hash", pa.string()),
    ("response", pa.string()),
    ("finish_reason", pa.string()),
]
GENERATION_SCHEMA = pa.schema(list(ITEM_SCHEMA) + GENERATION_FIELDS + [("created_at", pa.timestamp("us", tz="UTC"))])

GRADED_SCHEMA = pa.schema(
    list(ITEM_SCHEMA)
    + GENERATION_FIELDS
    + [
        ("autorater", pa.string()),  # registered autorater name, e.g. "refusal-rules", "xstest-judge"
        ("autorater_version", pa.string()),  # hash of grader prompt/rules + judge model id
        ("label", pa.string()),  # the grader's class, e.g. full_refusal; null when unscored
        ("score", pa.float64()),  # a numeric grade where the grader gives one (StrongREJECT), else null
        ("refused", pa.bool_()),  # facts the grader established (null: it does not say); metrics derive from them
        ("harmful", pa.bool_()),
        ("metric_version", pa.string()),  # Benchmark.metric_version that derived `metrics`
        ("unscored", pa.bool_()),  # the grader's answer could not be parsed after retries
        ("raw_judgement", pa.string()),
        ("metrics", pa.list_(METRIC)),  # derived from the facts (metric_version); empty when unscored
        ("key", pa.string()),  # graded_key(...) below; unique in a store
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)


# The store's layout, the contract between evaluate.store (the writer) and analysis.store (the reader):
# `<results>/<kind>/model=<m>/benchmark=<b>/part-<uuid>.parquet`, kind "generations" or "grades".
GENERATIONS, GRADES = "generations", "grades"
# `<results>/sources.json`: benchmark -> where its items came from (Benchmark.provenance: kind embedded | file |
# hub, a `label` reports show, path/id, sha256, rows read, items, exclusions), as the last evaluation read them.
SOURCES = "sources.json"
PARTITIONING = ds.partitioning(pa.schema([("model", pa.string()), ("benchmark", pa.string())]), flavor="hive")


# A benchmark with lettered options reports which letter the answer named (1: A) under this metric name; the
# report flags a model whose answers are (nearly) all one letter: its choices are explained by position alone.
POSITION_METRIC = "chose_option_a"


def sampling_hash(sampling: dict[str, Any]) -> str:
    """Stable short hash of sampling parameters (key order does not matter)."""
    return hashlib.sha256(json.dumps(sampling, sort_keys=True).encode()).hexdigest()[:12]


def input_hash(messages: list[dict[str, str]], extra: str = "") -> str:
    """Short hash of the exact conversation (system prompt, context, turns); the chat template that renders it
    belongs to the checkpoint and is in its identity. `extra`: what else the model is given (see
    `item_input_hash`); empty for a single-turn item, whose hash is then what it always was."""
    text = json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False)
    return hashlib.sha256((text + extra).encode()).hexdigest()[:16]


# An agentic item (ODCV) gives the model more than its first messages: a machine laid out from files, and a tool
# loop. Its metadata names a hash of those under this key, and the item's input hash covers it, so an edited
# scenario file or a changed loop regenerates the episode. Its generation's `response` is the episode as JSON
# (evaluate/odcv/agent.py: `format`, `messages` with every tool call and output, `actions`, `steps`, `ended`,
# `changed_files`), and `finish_reason` says how the episode ended (task_complete, step_limit, context_limit).
INPUT_FILES_KEY = "input_files_sha256"
# The `format` field of an episode's JSON response (the analysis finds episodes by it, to link a few in the report).
TRAJECTORY_FORMAT = "stagewise-odcv-trajectory/1"


# Items that are variants of one scenario (ODCV: each scenario name under `mandated` and `incentivized` pressure)
# have item_id "<group>/<variant>", the group being the scenario name: the analysis then reports the benchmark per
# variant and pooled, resampling names with their variants together (analysis/cluster_bootstrap.py).
VARIANT_SEPARATOR = "/"


def item_variant(item_id: str, group: str) -> str | None:
    """The variant an item is of its group's scenario, or None for an item that is not a variant."""
    prefix = group + VARIANT_SEPARATOR
    return item_id[len(prefix):] if item_id.startswith(prefix) and len(item_id) > len(prefix) else None


def item_input_hash(item: dict[str, Any]) -> str:
    """The input hash of an ITEM_SCHEMA dict: its messages, and the files behind an agentic item."""
    extra = json.loads(item.get("metadata") or "{}").get(INPUT_FILES_KEY, "") if item.get("metadata") else ""
    return input_hash(item["messages"], extra)


# A generation is identified by what produced it: the model id and the checkpoint behind it, the item and the
# exact input it was shown, the sample index and the sampling parameters. A retrained model or an edited item
# gets new keys, so a rerun regenerates exactly those rows and an old row can never stand in for a new one.
GENERATION_KEY = ("model", "checkpoint", "benchmark", "item_id", "input_hash", "sample_idx", "sampling_hash")
# The columns a store written before row identity and stored facts lacks (it is refused, with the fix, not mixed).
IDENTITY_COLUMNS = ("checkpoint", "input_hash", "refused", "harmful", "metric_version")


def generation_key(row: dict[str, Any]) -> str:
    return "|".join(str(row[f]) for f in GENERATION_KEY)


def graded_key(row: dict[str, Any], autorater_version: str, metric_version: str) -> str:
    """The store's primary key: a rerun skips rows whose key is already present. A changed metric definition
    re-keys stored rows as it re-derives their metrics from their facts (`evaluate.facts`), without grading."""
    return generation_key(row) + "|" + autorater_version + "|" + metric_version
