"""Per-channel input normalisation inside the model graph."""

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

NUM_CHANNELS = 3


@keras.saving.register_keras_serializable(package="keras_retinanet")
class ImageNormalization(keras.layers.Layer):
    """Maps raw RGB pixels in [0, 255] to what a backbone was trained on.

    `y = ((x[..., ::-1] if reverse_channels else x) - mean) / std`, per channel. Living in
    the graph means a user (and an exported `.tflite`) feeds plain RGB pixels.

    The channel reversal is a 1x1 convolution with a 0/1 permutation kernel, not a `flip`:
    a `.tflite` then holds a `CONV_2D`, which the Edge TPU maps, instead of `REVERSE_V2`,
    which it does not (and which would send the whole graph after it to the CPU). It is
    exact for whole-number pixels in float32, float16 and bfloat16; fractional pixels
    (after a resize) may round where the backend runs float32 convolutions in a reduced
    precision (TF32 on recent GPUs, bfloat16 passes on TPUs), like every other conv of the
    model. In int8 the converter folds the mean subtraction into it and requantizes its
    output, an error of at most about one quantization step, like the flip and
    subtraction it replaces.

    Call args:
        images: `[B, H, W, 3]` RGB pixels in [0, 255], any real or integer dtype.

    Returns:
        `[B, H, W, 3]` normalised images in the layer's compute dtype.

    Args:
        mean: per-channel value subtracted (after the optional channel reversal).
        std: per-channel divisor.
        reverse_channels: RGB -> BGR first (Caffe-style ResNet weights).
    """

    def __init__(
        self,
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
        reverse_channels: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(mean) != NUM_CHANNELS or len(std) != NUM_CHANNELS or min(std) <= 0:
            raise ValueError(
                f"`mean` and `std` need {NUM_CHANNELS} values, std > 0; got {mean}, {std}."
            )
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.reverse_channels = bool(reverse_channels)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] != NUM_CHANNELS:
            raise ValueError(
                "RetinaNet expects images of shape [batch, height, width, 3] (RGB); got "
                f"shape {tuple(input_shape)}."
            )
        super().build(input_shape)

    def call(self, images):
        images = ops.cast(images, self.compute_dtype)
        if self.reverse_channels:
            images = ops.conv(
                images,
                self._reversal_kernel(),
                strides=1,
                padding="valid",
                data_format="channels_last",
            )
        mean = ops.convert_to_tensor(self.mean, self.compute_dtype)
        inverse_std = ops.convert_to_tensor([1.0 / s for s in self.std], self.compute_dtype)
        return (images - mean) * inverse_std

    def _reversal_kernel(self):
        """`[1, 1, 3, 3]` kernel mapping input channel `c` to output `3 - 1 - c`."""
        reversal = np.eye(NUM_CHANNELS)[::-1].reshape(1, 1, NUM_CHANNELS, NUM_CHANNELS)
        return ops.convert_to_tensor(reversal, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {"mean": self.mean, "std": self.std, "reverse_channels": self.reverse_channels}
        )
        return config
