"""Training library: typed configs, schedules, optimizer, strategies, callbacks, `train()`."""

from keras_retinanet.training.coupled_weight_decay_sgd import CoupledWeightDecaySGD
from keras_retinanet.training.lr_schedule import WarmupCosineDecay, WarmupStepDecay
from keras_retinanet.training.runtime_setup import setup_runtime
from keras_retinanet.training.train_config import (
    AugmentationSettings,
    CheckpointConfig,
    DataConfig,
    DatasetSpec,
    EvaluationConfig,
    ModelConfig,
    OptimizerConfig,
    RuntimeConfig,
    ScheduleConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
)
from keras_retinanet.training.trainer import TrainResult, train

__all__ = [
    "AugmentationSettings",
    "CheckpointConfig",
    "CoupledWeightDecaySGD",
    "DataConfig",
    "DatasetSpec",
    "EvaluationConfig",
    "ModelConfig",
    "OptimizerConfig",
    "RuntimeConfig",
    "ScheduleConfig",
    "TrainConfig",
    "TrainResult",
    "WarmupCosineDecay",
    "WarmupStepDecay",
    "config_from_dict",
    "config_to_dict",
    "setup_runtime",
    "train",
]
