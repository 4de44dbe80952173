"""Training stages (pretrain -> SFT -> DPO) on Ray Train + DeepSpeed ZeRO.

    from stagewise.train import run_stages
    paths = run_stages(study.training, study.context(), study.tiny)    # model id -> HF dir + stagewise.json

Public: `run_stages(stages, ctx, tiny) -> dict[model id, Path]` (consecutive stages run as one chain on one
worker group; needs a Ray cluster), `run_stage(stage, ctx, tiny) -> Path`, `check_stage_inputs(stage)`,
`TrainStageConfig`, `TinyModelConfig`. A stage takes its own `training:` item and a `RunContext`, never the study.
Objectives (pretrain, sft, dpo, ...) are registered by name in `stagewise.train.objectives`, one module each
(`get_objective(name)`, `objective_names()`); adding one touches no other file.

The data path: `sources` (files, globs, `datasets` folders, hub ids -> blocks of rows) -> `prepare` (each block
checked, tokenized and packed into a Parquet file, in parallel on the cluster) -> `stream` (the run's seeded
order; each rank streams only its own rows). No process holds the data set.
"""
from stagewise.train.config import TinyModelConfig, TrainStageConfig
from stagewise.train.run import check_stage_inputs, run_stage, run_stages

__all__ = ["TinyModelConfig", "TrainStageConfig", "check_stage_inputs", "run_stage", "run_stages"]
