"""keras-retinanet: RetinaNet for Keras 3 (TensorFlow backend)."""

# ruff: noqa: E402  (the log level must be set before the imports below load TensorFlow)
# First, before TensorFlow loads: the console commands quiet its C++ logs.
from keras_retinanet.command_log_level import quiet_tensorflow_for_commands

quiet_tensorflow_for_commands()

from keras_retinanet import callbacks, label_codes
from keras_retinanet.layers import FeaturePyramid, ImageNormalization, PredictionHead
from keras_retinanet.losses import FocalLoss, SmoothL1Loss
from keras_retinanet.models import BACKBONES, RetinaNet, build_backbone
from keras_retinanet.ops import (
    AnchorGenerator,
    BoxCoder,
    BoxMatcher,
    DetectionDecoder,
    TargetEncoder,
)

# The trainer compiles models with these; importing them registers them with Keras, so
# `keras.models.load_model` restores a trained model's optimizer after `import keras_retinanet`.
from keras_retinanet.training import coupled_weight_decay_sgd as _coupled_weight_decay_sgd  # noqa: F401
from keras_retinanet.training import lr_schedule as _lr_schedule  # noqa: F401
from keras_retinanet.version import __version__

__all__ = [
    "BACKBONES",
    "AnchorGenerator",
    "BoxCoder",
    "BoxMatcher",
    "DetectionDecoder",
    "FeaturePyramid",
    "FocalLoss",
    "ImageNormalization",
    "PredictionHead",
    "RetinaNet",
    "SmoothL1Loss",
    "TargetEncoder",
    "__version__",
    "build_backbone",
    "callbacks",
    "label_codes",
]
