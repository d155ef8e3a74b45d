"""Training-time hooks usable from plain `model.fit` (one concern per callback).

Layering: depends on keras only (next to `models`); `evaluation` and `training` use it.
"""

from keras_retinanet.callbacks.precise_batch_norm import (
    DEFAULT_PRECISE_BN_IMAGES,
    PreciseBatchNorm,
    recompute_batch_norm_statistics,
    trainable_batch_norm_layers,
)
from keras_retinanet.callbacks.step_log_line import StepLogLine

__all__ = [
    "DEFAULT_PRECISE_BN_IMAGES",
    "PreciseBatchNorm",
    "StepLogLine",
    "recompute_batch_norm_statistics",
    "trainable_batch_norm_layers",
]
