"""Random crop of an image that keeps its boxes consistent with the cropped pixels.

Box rule (shared by `RandomCrop` and the crop step of `ScaleJitter`): every box is shifted
into the crop's coordinates and clipped to the crop, `[0, crop_height] x [0, crop_width]`.
An object is kept only when its clipped box has a positive height and width and its
visible area is at least `min_area_fraction` times its original area; the others (objects
cut away or cut down to a sliver) are dropped together with their class and crowd flag.
Zero-area input boxes therefore never survive a crop. Clipping cannot invert a box or make
a NaN out of finite coordinates, and a box with a NaN coordinate fails the comparisons and
is dropped, so the output boxes always satisfy `0 <= ymin <= ymax <= crop_height` (and the
same for x). A crop may drop every object; the image is then kept with zero boxes.
"""

import dataclasses
from typing import Any

import tensorflow as tf

from keras_retinanet.data.augmentation._sample_checks import (
    check_probability,
    check_range,
    check_sample,
)

DEFAULT_CROP_PROBABILITY = 0.5
DEFAULT_SIDE_FRACTION_RANGE = (0.5, 1.0)
DEFAULT_MIN_AREA_FRACTION = 0.3


def sample_crop_offset(image_size: tf.Tensor, crop_size: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Uniformly random top-left corner of a `crop_size` window inside an image.

    Args:
        image_size: int32 `[2]`, `(height, width)`.
        crop_size: int32 `[2]`, `(crop_height, crop_width)`, each at most the image side.
        seed: int32/int64 `[2]` stateless seed.

    Returns:
        int32 `[2]`, `(y, x)` with `0 <= y <= height - crop_height` (same for x).
    """
    max_offset = tf.cast(image_size, tf.int32) - tf.cast(crop_size, tf.int32)
    uniform = tf.random.stateless_uniform([2], seed)
    offset = tf.cast(tf.floor(uniform * tf.cast(max_offset + 1, tf.float32)), tf.int32)
    return tf.clip_by_value(offset, 0, tf.maximum(max_offset, 0))


def crop_image_and_boxes(
    image: tf.Tensor,
    boxes: tf.Tensor,
    classes: tf.Tensor,
    is_crowd: tf.Tensor,
    offset: tf.Tensor,
    crop_size: tf.Tensor,
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Cuts a window out of an image and applies the module's box rule.

    Args:
        image: float32 `[H, W, 3]`.
        boxes: float32 `[N, 4]` `yxyx` pixels of `image`.
        classes: int32 `[N]`.
        is_crowd: bool `[N]`.
        offset: int32 `[2]`, `(y, x)` of the window's top-left corner.
        crop_size: int32 `[2]`, `(crop_height, crop_width)`; the window must lie inside.
        min_area_fraction: objects whose visible area is below this fraction of their
            original area are dropped.

    Returns:
        `(image [crop_height, crop_width, 3], boxes [M, 4] yxyx pixels of the crop,
        classes [M], is_crowd [M])` with `M <= N` the kept objects, in their input order.
    """
    offset = tf.cast(offset, tf.int32)
    crop_size = tf.cast(crop_size, tf.int32)
    cropped = tf.slice(image, tf.concat([offset, [0]], 0), tf.concat([crop_size, [-1]], 0))

    offset_yxyx = tf.tile(tf.cast(offset, tf.float32), [2])
    limit_yxyx = tf.tile(tf.cast(crop_size, tf.float32), [2])
    shifted = boxes - offset_yxyx
    clipped = tf.minimum(tf.maximum(shifted, 0.0), limit_yxyx)

    original_height = shifted[:, 2] - shifted[:, 0]
    original_width = shifted[:, 3] - shifted[:, 1]
    clipped_height = clipped[:, 2] - clipped[:, 0]
    clipped_width = clipped[:, 3] - clipped[:, 1]
    original_area = tf.maximum(original_height, 0.0) * tf.maximum(original_width, 0.0)
    visible_area = clipped_height * clipped_width
    keep = (
        (clipped_height > 0.0)
        & (clipped_width > 0.0)
        & (visible_area >= min_area_fraction * original_area)
    )
    return (
        cropped,
        tf.boolean_mask(clipped, keep),
        tf.boolean_mask(classes, keep),
        tf.boolean_mask(is_crowd, keep),
    )


@dataclasses.dataclass(frozen=True)
class RandomCrop:
    """Crops a random window whose sides are random fractions of the image sides.

    With probability `probability`, the window height is `round(f_h * H)` and its width
    `round(f_w * W)` with `f_h`, `f_w` drawn independently and uniformly from
    `side_fraction_range`; its position is uniform over all windows of that size. Boxes
    follow the module's box rule (clipped; objects below `min_area_fraction` of their area
    dropped). Otherwise the sample is returned unchanged.

    Args:
        probability: chance of cropping, in `[0, 1]`; 0 disables the crop.
        side_fraction_range: `(low, high)` with `0 < low <= high <= 1`.
        min_area_fraction: in `[0, 1]`; the visible fraction of its area an object needs to
            be kept (0 keeps every object with a non-empty clipped box).

    Call args:
        image: float32 `[H, W, 3]`.
        boxes: float32 `[N, 4]` `yxyx` pixels of `image`.
        classes: int32 `[N]`.
        is_crowd: bool `[N]`.
        seed: int32/int64 `[2]` stateless seed.

    Returns:
        `(image [H', W', 3], boxes [M, 4] yxyx pixels of the crop, classes [M],
        is_crowd [M])`, `M <= N`.
    """

    probability: float = DEFAULT_CROP_PROBABILITY
    side_fraction_range: tuple[float, float] = DEFAULT_SIDE_FRACTION_RANGE
    min_area_fraction: float = DEFAULT_MIN_AREA_FRACTION

    def __post_init__(self):
        check_probability("probability", self.probability)
        object.__setattr__(self, "side_fraction_range", tuple(self.side_fraction_range))
        check_range("side_fraction_range", self.side_fraction_range)
        low, high = self.side_fraction_range
        if low <= 0.0 or high > 1.0:
            raise ValueError(
                f"`side_fraction_range` must lie in (0, 1]; got {self.side_fraction_range!r}."
            )
        check_probability("min_area_fraction", self.min_area_fraction)

    def __call__(
        self,
        image: tf.Tensor,
        boxes: tf.Tensor,
        classes: tf.Tensor,
        is_crowd: tf.Tensor,
        seed: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        image, boxes, classes, is_crowd, seed = check_sample(image, boxes, classes, is_crowd, seed)
        if self.probability == 0.0:
            return image, boxes, classes, is_crowd
        apply_seed, size_seed, offset_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, num=3)
        )
        image_size = tf.shape(image)[:2]
        low, high = self.side_fraction_range
        fractions = tf.random.stateless_uniform([2], size_seed, minval=low, maxval=high)
        crop_size = tf.cast(tf.round(fractions * tf.cast(image_size, tf.float32)), tf.int32)
        crop_size = tf.clip_by_value(crop_size, 1, image_size)
        offset = sample_crop_offset(image_size, crop_size, offset_seed)

        def crop() -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
            return crop_image_and_boxes(
                image, boxes, classes, is_crowd, offset, crop_size, self.min_area_fraction
            )

        do_crop = tf.random.stateless_uniform([], apply_seed) < self.probability
        return tf.cond(do_crop, crop, lambda: (image, boxes, classes, is_crowd))

    def get_config(self) -> dict[str, Any]:
        """Returns every constructor argument."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RandomCrop":
        """Rebuilds the augmentation from `get_config()`."""
        return cls(**config)
