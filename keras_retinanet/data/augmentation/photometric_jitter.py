"""Random brightness, contrast, saturation and hue changes; boxes never move.

All four changes are linear in RGB, so they are folded into one affine colour transform
per image, `x' = x @ M + b` (one `[H * W, 3] x [3, 3]` matmul, then one clip to [0, 255]);
this is several times faster on CPU than `tf.image.adjust_saturation` / `adjust_hue`, which
round-trip through HSV. Saturation and hue act in the YIQ colour space (Y = luma,
I/Q = chroma): saturation scales the chroma vector `(I, Q)`, hue rotates it. This is the
luma-preserving YIQ hue rotation, not the HSV one, and grey pixels stay grey under both.
"""

import dataclasses
import math
from typing import Any

import numpy as np
import tensorflow as tf

from keras_retinanet.data.augmentation._sample_checks import (
    check_probability,
    check_range,
    check_sample,
)

# Images are float32 in the raw 0..255 pixel range.
PIXEL_MIN = 0.0
PIXEL_MAX = 255.0
# Hue deltas are in turns of the colour wheel; half a turn is the largest change.
MAX_HUE_DELTA = 0.5

# NTSC RGB -> YIQ (rows Y, I, Q); the I and Q rows sum to 0, so grey has no chroma.
RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ],
    dtype=np.float64,
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)

DEFAULT_PHOTOMETRIC_PROBABILITY = 1.0
DEFAULT_BRIGHTNESS_MAX_DELTA = 32.0
DEFAULT_CONTRAST_RANGE = (0.5, 1.5)
DEFAULT_SATURATION_RANGE = (0.5, 1.5)
DEFAULT_HUE_MAX_DELTA = 0.05
NUM_PHOTOMETRIC_SEEDS = 5


def colour_matrix(saturation: tf.Tensor, hue_delta: tf.Tensor) -> tf.Tensor:
    """RGB -> RGB matrix that scales chroma by `saturation` and rotates hue by `hue_delta`.

    Args:
        saturation: float32 scalar, 1 keeps the saturation, 0 gives grey.
        hue_delta: float32 scalar, rotation in turns (1 = 360 degrees), in the direction of
            `tf.image.adjust_hue`.

    Returns:
        float32 `[3, 3]` `M` for row-vector pixels: `rgb_out = rgb_in @ M`.
    """
    # The I -> Q direction is the reverse of HSV's R -> G -> B hue order, hence the minus:
    # a positive delta turns red towards yellow as `tf.image.adjust_hue` does.
    angle = -2.0 * math.pi * hue_delta
    cos = saturation * tf.cos(angle)
    sin = saturation * tf.sin(angle)
    one = tf.ones_like(cos)
    zero = tf.zeros_like(cos)
    # Column-vector YIQ transform: keep Y, rotate and scale (I, Q).
    yiq_transform = tf.stack(
        [tf.stack([one, zero, zero]), tf.stack([zero, cos, -sin]), tf.stack([zero, sin, cos])]
    )
    column_matrix = tf.matmul(
        tf.matmul(tf.constant(YIQ_TO_RGB, tf.float32), yiq_transform),
        tf.constant(RGB_TO_YIQ, tf.float32),
    )
    return tf.transpose(column_matrix)


