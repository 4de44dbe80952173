"""The losses: per-token NLL of a causal LM on labelled tokens, and DPO against a frozen reference.

Both read the rows `train.examples` builds; labels are -100 where a token carries no loss. Which objective uses
which is said in `train/objectives/`.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from stagewise.train.examples import IGNORE

log = logging.getLogger(__name__)

_PLAIN_HEAD: dict[tuple[type, str], bool] = {}  # (model class, its config as JSON) -> plain_output_head's answer


def plain_output_head(lm) -> bool:
    """Whether a HF causal LM's forward logits are exactly its output head over its decoder's last hidden state,
    so that `token_nll` may run the head at loss positions only. Decided once per model class and config, on the
    plain model (before DeepSpeed wraps it); no grad, no RNG, the model's state and modes left as they were.

    One forward on a few token ids, with the head's output replaced by large logits of both signs: the forward
    must return them unchanged (no scale, soft-cap or shift after the head: Granite's `logits_scaling`, Gemma 2's
    soft-cap) and must have fed the head the decoder's own output (no scaling before it). Comparing the model's
    logits with the head's directly would miss a soft-cap whenever the probe's logits are small, as a
    random-init model's are.
    """
    key = (type(lm), lm.config.to_json_string())
    if key not in _PLAIN_HEAD:
        _PLAIN_HEAD[key] = _forward_is_head_over_decoder(lm)
        if not _PLAIN_HEAD[key]:
            log.warning("%s: its forward changes the output head's logits; the loss uses the model's own forward "
                        "(the output head at every position)", type(lm).__name__)
    return _PLAIN_HEAD[key]


def _forward_is_head_over_decoder(lm) -> bool:
    device = next(lm.parameters()).device
    ids = (torch.arange(1, 7, device=device) % lm.config.vocab_size)[None]
    positions = torch.arange(ids.shape[1], device=device)[None]
    head_inputs, probes = [], []

    def probe(module, args, output):
        head_inputs.append(args[0])
        probes.append(torch.linspace(-50, 50, output.numel(), dtype=output.dtype, device=device).view(output.shape))
        return probes[-1]

    modes = {m: m.training for m in lm.modules()}
    lm.eval()  # no dropout: the probe draws no random numbers
    handle = lm.get_output_embeddings().register_forward_hook(probe)
    try:
        with torch.no_grad():
            logits = lm(input_ids=ids, position_ids=positions, use_cache=False).logits
            hidden = lm.get_decoder()(input_ids=ids, position_ids=positions, use_cache=False).last_hidden_state
    finally:
        handle.remove()
        for m, training in modes.items():
            m.training = training
    if len(probes) != 1 or logits.shape != probes[0].shape or head_inputs[0].shape != hidden.shape:
        return False
    return (torch.allclose(logits.float(), probes[0].float(), rtol=1e-5, atol=1e-5)
            and torch.allclose(head_inputs[0].float(), hidden.float(), rtol=1e-4, atol=1e-5))


def token_nll(lm, input_ids: torch.Tensor, position_ids: torch.Tensor, labels: torch.Tensor,
              loss_only_head: bool | None = None) -> torch.Tensor:
    """Per-token negative log-likelihood [batch, seq-1] of a HF causal LM (0 where no loss), in fp32.

    With `loss_only_head` (None: `plain_output_head(lm)`) the output head runs only where a token carries loss:
    about half of an SFT or DPO row is prompt or padding, and the head (vocab x hidden) plus its cross-entropy is
    the largest part of a small model's step. Without it the model's own forward gives the logits.
    """
    if loss_only_head is None:
        loss_only_head = plain_output_head(lm)
    # Shift the labels, not the logits: cross-entropy over contiguous [tokens, vocab] rows is ~2.5x faster on
    # CPU than over a sliced, transposed [batch, vocab, seq] view (a quarter of the demo's training step).
    target = torch.cat([labels[:, 1:], labels.new_full((labels.shape[0], 1), IGNORE)], dim=1).long()
    keep = target != IGNORE
    if loss_only_head:
        hidden = lm.get_decoder()(input_ids=input_ids, position_ids=position_ids, use_cache=False).last_hidden_state
        logits = lm.get_output_embeddings()(hidden[keep])
    else:
        logits = lm(input_ids=input_ids, position_ids=position_ids, use_cache=False).logits[keep]
    nll = torch.zeros(target.shape, dtype=torch.float32, device=target.device)
    nll[keep] = F.cross_entropy(logits.float(), target[keep], reduction="none")
    return nll[:, :-1]


class TokenNLL(torch.nn.Module):
    """The module DeepSpeed wraps: a HF causal LM (`.lm`) whose forward returns `token_nll`.

    The loss-only head has to run inside the engine's forward: DeepSpeed hooks the backward pass on that
    forward's output, and ZeRO-3 gathers each submodule's parameters as the forward reaches it. Build it on the
    plain model: `loss_only_head=None` decides it here, by `plain_output_head(lm)`.
    """

    def __init__(self, lm, loss_only_head: bool | None = None):
        super().__init__()
        self.lm = lm
        self.loss_only_head = plain_output_head(lm) if loss_only_head is None else loss_only_head

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return token_nll(self.lm, input_ids, position_ids, labels, self.loss_only_head)


def lm_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Mean NLL over the micro-batch's loss tokens, and how many there were (`model`: a `TokenNLL`, or a
    DeepSpeed engine around one)."""
    nll = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], labels=batch["labels"])
    n = int((batch["labels"][:, 1:] != IGNORE).sum())
    return nll.sum() / max(n, 1), n


def sequence_logps(model, input_ids, position_ids, labels) -> torch.Tensor:
    """Sum of the answer tokens' log-probs per sequence [batch] (`model`: as for `lm_loss`)."""
    return -model(input_ids=input_ids, position_ids=position_ids, labels=labels).sum(-1)


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Rafailov et al. (2023): -log sigmoid(beta * (policy log-ratio margin - reference log-ratio margin))."""
    logits = (policy_chosen - policy_rejected) - (ref_chosen - ref_rejected)
    loss = -F.logsigmoid(beta * logits).mean()
    with torch.no_grad():
        stats = {
            "reward_margin": float(beta * logits.mean()),
            "reward_accuracy": float((logits > 0).float().mean()),
            "logp_margin": float((policy_chosen - policy_rejected).mean()),
        }
    return loss, stats
