from keras_retinanet.models.backbone import BACKBONES, build_backbone
from keras_retinanet.models.retinanet import RetinaNet

__all__ = ["BACKBONES", "RetinaNet", "build_backbone"]
