"""Direct preference optimisation (Rafailov et al., 2023) against a frozen copy of the starting model.

Rows: `prompt` (text or messages) or `messages`, plus `chosen` and `rejected`. Each row holds both answers as
`chosen_*` and `rejected_*` columns, log-probs taken on the answer tokens only; a pair whose longer side exceeds
`max_seq_len` is skipped and counted. No packing: the loss compares whole sequences. `logp_margin` (the policy's
chosen minus rejected log-prob) is kept per step.
"""
from __future__ import annotations

from stagewise.train.data import Preference, dpo_row, read_dpo
from stagewise.train.objectives import Objective, register_objective


@register_objective
class DPO(Objective):
    name = "dpo"
    supports_packing = False
    needs_reference = True
    curves = ("logp_margin",)
    sequences_per_row = 2  # chosen and rejected
    flops_per_param_token = 8  # the reference model's forward adds 2 to forward + backward

    def samples(self, where, record):
        return [dpo_row(where, record)]

    def tokenizer_texts(self, paths):
        return [t for p in read_dpo(paths) for t in [*(m["content"] for m in p.prompt), p.chosen, p.rejected]]

    def columns(self, rows, tokenizer, stage, pad_id, fits):
        from stagewise.train.examples import fixed_width

        chosen, rejected = [], []
        for p in rows:
            c, r = dpo_tokens(tokenizer, p)
            if fits(max(len(c[0]), len(r[0])), p.where):
                chosen.append(c)
                rejected.append(r)
        width = stage.max_seq_len
        cols = {f"chosen_{k}": v for k, v in fixed_width(chosen, width, pad_id, pack=False).items()}
        return cols | {f"rejected_{k}": v for k, v in fixed_width(rejected, width, pad_id, pack=False).items()}

    def loss(self, model, ref, batch, stage):
        """With `ref_chosen_logps`/`ref_rejected_logps` in the batch (stage.dpo_reference "logprobs": computed in
        a first pass) no reference model runs; else `ref`'s forward gives them."""
        import torch

        from stagewise.train.losses import dpo_loss

        if "ref_chosen_logps" in batch:
            ref_chosen, ref_rejected = batch["ref_chosen_logps"], batch["ref_rejected_logps"]
        else:
            with torch.no_grad():
                ref_chosen, ref_rejected = self.reference_logps(ref, batch)
        chosen, rejected = self.reference_logps(model, batch)
        return dpo_loss(chosen, rejected, ref_chosen, ref_rejected, stage.dpo_beta)

    def reference_logps(self, model, batch):
        """(chosen, rejected) answer log-probs [micro_batch] of `model` (both sides in one forward)."""
        import torch

        from stagewise.train.losses import sequence_logps

        cat = {k: torch.cat([batch[f"chosen_{k}"], batch[f"rejected_{k}"]]) for k in ("input_ids", "position_ids", "labels")}
        n = batch["chosen_length"].shape[0]
        logps = sequence_logps(model, **cat)
        return logps[:n], logps[n:]


def dpo_tokens(tokenizer, pair: Preference) -> tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]:
    """(ids, labels) for the chosen and the rejected conversation; loss (log-prob) only on the answer."""
    from stagewise.train.examples import IGNORE, chat_ids

    prompt_len = len(chat_ids(tokenizer, pair.prompt, True))

    def one(answer: str):
        ids = chat_ids(tokenizer, [*pair.prompt, {"role": "assistant", "content": answer}], False)
        return ids, [IGNORE] * prompt_len + ids[prompt_len:]

    return one(pair.chosen), one(pair.rejected)
