"""Random rescaling of an image around a target scale, cropped back to an output canvas."""

import dataclasses
from typing import Any

import tensorflow as tf

from keras_retinanet.data.augmentation._sample_checks import (
    check_probability,
    check_sample,
)
from keras_retinanet.data.augmentation.random_crop import (
    DEFAULT_MIN_AREA_FRACTION,
    crop_image_and_boxes,
    sample_crop_offset,
)
from keras_retinanet.data.resize_and_pad import DEFAULT_RESIZE_METHOD, resize_image_and_boxes

# Mild jitter around the target size, and large-scale jitter (Ghiasi et al., 2021).
DEFAULT_FACTOR_RANGE = (0.8, 1.2)
LARGE_SCALE_JITTER_FACTOR_RANGE = (0.1, 2.0)


@dataclasses.dataclass(frozen=True)
class ScaleJitter:
    """Resizes an image by `target_scale * f`, `f ~ U[low, high]`, then crops it to a canvas.

    `target_scale` is the per-axis scale the plain resize would apply (for example
    `resize_and_pad.compute_resize_scale` of the image), so `f = 1` gives the un-jittered
    network-input size, `f > 1` zooms in and `f < 1` zooms out; without it the jitter is
    relative to the current size. When `output_size` is given and the rescaled image is
    larger on an axis, a random window of `min(rescaled, output_size)` is cropped, with the
    box rule of `random_crop` (boxes clipped; objects whose visible area is below
    `min_area_fraction` of their area dropped). The result fits into `output_size` and is
    padded by the caller. Sides are rounded to whole pixels and boxes use the applied scale.

    Args:
        factor_range: `(low, high)` with `0 < low <= high`, e.g. `DEFAULT_FACTOR_RANGE`
            (0.8, 1.2) or `LARGE_SCALE_JITTER_FACTOR_RANGE` (0.1, 2.0).
        min_area_fraction: in `[0, 1]`, for objects cut by the crop to `output_size`.
        method: a `tf.image.ResizeMethod` name.

    Call args:
        image: float32 `[H, W, 3]`.
        boxes: float32 `[N, 4]` `yxyx` pixels of `image`.
        classes: int32 `[N]`.
        is_crowd: bool `[N]`.
        seed: int32/int64 `[2]` stateless seed.
        target_scale: optional float `[2]`, `(sy, sx)` at `f = 1`; default `(1, 1)`.
        output_size: optional int `[2]`, `(height, width)` the result must fit into.

    Returns:
        `(image [H', W', 3], boxes [M, 4] yxyx pixels of the new image, classes [M],
        is_crowd [M])`, `M <= N` (`M = N` without `output_size`).
    """

    factor_range: tuple[float, float] = DEFAULT_FACTOR_RANGE
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION
    method: str = DEFAULT_RESIZE_METHOD

    def __post_init__(self):
        object.__setattr__(self, "factor_range", tuple(self.factor_range))
        if len(self.factor_range) != 2 or not 0.0 < self.factor_range[0] <= self.factor_range[1]:
            raise ValueError(
                "`factor_range` must be (low, high) with 0 < low <= high; "
                f"got {self.factor_range!r}."
            )
        check_probability("min_area_fraction", self.min_area_fraction)

    def __call__(
        self,
        image: tf.Tensor,
        boxes: tf.Tensor,
        classes: tf.Tensor,
        is_crowd: tf.Tensor,
        seed: tf.Tensor,
        target_scale: tf.Tensor | None = None,
        output_size: tf.Tensor | None = None,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        image, boxes, classes, is_crowd, seed = check_sample(image, boxes, classes, is_crowd, seed)
        factor_seed, offset_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        low, high = self.factor_range
        factor = tf.random.stateless_uniform([], factor_seed, minval=low, maxval=high)
        if target_scale is None:
            target_scale = tf.ones([2], tf.float32)
        scale = tf.cast(target_scale, tf.float32) * factor
        image, boxes, _ = resize_image_and_boxes(image, boxes, scale, self.method)
        if output_size is None:
            return image, boxes, classes, is_crowd

        image_size = tf.shape(image)[:2]
        crop_size = tf.minimum(image_size, tf.cast(output_size, tf.int32))
        offset = sample_crop_offset(image_size, crop_size, offset_seed)
        return tf.cond(
            tf.reduce_any(crop_size < image_size),
            lambda: crop_image_and_boxes(
                image, boxes, classes, is_crowd, offset, crop_size, self.min_area_fraction
            ),
            lambda: (image, boxes, classes, is_crowd),
        )

    def get_config(self) -> dict[str, Any]:
        """Returns every constructor argument."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ScaleJitter":
        """Rebuilds the augmentation from `get_config()`."""
        return cls(**config)
