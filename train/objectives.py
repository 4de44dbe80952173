"""The losses: causal LM on labelled tokens (pretrain, sft) and DPO against a frozen reference.

Both read the rows `train.examples` builds; labels are -100 where a token carries no loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from stagewise.train.examples import IGNORE


# Config fields with which a model's forward changes the output head's logits (Gemma 2's soft-capping, Cohere's
# scale): such models get their logits from their own forward, at every position.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale")


def token_nll(lm, input_ids: torch.Tensor, position_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token negative log-likelihood [batch, seq-1] of a HF causal LM (0 where no loss), in fp32.

    The output head runs only where a token carries loss: about half of an SFT or DPO row is prompt or
    padding, and the head (vocab x hidden) plus its cross-entropy is the largest part of a small model's step.
    """
    # Shift the labels, not the logits: cross-entropy over contiguous [tokens, vocab] rows is ~2.5x faster on
    # CPU than over a sliced, transposed [batch, vocab, seq] view (a quarter of the demo's training step).
    target = torch.cat([labels[:, 1:], labels.new_full((labels.shape[0], 1), IGNORE)], dim=1).long()
    keep = target != IGNORE
    if any(getattr(lm.config, f, None) is not None for f in _LOGIT_TRANSFORMS):
        logits = lm(input_ids=input_ids, position_ids=position_ids, use_cache=False).logits[keep]
    else:
        hidden = lm.get_decoder()(input_ids=input_ids, position_ids=position_ids, use_cache=False).last_hidden_state
        logits = lm.get_output_embeddings()(hidden[keep])
    nll = torch.zeros(target.shape, dtype=torch.float32, device=target.device)
    nll[keep] = F.cross_entropy(logits.float(), target[keep], reduction="none")
    return nll[:, :-1]


class TokenNLL(torch.nn.Module):
    """The module DeepSpeed wraps: a HF causal LM (`.lm`) whose forward returns `token_nll`.

    The loss-only head has to run inside the engine's forward: DeepSpeed hooks the backward pass on that
    forward's output, and ZeRO-3 gathers each submodule's parameters as the forward reaches it.
    """

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return token_nll(self.lm, input_ids, position_ids, labels)


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
