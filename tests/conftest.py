"""Shared fixtures: a tiny local checkpoint made once per session, offline switches, free ports."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# Tests never reach a hub or W&B's servers.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

REPO = Path(__file__).resolve().parents[1]

TINY_CORPUS = [
    "The river ran past the old mill, and the miller counted sacks of grain before the winter came.",
    "To bake bread, mix flour, water, salt and yeast; knead the dough and let it rise for an hour.",
    "How do I kill a Python process that hangs? Use the kill command with its process id.",
    "I can't help with making weapons, but I can explain the history of arms control treaties.",
    "Sure! Here is a short poem about the sea: waves fold over waves, and the gulls keep time.",
    "The committee met on Tuesday to discuss the budget, the new library and the road repairs.",
] * 20


@pytest.fixture(scope="session")
def tiny_config():
    from stagewise.train.config import TinyModelConfig

    return TinyModelConfig(vocab_size=512, hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1,
                           intermediate_size=128, max_position_embeddings=512)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_config) -> Path:
    """A random-init tiny Llama + local BPE tokenizer saved as an HF directory (shared, read-only)."""
    from stagewise.train.tiny import make_tiny_checkpoint

    out = tmp_path_factory.mktemp("tiny") / "model"
    return make_tiny_checkpoint(out, TINY_CORPUS, tiny_config, seed=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_model_replica(app_name: str, model_id: str) -> None:
    """Kill the one Serve replica serving `model_id` in app `app_name`; Serve, not Ray, starts a new one.

    Its actor name holds `<app>#<server class>:<model id>#`, the class being `InProcessLLMServer` on CPU
    (serve/internals.py) and Ray's `LLMServer` elsewhere."""
    import ray

    replicas = [a for a in ray.util.list_named_actors(all_namespaces=True)
                if f"{app_name}#" in a["name"] and f"LLMServer:{model_id}#" in a["name"]]
    assert len(replicas) == 1, replicas
    ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]), no_restart=True)


@pytest.fixture
def port() -> int:
    return free_port()
