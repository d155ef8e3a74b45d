from keras_retinanet.ops.anchor_generator import AnchorGenerator
from keras_retinanet.ops.box_coder import BoxCoder
from keras_retinanet.ops.box_matcher import BoxMatcher
from keras_retinanet.ops.detection_decoder import DetectionDecoder
from keras_retinanet.ops.iou import pairwise_ioa, pairwise_iou
from keras_retinanet.ops.target_encoder import TargetEncoder

__all__ = [
    "AnchorGenerator",
    "BoxCoder",
    "BoxMatcher",
    "DetectionDecoder",
    "TargetEncoder",
    "pairwise_ioa",
    "pairwise_iou",
]
