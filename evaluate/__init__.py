"""Evaluation: benchmarks streamed through policy and autorater actors on Ray Data into a resumable store.

    stagewise eval configs/demo.yaml                 # serve the study's models, evaluate, write the store
    run_evaluation(study.evaluation, study.context(), served)   # the same from Python
    stagewise data inspect xstest path/to/xstest.csv # check a benchmark file before spending compute

Public API (everything else is internal):
- `run_evaluation(cfg, ctx, served) -> Path`: the `evaluation:` section, the study's `RunContext` and the Serve
  app: evaluate every evaluated model on every benchmark; does only what is missing from
  `<output_dir>/results/` (graded rows are keyed, see `evaluate.schema.graded_key`). Of serve it uses the
  client only; the study layer (`stagewise.run.evaluate`) hands it the section.
- Registry: `Benchmark`, `Autorater`, `LLMJudge`, `Item`, `Grade`, `Metric`, `register_benchmark`,
  `register_autorater`, `get_benchmark`, `get_autorater`, `benchmark_names`, `autorater_names`.
- Store: `ResultStore` (read generations/grades, atomic writes).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stagewise.evaluate.registry import (
    Autorater,
    Benchmark,
    Grade,
    Item,
    LoadReport,
    Metric,
    autorater_names,
    benchmark_names,
    discover,
    get_autorater,
    get_benchmark,
    register_autorater,
    register_benchmark,
)

if TYPE_CHECKING:
    from stagewise.evaluate.autoraters.llm_judge import LLMJudge
    from stagewise.evaluate.pipeline import run_evaluation
    from stagewise.evaluate.store import ResultStore

__all__ = [
    "Autorater", "Benchmark", "Grade", "Item", "LLMJudge", "LoadReport", "Metric", "ResultStore",
    "autorater_names", "benchmark_names", "discover", "get_autorater", "get_benchmark",
    "register_autorater", "register_benchmark", "run_evaluation",
]

_LAZY = {
    "run_evaluation": "stagewise.evaluate.pipeline",
    "ResultStore": "stagewise.evaluate.store",
    "LLMJudge": "stagewise.evaluate.autoraters.llm_judge",
}


def __getattr__(name: str) -> Any:  # keep `import evaluate` free of ray/pyarrow-heavy imports
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
