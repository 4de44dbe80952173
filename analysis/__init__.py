"""analysis/: the result store -> rates with 95% CIs, paired stage-vs-stage comparisons, figure, report, W&B.

    from analysis import analyze_store
    analyze_store("runs/demo/results", "runs/demo/report", model_order=["base", "sft", "production"])

Heavy imports (scipy, statsmodels, matplotlib, wandb) load on first use of a name, so `import analysis`
(and `stagewise --help`) stays fast.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from analysis.config import AnalysisConfig

_EXPORTS = {
    "analyze_store": "analysis.analyze",
    "analyze_study": "analysis.analyze",
    "AnalysisOutputs": "analysis.analyze",
    "load_graded_values": "analysis.store",
    "GradedValues": "analysis.store",
    "compute_statistics": "analysis.summary",
    "Statistics": "analysis.summary",
    "SUMMARY_SCHEMA": "analysis.summary",
    "COMPARISON_SCHEMA": "analysis.summary",
    "wilson_interval": "analysis.intervals",
    "mcnemar_exact_p": "analysis.paired",
    "tost_p": "analysis.paired",
    "holm": "analysis.paired",
    "min_detectable_difference": "analysis.paired",
    "draw_comparison_figure": "analysis.figure",
    "save_figure": "analysis.figure",
    "write_report": "analysis.report",
    "log_study": "analysis.wandb_views",
    "build_comparison_report": "analysis.wandb_views",
    "write_synthetic_store": "analysis.synthetic",
}
__all__ = [
    "AnalysisConfig", "AnalysisOutputs", "COMPARISON_SCHEMA", "GradedValues", "SUMMARY_SCHEMA", "Statistics",
    "analyze_store", "analyze_study", "build_comparison_report", "compute_statistics", "draw_comparison_figure",
    "holm", "load_graded_values", "log_study", "mcnemar_exact_p", "min_detectable_difference", "save_figure",
    "tost_p", "wilson_interval", "write_report", "write_synthetic_store",
]
assert sorted(__all__) == sorted(["AnalysisConfig", *_EXPORTS])

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load lazily below
    from analysis.analyze import AnalysisOutputs, analyze_store, analyze_study
    from analysis.figure import draw_comparison_figure, save_figure
    from analysis.intervals import wilson_interval
    from analysis.paired import holm, mcnemar_exact_p, min_detectable_difference, tost_p
    from analysis.report import write_report
    from analysis.store import GradedValues, load_graded_values
    from analysis.summary import COMPARISON_SCHEMA, SUMMARY_SCHEMA, Statistics, compute_statistics
    from analysis.synthetic import write_synthetic_store
    from analysis.wandb_views import build_comparison_report, log_study


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
