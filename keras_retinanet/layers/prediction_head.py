"""The classification / box subnet, shared across pyramid levels."""

import math

import keras
from keras import ops

from keras_retinanet.layers.conv_block import (
    BATCH_NORM_CONV_INITIALIZER,
    DEFAULT_BATCH_NORM_MOMENTUM,
    HEAD_KERNEL_STDDEV,
    make_conv,
)

DEFAULT_CHANNELS = 256
DEFAULT_DEPTH = 4


def prior_bias(prior_probability: float) -> float:
    """`b = -log((1 - pi) / pi)`: the bias that makes `sigmoid(b) = pi`."""
    return -math.log((1.0 - prior_probability) / prior_probability)


@keras.saving.register_keras_serializable(package="keras_retinanet")
class PredictionHead(keras.layers.Layer):
    """A RetinaNet subnet applied with the same weights to every pyramid level.

    `depth` x (3x3 conv with `channels` filters + activation), then a 3x3 conv to
    `num_anchors * outputs_per_anchor` channels. Conv weights start from
    N(0, kernel_stddev = 0.01),
    biases from 0, except the final bias of the classification subnet, which is
    `-log((1 - pi) / pi)` when `prior_probability = pi` is given, so that every class
    probability starts at pi (0.01 in the paper) and the flood of easy negatives
    cannot destabilise the first iterations.

    With `separable`, N(0, kernel_stddev) initialises the pointwise kernels and the
    depthwise kernels start He-normal (see `conv_block.DEPTHWISE_INITIALIZER`). With
    `use_batch_norm`, the hidden convs start He-normal (BatchNorm removes their scale,
    and unit-variance outputs keep the moving statistics right from the start); the
    final conv keeps N(0, kernel_stddev) and the prior bias.

    With `use_batch_norm`, each hidden conv is followed by a BatchNorm of its own per
    level (the conv weights stay shared; statistics differ per level). With
    `separable`, the 3x3 convs are depthwise-separable (FPN-Lite heads).

    The per-level outputs `[B, H_l, W_l, num_anchors * outputs_per_anchor]` are
    reshaped to `[B, H_l * W_l * num_anchors, outputs_per_anchor]` (anchor order of
    `AnchorGenerator`), concatenated over the levels and cast to float32 (also under
    mixed precision: the losses and decoding see float32).

    Call args:
        features: list of `[B, H_l, W_l, C]` pyramid levels, lowest level first.

    Returns:
        float32 `[B, sum_l H_l * W_l * num_anchors, outputs_per_anchor]`.

    Args:
        num_anchors: anchors per location A.
        outputs_per_anchor: K classes (classification) or 4 deltas (box).
        num_levels: number of pyramid levels (for the per-level BatchNorms).
        channels: width of the hidden convs.
        depth: number of hidden convs.
        prior_probability: pi for the final bias, or None for a zero bias.
        separable: depthwise-separable 3x3 convs.
        use_batch_norm: BatchNorm after each hidden conv.
        activation: activation of the hidden convs.
        kernel_stddev: standard deviation of the normal initial conv weights.
        batch_norm_momentum: momentum of the BatchNorm moving statistics.
    """

    def __init__(
        self,
        num_anchors: int,
        outputs_per_anchor: int,
        num_levels: int = 5,
        channels: int = DEFAULT_CHANNELS,
        depth: int = DEFAULT_DEPTH,
        prior_probability: float | None = None,
        separable: bool = False,
        use_batch_norm: bool = False,
        activation: str = "relu",
        kernel_stddev: float = HEAD_KERNEL_STDDEV,
        batch_norm_momentum: float = DEFAULT_BATCH_NORM_MOMENTUM,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_anchors < 1 or outputs_per_anchor < 1 or num_levels < 1 or channels < 1:
            raise ValueError(
                "num_anchors, outputs_per_anchor, num_levels and channels must be >= 1; got "
                f"{num_anchors}, {outputs_per_anchor}, {num_levels}, {channels}."
            )
        if depth < 0:
            raise ValueError(f"`depth` must be >= 0; got {depth}.")
        if prior_probability is not None and not 0.0 < prior_probability < 1.0:
            raise ValueError(f"`prior_probability` must be in (0, 1); got {prior_probability}.")
        self.num_anchors = int(num_anchors)
        self.outputs_per_anchor = int(outputs_per_anchor)
        self.num_levels = int(num_levels)
        self.channels = int(channels)
        self.depth = int(depth)
        self.prior_probability = None if prior_probability is None else float(prior_probability)
        self.separable = bool(separable)
        self.use_batch_norm = bool(use_batch_norm)
        self.activation = activation
        if kernel_stddev <= 0:
            raise ValueError(f"`kernel_stddev` must be > 0; got {kernel_stddev}.")
        self.kernel_stddev = float(kernel_stddev)
        self.batch_norm_momentum = float(batch_norm_momentum)

        kernel_initializer = {
            "class_name": "RandomNormal",
            "config": {"mean": 0.0, "stddev": self.kernel_stddev},
        }
        self.hidden_convs = [
            make_conv(
                self.channels,
                3,
                separable=self.separable,
                use_bias=not self.use_batch_norm,
                kernel_initializer=(
                    BATCH_NORM_CONV_INITIALIZER if self.use_batch_norm else kernel_initializer
                ),
                dtype=self.dtype_policy,
                name=f"conv_{index}",
            )
            for index in range(self.depth)
        ]
        self.hidden_norms = []
        if self.use_batch_norm:
            self.hidden_norms = [
                [
                    keras.layers.BatchNormalization(
                        momentum=self.batch_norm_momentum,
                        name=f"conv_{index}_bn_level_{level}",
                        dtype=self.dtype_policy,
                    )
                    for index in range(self.depth)
                ]
                for level in range(self.num_levels)
            ]
        final_bias = (
            keras.initializers.Constant(prior_bias(self.prior_probability))
            if self.prior_probability is not None
            else "zeros"
        )
        self.output_conv = make_conv(
            self.num_anchors * self.outputs_per_anchor,
            3,
            separable=self.separable,
            kernel_initializer=kernel_initializer,
            bias_initializer=final_bias,
            dtype=self.dtype_policy,
            name="output",
        )
        self.hidden_activation = keras.activations.get(activation)

    def build(self, input_shapes):
        if len(input_shapes) != self.num_levels:
            raise ValueError(
                f"PredictionHead built for {self.num_levels} levels got {len(input_shapes)}."
            )
        shape = input_shapes[0]
        hidden_shape = (*shape[:-1], self.channels)
        for index, conv in enumerate(self.hidden_convs):
            conv.build(shape if index == 0 else hidden_shape)
        for level_norms in self.hidden_norms:
            for norm in level_norms:
                norm.build(hidden_shape)
        self.output_conv.build(hidden_shape if self.depth else shape)
        super().build(input_shapes)

    def call(self, features, training=None):
        outputs = []
        for level, x in enumerate(features):
            for index, conv in enumerate(self.hidden_convs):
                x = conv(x)
                if self.use_batch_norm:
                    x = self.hidden_norms[level][index](x, training=training)
                x = self.hidden_activation(x)
            x = self.output_conv(x)
            x = ops.reshape(x, (ops.shape(x)[0], -1, self.outputs_per_anchor))
            outputs.append(ops.cast(x, "float32"))
        return ops.concatenate(outputs, axis=1)

    def compute_output_shape(self, input_shapes):
        total = 0
        for shape in input_shapes:
            if shape[1] is None or shape[2] is None:
                total = None
                break
            total += shape[1] * shape[2] * self.num_anchors
        return (input_shapes[0][0], total, self.outputs_per_anchor)

    def compute_output_spec(self, features):
        shape = self.compute_output_shape([f.shape for f in features])
        return keras.KerasTensor(shape, dtype="float32")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_anchors": self.num_anchors,
                "outputs_per_anchor": self.outputs_per_anchor,
                "num_levels": self.num_levels,
                "channels": self.channels,
                "depth": self.depth,
                "prior_probability": self.prior_probability,
                "separable": self.separable,
                "use_batch_norm": self.use_batch_norm,
                "activation": self.activation,
                "kernel_stddev": self.kernel_stddev,
                "batch_norm_momentum": self.batch_norm_momentum,
            }
        )
        return config
