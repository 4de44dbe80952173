"""Training stages (pretrain -> SFT -> DPO) on Ray Train + DeepSpeed ZeRO.

    from train import run_stage, run_training
    path = run_stage(study, study.training[0])    # HF dir + stagewise.json

Public: `run_stage(study, stage) -> Path`, `run_training(study) -> dict[model id, Path]`, `TrainStageConfig`.
"""
from train.config import TrainStageConfig
from train.run import run_stage, run_training

__all__ = ["TrainStageConfig", "run_stage", "run_training"]
