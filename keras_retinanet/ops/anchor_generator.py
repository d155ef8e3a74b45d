"""Multi-level anchor boxes for RetinaNet."""

import math
from collections.abc import Sequence

import keras
import tensorflow as tf

# The paper's anchors: levels P3-P7 (strides 8..128), areas 32^2..512^2,
# three scales per octave and three aspect ratios -> 9 anchors per location.
DEFAULT_STRIDES = (8, 16, 32, 64, 128)
DEFAULT_SIZES = (32.0, 64.0, 128.0, 256.0, 512.0)
DEFAULT_SCALES = (2.0**0, 2.0 ** (1.0 / 3.0), 2.0 ** (2.0 / 3.0))
DEFAULT_ASPECT_RATIOS = (0.5, 1.0, 2.0)
# Anchor centres sit at the centre of each feature-map cell: (i + 0.5) * stride.
DEFAULT_OFFSET = 0.5


@keras.saving.register_keras_serializable(package="keras_retinanet")
class AnchorGenerator:
    """Generates the anchors of all pyramid levels for one image size.

    On a level with stride `s` and base size `S`, the feature map has
    `ceil(H / s) x ceil(W / s)` cells; each cell `(i, j)` holds one anchor per
    (scale, aspect ratio) pair, centred at `((i + offset) * s, (j + offset) * s)`
    with

        height = S * scale * sqrt(ratio),   width = S * scale / sqrt(ratio)

    (`ratio` is height / width). Anchors are ordered level by level, then
    row-major over the cells (y, then x), then over the `num_anchors_per_location`
    pairs with index `scale_index * len(aspect_ratios) + ratio_index`. This order
    matches a head output `[B, H_l, W_l, A * C]` reshaped to `[B, H_l * W_l * A, C]`.

    Anchors are not clipped to the image (as in the paper).

    Args:
        strides: stride of each level, e.g. (8, 16, 32, 64, 128) for P3-P7.
        sizes: base anchor size (side of the square anchor at scale 1) of each level,
            same length as `strides`.
        scales: scale multipliers applied to every base size.
        aspect_ratios: height / width ratios.
        offset: position of the anchor centre inside its cell, in units of the stride.
    """

    def __init__(
        self,
        strides: Sequence[int] = DEFAULT_STRIDES,
        sizes: Sequence[float] = DEFAULT_SIZES,
        scales: Sequence[float] = DEFAULT_SCALES,
        aspect_ratios: Sequence[float] = DEFAULT_ASPECT_RATIOS,
        offset: float = DEFAULT_OFFSET,
    ):
        if len(strides) == 0 or len(strides) != len(sizes):
            raise ValueError(
                "`strides` and `sizes` must be non-empty and of equal length; got "
                f"strides={tuple(strides)}, sizes={tuple(sizes)}."
            )
        if any(int(s) < 1 for s in strides):
            raise ValueError(f"Every stride must be a positive integer; got {tuple(strides)}.")
        if any(s <= 0 for s in sizes) or any(s <= 0 for s in scales):
            raise ValueError(
                f"Anchor sizes and scales must be positive; got sizes={tuple(sizes)}, "
                f"scales={tuple(scales)}."
            )
        if len(scales) == 0 or len(aspect_ratios) == 0 or any(r <= 0 for r in aspect_ratios):
            raise ValueError(
                "`scales` and `aspect_ratios` must be non-empty and positive; got "
                f"scales={tuple(scales)}, aspect_ratios={tuple(aspect_ratios)}."
            )
        self.strides = tuple(int(s) for s in strides)
        self.sizes = tuple(float(s) for s in sizes)
        self.scales = tuple(float(s) for s in scales)
        self.aspect_ratios = tuple(float(r) for r in aspect_ratios)
        self.offset = float(offset)

    @property
    def num_anchors_per_location(self) -> int:
        """Anchors per feature-map cell, `len(scales) * len(aspect_ratios)`."""
        return len(self.scales) * len(self.aspect_ratios)

    def base_anchor_shapes(self, size: float) -> list[tuple[float, float]]:
        """(height, width) of the anchors of one cell for a base size, in anchor order."""
        shapes = []
        for scale in self.scales:
            for ratio in self.aspect_ratios:
                root = math.sqrt(ratio)
                shapes.append((size * scale * root, size * scale / root))
        return shapes

    def feature_shapes(self, image_height, image_width) -> list[tuple]:
        """Feature-map size `(ceil(H / s), ceil(W / s))` of each level.

        Args:
            image_height: int or scalar int tensor, the network input height in pixels.
            image_width: int or scalar int tensor, the network input width in pixels.

        Returns:
            One `(height, width)` pair per level; Python ints when the inputs are ints.
        """
        return [
            (_ceil_div(image_height, stride), _ceil_div(image_width, stride))
            for stride in self.strides
        ]

    def level_sizes(self, image_height, image_width) -> list:
        """Number of anchors on each level, `h_l * w_l * num_anchors_per_location`."""
        return [
            h * w * self.num_anchors_per_location
            for h, w in self.feature_shapes(image_height, image_width)
        ]

    def __call__(self, image_height, image_width) -> tf.Tensor:
        """Anchors of all levels for one image size.

        Args:
            image_height: int or scalar int tensor, network input height in pixels.
            image_width: int or scalar int tensor, network input width in pixels.

        Returns:
            float32 `[A, 4]` anchors, `yxyx` in input-image pixels, where
            `A = sum_l ceil(H / s_l) * ceil(W / s_l) * num_anchors_per_location`.
            The shape is static when the sizes are Python ints.
        """
        per_level = []
        for stride, size, (height, width) in zip(
            self.strides, self.sizes, self.feature_shapes(image_height, image_width)
        ):
            per_level.append(self._level_anchors(stride, size, height, width))
        return tf.concat(per_level, axis=0)

    def _level_anchors(self, stride: int, size: float, height, width) -> tf.Tensor:
        """`[h * w * num_anchors_per_location, 4]` yxyx anchors of one level."""
        shapes = tf.constant(self.base_anchor_shapes(size), tf.float32)  # [P, 2] (h, w)
        centers_y = (tf.cast(tf.range(height), tf.float32) + self.offset) * stride
        centers_x = (tf.cast(tf.range(width), tf.float32) + self.offset) * stride
        grid_y, grid_x = tf.meshgrid(centers_y, centers_x, indexing="ij")  # [h, w]
        centers = tf.stack([grid_y, grid_x], axis=-1)[:, :, tf.newaxis, :]  # [h, w, 1, 2]
        half = shapes[tf.newaxis, tf.newaxis, :, :] / 2.0  # [1, 1, P, 2]
        anchors = tf.concat([centers - half, centers + half], axis=-1)  # [h, w, P, 4]
        return tf.reshape(anchors, [-1, 4])

    def get_config(self) -> dict:
        return {
            "strides": self.strides,
            "sizes": self.sizes,
            "scales": self.scales,
            "aspect_ratios": self.aspect_ratios,
            "offset": self.offset,
        }

    @classmethod
    def from_config(cls, config: dict) -> "AnchorGenerator":
        return cls(**config)

    def __eq__(self, other) -> bool:
        return isinstance(other, AnchorGenerator) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.get_config().items())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"AnchorGenerator({args})"


def _ceil_div(value, divisor: int):
    """`ceil(value / divisor)` for a Python int or an integer tensor."""
    if isinstance(value, int):
        return -(-value // divisor)
    return (value + divisor - 1) // divisor
