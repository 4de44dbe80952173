"""Serving and evaluation in waves, when a study's checkpoints do not all fit the GPUs at once.

    waves = study_waves(study, gpu_cluster=True)   # [Wave(policies=[...], judges=[...], gpus=...), ...]

Every wave serves the judges (they grade every policy) and as many policies as fit beside them, in the study's
model order (so a family's models go together where they can); evaluation then runs on that wave's policies.
The GPUs available are the documented cluster's (`cluster.gpus_per_node x cluster.max_nodes`); `serving.
max_models_per_wave` caps the models served at once (on CPU, host memory is what runs out). When everything
fits, there is one wave. `stagewise plan` prints the waves; `stagewise run` serves them one after
another (stagewise/run.py); both ask this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stagewise.core.errors import StagewiseError

if TYPE_CHECKING:
    from stagewise.config import Study


@dataclass
class Wave:
    policies: list[str]
    judges: list[str]
    gpus: int  # GPUs this wave's engines take at max_replicas

    def models(self) -> list[str]:
        return self.policies + self.judges


def pack_waves(policies: list[tuple[str, int]], judges: list[tuple[str, int]], capacity: int | None,
               max_models: int | None = None) -> list[Wave]:
    """(model id, GPUs) of the policies, in order, packed into waves beside all the judges, each wave within
    `capacity` GPUs and `max_models` models (None: no bound). A policy that cannot fit even beside the judges
    alone fails, naming it and the numbers."""
    judge_gpus = sum(g for _, g in judges)
    judge_ids = [j for j, _ in judges]
    if max_models is not None and len(judges) + 1 > max_models:
        raise StagewiseError(f"serving.max_models_per_wave: {max_models} leaves no room for a policy beside the "
                             f"{len(judges)} judges served in every wave ({', '.join(judge_ids)})")
    fits_gpus = capacity is None or judge_gpus + sum(g for _, g in policies) <= capacity
    fits_count = max_models is None or len(judges) + len(policies) <= max_models
    if fits_gpus and fits_count:
        return [Wave([p for p, _ in policies], judge_ids, judge_gpus + sum(g for _, g in policies))]
    waves: list[Wave] = []
    for model, gpus in policies:
        if capacity is not None and judge_gpus + gpus > capacity:
            judged = ", ".join(f"{j} {g}" for j, g in judges) or "no judges"
            raise StagewiseError(
                f"serving: {model} ({gpus} GPUs) beside the judges ({judged}: {judge_gpus} GPUs, in every wave) "
                f"exceed cluster.max_nodes x gpus_per_node = {capacity}")
        last = waves[-1] if waves else None
        if (last is not None and (capacity is None or last.gpus + gpus <= capacity)
                and (max_models is None or len(last.models()) < max_models)):
            last.policies.append(model)
            last.gpus += gpus
        else:
            waves.append(Wave([model], judge_ids, judge_gpus + gpus))
    return waves


def study_waves(study: "Study", gpu_cluster: bool) -> list[Wave]:
    """The study's serving waves: the evaluated policies and the LLM judges, each taking tensor_parallel_size x
    max_replicas GPUs where it serves on a GPU (`serve.placement`, the app's own rule) and none on CPU."""
    from stagewise.evaluate.pipeline import evaluated_models
    from stagewise.serve.placement import serves_on_gpu

    def gpus(model_id: str) -> int:
        if not serves_on_gpu(study.serving, model_id, gpu_cluster):
            return 0
        cfg = study.serving.for_model(model_id)
        return cfg.tensor_parallel_size * cfg.max_replicas

    policies = list(evaluated_models(study.evaluation, study.context()))
    judges = list(dict.fromkeys(j.strip() for a in study.evaluation.autoraters if a.kind == "llm_judge" and a.judge_model
                                for j in a.judge_model.split(",") if j.strip() not in policies))
    capacity = study.cluster.gpus_per_node * study.cluster.max_nodes if gpu_cluster else None
    return pack_waves([(p, gpus(p)) for p in policies], [(j, gpus(j)) for j in judges], capacity,
                      study.serving.max_models_per_wave)
