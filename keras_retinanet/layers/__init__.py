from keras_retinanet.layers.feature_pyramid import FeaturePyramid
from keras_retinanet.layers.image_normalization import ImageNormalization
from keras_retinanet.layers.prediction_head import PredictionHead, prior_bias

__all__ = ["FeaturePyramid", "ImageNormalization", "PredictionHead", "prior_bias"]
