"""Random horizontal flip of an image and its boxes."""

import dataclasses
from typing import Any

import tensorflow as tf

from keras_retinanet.data.augmentation._sample_checks import check_probability, check_sample

DEFAULT_FLIP_PROBABILITY = 0.5


def flip_boxes_left_right(boxes: tf.Tensor, image_width: tf.Tensor) -> tf.Tensor:
    """Mirrors boxes about the vertical centre line of an image.

    A point `x` becomes `W - x`, so `(ymin, xmin, ymax, xmax)` becomes
    `(ymin, W - xmax, ymax, W - xmin)` (the new `xmin` comes from the old `xmax`).

    Args:
        boxes: float32 `[N, 4]` `yxyx` pixels.
        image_width: scalar `W`, the image width in pixels.

    Returns:
        float32 `[N, 4]` `yxyx` pixels of the flipped image.
    """
    width = tf.cast(image_width, boxes.dtype)
    ymin, xmin, ymax, xmax = tf.unstack(boxes, num=4, axis=-1)
    return tf.stack([ymin, width - xmax, ymax, width - xmin], axis=-1)


@dataclasses.dataclass(frozen=True)
class RandomFlip:
    """Flips an image left-right with a given probability, moving its boxes with it.

    Args:
        probability: chance of flipping, in `[0, 1]`; 0 disables the flip, 1 always flips.

    Call args:
        image: float32 `[H, W, 3]`.
        boxes: float32 `[N, 4]` `yxyx` pixels of `image`.
        classes: int32 `[N]`, returned unchanged.
        is_crowd: bool `[N]`, returned unchanged.
        seed: int32/int64 `[2]` stateless seed.

    Returns:
        `(image [H, W, 3], boxes [N, 4] yxyx pixels, classes [N], is_crowd [N])`.
    """

    probability: float = DEFAULT_FLIP_PROBABILITY

    def __post_init__(self):
        check_probability("probability", self.probability)

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
        do_flip = tf.random.stateless_uniform([], seed) < self.probability
        width = tf.shape(image)[1]
        image, boxes = tf.cond(
            do_flip,
            lambda: (tf.reverse(image, axis=[1]), flip_boxes_left_right(boxes, width)),
            lambda: (image, boxes),
        )
        return image, boxes, classes, is_crowd

    def get_config(self) -> dict[str, Any]:
        """Returns every constructor argument."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RandomFlip":
        """Rebuilds the augmentation from `get_config()`."""
        return cls(**config)
