"""Training objectives, registered by name: what a stage's `objective:` selects.

    from stagewise.train.objectives import get_objective
    dpo = get_objective("dpo")
    pairs = dpo.read(["data/demo/dpo.jsonl"])      # checked rows; a bad row raises StagewiseError

## Adding an objective (KTO, SimPO, ...)
Write one module in `train/objectives/` (imported by `discover()`, no other file to edit):

    @register_objective
    class SimPO(Objective):
        name = "simpo"
        supports_packing = False
        sequences_per_row = 2            # for the planner: chosen and rejected
        curves = ("logp_margin",)        # per-step statistics: lineage `logp_margin_curve`, W&B `train/logp_margin`

        def samples(self, where, record): ...                   # one row checked (train.data's checks) -> samples
        def tokenizer_texts(self, paths): ...                   # what a tiny model's tokenizer is trained on
        def columns(self, rows, tokenizer, stage, pad_id, fits): ...  # fixed-width arrays (train.examples.fixed_width)
        def loss(self, model, ref, batch, stage): ...           # (loss, {curve: value}); default: next-token NLL

Keep the module's top free of torch, transformers, ray and pyarrow (import them inside the methods):
`train/config.py` checks `objective:` against this registry whenever a study config is loaded, CLI included.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from stagewise.core.errors import StagewiseError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from stagewise.train.config import TrainStageConfig


class Objective:
    """A training objective: how its rows are read and tokenized, and the loss one micro-batch gives."""

    name: ClassVar[str]
    supports_packing: ClassVar[bool] = True
    # The starting model's log-probs are the loss's reference: `reference_logps(model, batch)` gives them, once in a
    # first pass (stage.dpo_reference "logprobs", then in the batch) or from a frozen copy passed as `ref` ("model").
    needs_reference: ClassVar[bool] = False
    curves: ClassVar[tuple[str, ...]] = ()  # keys of `loss`'s statistics averaged per step and kept as curves
    # Sizing facts the resource planner reads: sequences in one example row, and training FLOPs per parameter
    # per trained token (6: forward + backward; a frozen reference's forward adds 2).
    sequences_per_row: ClassVar[int] = 1
    flops_per_param_token: ClassVar[int] = 6

    def samples(self, where: str, record: Any) -> list[Any]:
        """One source row checked and turned into samples (usually one; a `.txt` file's documents for pretrain).
        Bad input: StagewiseError naming `where` (train/data.py's checks)."""
        raise NotImplementedError

    def read(self, paths: list[str]) -> list[Any]:
        """Every sample of the stage's data, for small inputs (tests, a tiny model's tokenizer); training
        streams blocks of them instead (train/prepare.py)."""
        from stagewise.train.sources import plan_blocks, read_block

        return [s for b in plan_blocks(paths) for where, rec in read_block(b) for s in self.samples(where, rec)]

    def tokenizer_texts(self, paths: list[str]) -> list[str]:
        """The stage's own text, for training a tiny model's tokenizer (init: tiny)."""
        raise NotImplementedError

    def columns(self, rows: list[Any], tokenizer, stage: "TrainStageConfig", pad_id: int,
                fits: Callable[[int, str], bool]) -> "dict[str, np.ndarray]":
        """The rows as `train.examples` columns; `fits(n_tokens, where)` says whether a sample fits
        `max_seq_len` and counts the skipped ones."""
        raise NotImplementedError

    def loss(self, model, ref, batch: "dict[str, torch.Tensor]",
             stage: "TrainStageConfig") -> "tuple[torch.Tensor, dict[str, float]]":
        """One micro-batch's loss and statistics (at least `curves`). `model`: a `losses.TokenNLL` or a DeepSpeed
        engine around one; `ref`: the frozen reference's `TokenNLL` when `needs_reference`, else None. The
        default is next-token NLL on the labelled tokens (pretrain, sft); other objectives override it."""
        from stagewise.train.losses import lm_loss

        loss, _ = lm_loss(model, batch)
        return loss, {}


OBJECTIVES: dict[str, type[Objective]] = {}
_T = TypeVar("_T", bound=type[Objective])
_discovered = False
_FIRST = ("pretrain", "sft", "dpo")  # listed first, in the usual stage order; any others after, by name


def register_objective(cls: _T) -> _T:
    name = getattr(cls, "name", None)
    if not name:
        raise TypeError(f"{cls.__qualname__}: an objective needs a `name`")
    if name in OBJECTIVES and OBJECTIVES[name].__qualname__ != cls.__qualname__:
        raise TypeError(f"objective {name!r} is registered twice ({OBJECTIVES[name].__qualname__}, {cls.__qualname__})")
    OBJECTIVES[name] = cls
    return cls


def discover() -> None:
    """Import every module of train/objectives/ so they register themselves."""
    global _discovered
    if _discovered:
        return
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    _discovered = True


def get_objective(name: str) -> Objective:
    discover()
    if name not in OBJECTIVES:
        raise StagewiseError(f"unknown training objective {name!r} (registered: {', '.join(objective_names())})")
    return OBJECTIVES[name]()


def objective_names() -> list[str]:
    discover()
    return sorted(OBJECTIVES, key=lambda n: (_FIRST.index(n) if n in _FIRST else len(_FIRST), n))
