"""Servable tiny checkpoints for serve/ tests.

vLLM's CPU attention supports head sizes of 32 and up, so these checkpoints use hidden 64 with 2 heads
(head_dim 32); the session's `tiny_model_dir` (head_dim 16) loads in vLLM but fails on the first request.
"""
from pathlib import Path

import pytest

from tests.conftest import TINY_CORPUS


@pytest.fixture(scope="session")
def servable_tiny_config():
    from stagewise.train.config import TinyModelConfig

    return TinyModelConfig(vocab_size=512, hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1,
                           intermediate_size=128, max_position_embeddings=512)


@pytest.fixture(scope="session")
def two_checkpoints(tmp_path_factory, servable_tiny_config) -> dict[str, Path]:
    """Two tiny models that differ only in their random weights (seeds 0 and 1), as served model ids."""
    from stagewise.train.tiny import make_tiny_checkpoint

    root = tmp_path_factory.mktemp("serve-ckpts")
    return {
        "alpha": make_tiny_checkpoint(root / "alpha", TINY_CORPUS, servable_tiny_config, seed=0),
        "beta": make_tiny_checkpoint(root / "beta", TINY_CORPUS, servable_tiny_config, seed=1),
    }