@dataclasses.dataclass(frozen=True)
class PhotometricJitter:
    """Colour jitter on a 0..255 image: brightness, contrast, saturation, hue.

    With probability `probability` each enabled change is applied with a random strength:
    brightness adds `d ~ U[-brightness_max_delta, brightness_max_delta]` pixel levels,
    contrast scales each channel about its mean by `c ~ U[contrast_range]`, saturation
    scales the chroma by `s ~ U[saturation_range]`, hue rotates it by
    `h ~ U[-hue_max_delta, hue_max_delta]` turns; the result is clipped to [0, 255] once
    (see the module docstring). Boxes, classes and crowd flags are returned unchanged.

    Args:
        probability: chance of jittering an image, in `[0, 1]`; 0 disables the jitter.
        brightness_max_delta: `>= 0`, in pixel levels; 0 disables the brightness change.
        contrast_range: `(low, high)`, `0 <= low <= high`, or `None` to disable.
        saturation_range: `(low, high)`, `0 <= low <= high`, or `None` to disable.
        hue_max_delta: in `[0, 0.5]` turns; 0 disables the hue change.

    Call args:
        image: float32 `[H, W, 3]` RGB in 0..255.
        boxes: float32 `[N, 4]` `yxyx` pixels, returned unchanged.
        classes: int32 `[N]`, returned unchanged.
        is_crowd: bool `[N]`, returned unchanged.
        seed: int32/int64 `[2]` stateless seed.

    Returns:
        `(image [H, W, 3] in 0..255, boxes, classes, is_crowd)`.
    """

    probability: float = DEFAULT_PHOTOMETRIC_PROBABILITY
    brightness_max_delta: float = DEFAULT_BRIGHTNESS_MAX_DELTA
    contrast_range: tuple[float, float] | None = DEFAULT_CONTRAST_RANGE
    saturation_range: tuple[float, float] | None = DEFAULT_SATURATION_RANGE
    hue_max_delta: float = DEFAULT_HUE_MAX_DELTA

    def __post_init__(self):
        check_probability("probability", self.probability)
        if self.brightness_max_delta < 0.0:
            raise ValueError(
                f"`brightness_max_delta` must be >= 0; got {self.brightness_max_delta!r}."
            )
        for name in ("contrast_range", "saturation_range"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
                check_range(name, tuple(value))
        if not 0.0 <= self.hue_max_delta <= MAX_HUE_DELTA:
            raise ValueError(
                f"`hue_max_delta` must be in [0, {MAX_HUE_DELTA}]; got {self.hue_max_delta!r}."
            )

    @property
    def enabled(self) -> bool:
        """Whether any change can happen."""
        return self.probability > 0.0 and (
            self.brightness_max_delta > 0.0
            or self.contrast_range is not None
            or self.saturation_range is not None
            or self.hue_max_delta > 0.0
        )

    def __call__(
        self,
        image: tf.Tensor,
        boxes: tf.Tensor,
        classes: tf.Tensor,
        is_crowd: tf.Tensor,
        seed: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        image, boxes, classes, is_crowd, seed = check_sample(image, boxes, classes, is_crowd, seed)
        if not self.enabled:
            return image, boxes, classes, is_crowd
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, num=NUM_PHOTOMETRIC_SEEDS))
        apply_seed, brightness_seed, contrast_seed, saturation_seed, hue_seed = seeds
        do_jitter = tf.random.stateless_uniform([], apply_seed) < self.probability

        def jitter() -> tf.Tensor:
            brightness = 0.0
            if self.brightness_max_delta > 0.0:
                brightness = tf.random.stateless_uniform(
                    [],
                    brightness_seed,
                    minval=-self.brightness_max_delta,
                    maxval=self.brightness_max_delta,
                )
            contrast = 1.0
            if self.contrast_range is not None:
                low, high = self.contrast_range
                contrast = tf.random.stateless_uniform([], contrast_seed, minval=low, maxval=high)
            saturation = 1.0
            if self.saturation_range is not None:
                low, high = self.saturation_range
                saturation = tf.random.stateless_uniform(
                    [], saturation_seed, minval=low, maxval=high
                )
            hue = 0.0
            if self.hue_max_delta > 0.0:
                hue = tf.random.stateless_uniform(
                    [], hue_seed, minval=-self.hue_max_delta, maxval=self.hue_max_delta
                )
            # brightness then contrast: c * (x + d - mean(x + d)) + mean(x + d)
            #   = c * x + (1 - c) * mean(x) + d, per channel.
            offset = tf.fill([3], tf.cast(brightness, tf.float32))
            if self.contrast_range is not None:
                offset += (1.0 - contrast) * tf.reduce_mean(image, axis=[0, 1])
            matrix = colour_matrix(tf.cast(saturation, tf.float32), tf.cast(hue, tf.float32))
            pixels = tf.reshape(image, [-1, 3])
            bias = tf.linalg.matvec(matrix, offset, transpose_a=True)
            jittered = tf.matmul(pixels, contrast * matrix) + bias
            return tf.clip_by_value(tf.reshape(jittered, tf.shape(image)), PIXEL_MIN, PIXEL_MAX)

        image = tf.cond(do_jitter, jitter, lambda: image)
        return image, boxes, classes, is_crowd

    def get_config(self) -> dict[str, Any]:
        """Returns every constructor argument."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "PhotometricJitter":
        """Rebuilds the augmentation from `get_config()`."""
        return cls(**config)
