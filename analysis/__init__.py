"""stagewise.analysis: the result store -> rates with 95% CIs, paired stage-vs-stage comparisons, figure, report, W&B.

    from stagewise.analysis import analyze_store
    analyze_store("runs/demo/results", "runs/demo/report", model_order=["base", "sft", "production"])

It takes its own `analysis:` section and the store's folder, never the study (`stagewise.run.analyze` is the
study's adapter), and of evaluate it reads only the store's schema (`stagewise.evaluate.schema`).

Heavy imports (scipy, statsmodels, matplotlib, wandb) load on first use of a name, so `import stagewise.analysis`
(and `stagewise --help`) stays fast.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from stagewise.analysis.config import AnalysisConfig

_EXPORTS = {
    "analyze_store": "stagewise.analysis.analyze",
    "AnalysisOutputs": "stagewise.analysis.analyze",
    "load_graded_values": "stagewise.analysis.store",
    "GradedValues": "stagewise.analysis.store",
    "compute_statistics": "stagewise.analysis.summary",
    "Statistics": "stagewise.analysis.summary",
    "SUMMARY_SCHEMA": "stagewise.analysis.summary",
    "COMPARISON_SCHEMA": "stagewise.analysis.summary",
    "wilson_interval": "stagewise.analysis.intervals",
    "mcnemar_exact_p": "stagewise.analysis.paired",
    "tost_p": "stagewise.analysis.paired",
    "holm": "stagewise.analysis.paired",
    "min_detectable_difference": "stagewise.analysis.paired",
    "draw_comparison_figure": "stagewise.analysis.figure",
    "save_figure": "stagewise.analysis.figure",
    "write_report": "stagewise.analysis.report",
    "log_study": "stagewise.analysis.wandb_views",
    "build_comparison_report": "stagewise.analysis.wandb_views",
    "write_synthetic_store": "stagewise.analysis.synthetic",
}
__all__ = [
    "AnalysisConfig", "AnalysisOutputs", "COMPARISON_SCHEMA", "GradedValues", "SUMMARY_SCHEMA", "Statistics",
    "analyze_store", "build_comparison_report", "compute_statistics", "draw_comparison_figure",
    "holm", "load_graded_values", "log_study", "mcnemar_exact_p", "min_detectable_difference", "save_figure",
    "tost_p", "wilson_interval", "write_report", "write_synthetic_store",
]
assert sorted(__all__) == sorted(["AnalysisConfig", *_EXPORTS])

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load lazily below
    from stagewise.analysis.analyze import AnalysisOutputs, analyze_store
    from stagewise.analysis.figure import draw_comparison_figure, save_figure
    from stagewise.analysis.intervals import wilson_interval
    from stagewise.analysis.paired import holm, mcnemar_exact_p, min_detectable_difference, tost_p
    from stagewise.analysis.report import write_report
    from stagewise.analysis.store import GradedValues, load_graded_values
    from stagewise.analysis.summary import COMPARISON_SCHEMA, SUMMARY_SCHEMA, Statistics, compute_statistics
    from stagewise.analysis.synthetic import write_synthetic_store
    from stagewise.analysis.wandb_views import build_comparison_report, log_study


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
