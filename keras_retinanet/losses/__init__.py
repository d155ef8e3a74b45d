from keras_retinanet.losses.alpha_balanced_cross_entropy import AlphaBalancedCrossEntropy
from keras_retinanet.losses.focal_loss import FocalLoss
from keras_retinanet.losses.ohem_loss import OhemLoss
from keras_retinanet.losses.positive_anchor_count import positive_anchor_count
from keras_retinanet.losses.smooth_l1_loss import SmoothL1Loss

__all__ = [
    "AlphaBalancedCrossEntropy",
    "FocalLoss",
    "OhemLoss",
    "SmoothL1Loss",
    "positive_anchor_count",
]
