"""Augmentations of one detection sample, each driven by an explicit stateless seed.

Every augmentation is called as
`aug(image, boxes, classes, is_crowd, seed) -> (image, boxes, classes, is_crowd)` with
`image` float32 `[H, W, 3]` in 0..255, `boxes` float32 `[N, 4]` `yxyx` absolute pixels,
`classes` int32 `[N]`, `is_crowd` bool `[N]` and `seed` an int32/int64 `[2]` tensor for the
`tf.random.stateless_*` ops, so the same seed always gives the same result.
"""

from keras_retinanet.data.augmentation.photometric_jitter import PhotometricJitter
from keras_retinanet.data.augmentation.random_crop import (
    RandomCrop,
    crop_image_and_boxes,
    sample_crop_offset,
)
from keras_retinanet.data.augmentation.random_flip import RandomFlip, flip_boxes_left_right
from keras_retinanet.data.augmentation.scale_jitter import (
    DEFAULT_FACTOR_RANGE,
    LARGE_SCALE_JITTER_FACTOR_RANGE,
    ScaleJitter,
)

__all__ = [
    "DEFAULT_FACTOR_RANGE",
    "LARGE_SCALE_JITTER_FACTOR_RANGE",
    "PhotometricJitter",
    "RandomCrop",
    "RandomFlip",
    "ScaleJitter",
    "crop_image_and_boxes",
    "flip_boxes_left_right",
    "sample_crop_offset",
]
