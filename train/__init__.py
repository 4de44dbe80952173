"""Training stages (pretrain -> SFT -> DPO) on Ray Train + DeepSpeed ZeRO.

    from stagewise.train import run_stage, run_training
    path = run_stage(study, study.training[0])    # HF dir + stagewise.json

Public: `run_stage(study, stage) -> Path`, `run_stages(study, stages) -> dict[model id, Path]` (consecutive
stages run as one chain on one worker group), `run_training(study)` (all of them), `TrainStageConfig`.
"""
from stagewise.train.config import TrainStageConfig
from stagewise.train.run import run_stage, run_stages, run_training

__all__ = ["TrainStageConfig", "run_stage", "run_stages", "run_training"]
