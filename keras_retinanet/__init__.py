"""keras-retinanet: RetinaNet for Keras 3 (TensorFlow backend)."""

from keras_retinanet import label_codes
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
    "label_codes",
]
