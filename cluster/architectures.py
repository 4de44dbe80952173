"""How big a model is, without downloading it: parameter counts and the dimensions memory planning needs.

    shape = model_shape("allenai/OLMo-2-1124-7B")     # -> ModelShape(params=7.30e9, ...)

A local HF directory is read from its own `config.json`; a hub id is looked up in KNOWN_CONFIGS (the
`config.json` fields of the checkpoints our configs name, copied from their Hub model cards); either way the
model is built by transformers on the meta device (no memory, no weights), so the count is exact for any
architecture transformers knows rather than a formula of ours.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

# config.json fields (only those that set parameter count and memory) of checkpoints the shipped configs use.
_OLMO2_7B = dict(model_type="olmo2", vocab_size=100352, hidden_size=4096, intermediate_size=11008,
                 num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                 max_position_embeddings=4096, tie_word_embeddings=False)
_OLMO2_13B = dict(_OLMO2_7B, hidden_size=5120, intermediate_size=13824, num_hidden_layers=40,
                  num_attention_heads=40, num_key_value_heads=40)
_QWEN25_72B = dict(model_type="qwen2", vocab_size=152064, hidden_size=8192, intermediate_size=29568,
                   num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8,
                   max_position_embeddings=32768, tie_word_embeddings=False)
_LLAMA31_8B = dict(model_type="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                   num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                   max_position_embeddings=131072, tie_word_embeddings=False)
_LLAMA33_70B = dict(_LLAMA31_8B, hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                    num_attention_heads=64)

KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    **{f"allenai/OLMo-2-1124-7B{s}": _OLMO2_7B for s in ("", "-SFT", "-DPO", "-Instruct")},
    **{f"allenai/OLMo-2-1124-13B{s}": _OLMO2_13B for s in ("", "-SFT", "-DPO", "-Instruct")},
    "Qwen/Qwen2.5-72B-Instruct": _QWEN25_72B,
    "meta-llama/Llama-3.1-8B-Instruct": _LLAMA31_8B,
    "meta-llama/Llama-3.1-8B": _LLAMA31_8B,
    # Tulu 3 on Llama 3.1 8B (configs/published-study.yaml): the base's architecture, post-trained.
    **{f"allenai/Llama-3.1-Tulu-3-8B{s}": _LLAMA31_8B for s in ("", "-SFT", "-DPO")},
    "meta-llama/Llama-3.3-70B-Instruct": _LLAMA33_70B,
}


@dataclass(frozen=True)
class ModelShape:
    params: int
    largest_layer_params: int  # what ZeRO-3 gathers at once (DeepSpeed's estimator needs it)
    # None when only a parameter count is known (cluster.models_params_b): no activation / KV-cache estimate.
    hidden_size: int | None = None
    num_layers: int | None = None
    num_heads: int | None = None
    num_kv_heads: int | None = None
    vocab_size: int | None = None

    @property
    def head_dim(self) -> int | None:
        if self.hidden_size is None or not self.num_heads:
            return None
        return self.hidden_size // self.num_heads

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int | None:
        """K and V for every layer: what one token of context costs vLLM's cache."""
        if self.num_layers is None or self.head_dim is None:
            return None
        return 2 * self.num_layers * (self.num_kv_heads or self.num_heads) * self.head_dim * dtype_bytes


def known_config(source: str) -> dict[str, Any] | None:
    """The config.json fields of a local HF dir or a known hub id; None when neither."""
    path = Path(source)
    if (path / "config.json").is_file():
        return json.loads((path / "config.json").read_text(encoding="utf-8"))
    return KNOWN_CONFIGS.get(source)


def shape_from_config(config: dict[str, Any]) -> ModelShape:
    return _shape(json.dumps(config, sort_keys=True))


def shape_from_params(params_b: float) -> ModelShape:
    params = int(params_b * 1e9)
    # Without the architecture, assume the embedding is the largest layer at ~6% of a 7B-class model.
    return ModelShape(params=params, largest_layer_params=int(params * 0.06))


def model_shape(source: str) -> ModelShape | None:
    config = known_config(source)
    return shape_from_config(config) if config is not None else None


@lru_cache(maxsize=32)
def _shape(config_json: str) -> ModelShape:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = json.loads(config_json)
    model_type = fields.pop("model_type")
    for key in ("architectures", "transformers_version", "torch_dtype", "dtype", "auto_map"):
        fields.pop(key, None)
    config = AutoConfig.for_model(model_type, **fields)
    with torch.device("meta"):  # shapes only: a 72B model costs no memory here
        model = AutoModelForCausalLM.from_config(config)
    params = sum(p.numel() for p in model.parameters())  # tied weights are counted once by parameters()
    # DeepSpeed's own definition (estimate_zero3_model_states_mem_needs_all_live): a module's direct params.
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return ModelShape(
        params=params,
        largest_layer_params=largest,
        hidden_size=getattr(text, "hidden_size", None),
        num_layers=getattr(text, "num_hidden_layers", None),
        num_heads=getattr(text, "num_attention_heads", None),
        num_kv_heads=getattr(text, "num_key_value_heads", None) or getattr(text, "num_attention_heads", None),
        vocab_size=getattr(text, "vocab_size", None),
    )
