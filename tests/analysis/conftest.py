"""Fixtures for analysis/ tests (helpers that build stores live in tests/analysis/stores.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from stagewise.analysis.synthetic import write_synthetic_store


@pytest.fixture
def small_store(tmp_path: Path) -> Path:
    """Three stages, two benchmarks (one with a StrongREJECT judge), 2 samples/item, items in pairs."""
    results = tmp_path / "results"
    write_synthetic_store(results, {"base": "base", "sft": "sft", "prod": "production"}, items=60, samples=2,
                          group_size=2, shifts={"sft": 1.0, "prod": 1.0}, unscored_fraction=0.03, seed=1)
    return results
