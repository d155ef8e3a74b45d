"""Feature Pyramid Network producing P3-P7 from backbone features C3-C5."""

import keras
from keras import ops

from keras_retinanet.layers.conv_block import DEFAULT_BATCH_NORM_MOMENTUM, make_conv

DEFAULT_CHANNELS = 256
BACKBONE_MIN_LEVEL = 3
BACKBONE_MAX_LEVEL = 5


@keras.saving.register_keras_serializable(package="keras_retinanet")
class FeaturePyramid(keras.layers.Layer):
    """The RetinaNet FPN.

    * lateral 1x1 convs on C3, C4, C5 to `channels`;
    * top-down path: P5' = lat5, P4' = lat4 + up2(P5'), P3' = lat3 + up2(P4') with
      nearest-neighbour 2x upsampling, cropped at the bottom/right to the lateral's size
      when the input side is not a multiple of the level's stride (a 4-row map becomes
      rows [0, 0, 1, 1, 2, 2, 3] of a 7-row lateral: cell i covers lateral rows 2i, 2i+1);
    * a 3x3 conv on each merged map gives P3-P5;
    * P6 = 3x3 stride-2 conv on C5 (the paper; not on P5), P7 = 3x3 stride-2 conv on
      ReLU(P6).
    Levels above `max_level` are not built (`max_level=6` for P3-P6).

    FPN-Lite (`separable=True, use_batch_norm=True, activation="relu6"`): depthwise-
    separable 3x3 convs, each followed by BatchNorm and the activation (the BatchNorm
    folds into the conv when exported).

    Call args:
        features: list `[C3, C4, C5]`, `[B, H/8, W/8, c3]`, `[B, H/16, W/16, c4]`,
            `[B, H/32, W/32, c5]` (sizes rounded up).

    Returns:
        list `[P3, ..., P_max]` of `[B, ceil(H / 2^l), ceil(W / 2^l), channels]`.

    Args:
        channels: output channels of every level.
        max_level: highest level, 5, 6 or 7.
        separable: depthwise-separable 3x3 convs.
        use_batch_norm: BatchNorm after each 3x3 conv (convs then have no bias).
        activation: activation after each 3x3 conv of P3-P7 (None: the paper's linear
            outputs; the ReLU before P7 is always applied).
        kernel_initializer: initializer of the conv kernels.
        batch_norm_momentum: momentum of the BatchNorm moving statistics.
    """

    def __init__(
        self,
        channels: int = DEFAULT_CHANNELS,
        max_level: int = 7,
        separable: bool = False,
        use_batch_norm: bool = False,
        activation: str | None = None,
        kernel_initializer="glorot_uniform",
        batch_norm_momentum: float = DEFAULT_BATCH_NORM_MOMENTUM,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if max_level < BACKBONE_MAX_LEVEL:
            raise ValueError(f"`max_level` must be >= {BACKBONE_MAX_LEVEL}; got {max_level}.")
        if channels < 1:
            raise ValueError(f"`channels` must be >= 1; got {channels}.")
        self.channels = int(channels)
        self.max_level = int(max_level)
        self.separable = bool(separable)
        self.use_batch_norm = bool(use_batch_norm)
        self.activation = activation
        self.batch_norm_momentum = float(batch_norm_momentum)
        self.kernel_initializer = keras.initializers.serialize(
            keras.initializers.get(kernel_initializer)
        )
        conv_args = {
            "separable": self.separable,
            "use_bias": not self.use_batch_norm,
            "kernel_initializer": self.kernel_initializer,
            "dtype": self.dtype_policy,
        }
        self.lateral_convs = [
            make_conv(self.channels, 1, name=f"lateral_p{level}", **conv_args)
            for level in range(BACKBONE_MIN_LEVEL, BACKBONE_MAX_LEVEL + 1)
        ]
        self.levels = list(range(BACKBONE_MIN_LEVEL, self.max_level + 1))
        self.output_convs = []
        self.output_norms = []
        for level in self.levels:
            strides = 1 if level <= BACKBONE_MAX_LEVEL else 2
            self.output_convs.append(
                make_conv(self.channels, 3, strides=strides, name=f"output_p{level}", **conv_args)
            )
            if self.use_batch_norm:
                self.output_norms.append(
                    keras.layers.BatchNormalization(
                        momentum=self.batch_norm_momentum,
                        name=f"output_p{level}_bn",
                        dtype=self.dtype_policy,
                    )
                )
        self.output_activation = keras.activations.get(activation) if activation else None

    def build(self, input_shapes):
        if len(input_shapes) != BACKBONE_MAX_LEVEL - BACKBONE_MIN_LEVEL + 1:
            raise ValueError(
                f"FeaturePyramid expects [C3, C4, C5]; got {len(input_shapes)} inputs."
            )
        for conv, shape in zip(self.lateral_convs, input_shapes):
            conv.build(shape)
        c5_shape = input_shapes[-1]
        p_shape = (*c5_shape[:-1], self.channels)
        for index, level in enumerate(self.levels):
            if level == BACKBONE_MAX_LEVEL + 1:
                in_shape = c5_shape
            else:
                in_shape = p_shape
            self.output_convs[index].build(in_shape)
            if self.use_batch_norm:
                self.output_norms[index].build(p_shape)
        super().build(input_shapes)

    def call(self, features, training=None):
        c5 = features[-1]
        laterals = [conv(feature) for conv, feature in zip(self.lateral_convs, features)]
        merged = [laterals[-1]]
        for lateral in reversed(laterals[:-1]):
            merged.insert(0, lateral + _upsample_like(merged[0], lateral))
        outputs = []
        for index, level in enumerate(self.levels):
            if level <= BACKBONE_MAX_LEVEL:
                x = merged[level - BACKBONE_MIN_LEVEL]
            elif level == BACKBONE_MAX_LEVEL + 1:
                x = c5
            else:
                x = ops.relu(outputs[-1])
            x = self.output_convs[index](x)
            if self.use_batch_norm:
                x = self.output_norms[index](x, training=training)
            if self.output_activation is not None:
                x = self.output_activation(x)
            outputs.append(x)
        return outputs

    def compute_output_shape(self, input_shapes):
        shapes = []
        for level in self.levels:
            if level <= BACKBONE_MAX_LEVEL:
                base = input_shapes[level - BACKBONE_MIN_LEVEL]
                shapes.append((base[0], base[1], base[2], self.channels))
            else:
                previous = shapes[-1]
                shapes.append((previous[0], _half(previous[1]), _half(previous[2]), self.channels))
        return shapes

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "channels": self.channels,
                "max_level": self.max_level,
                "separable": self.separable,
                "use_batch_norm": self.use_batch_norm,
                "activation": self.activation,
                "kernel_initializer": self.kernel_initializer,
                "batch_norm_momentum": self.batch_norm_momentum,
            }
        )
        return config


def _upsample_like(top, reference):
    """Nearest-neighbour 2x upsampling of `top`, cropped to the spatial size of `reference`.

    `top` `[B, h, w, C]`, `reference` `[B, H, W, C']` with `H` in `{2h - 1, 2h}` (same for
    W): each cell is repeated 2x2, then the last row/column is dropped where the
    reference is odd (the stride-2 convs of the backbone pad at the bottom/right, so cell
    i of `top` covers rows 2i and 2i+1). A nearest resize straight to `H` would spread the
    rows unevenly instead ([0, 0, 1, 2, 2, 3, 3] for 4 -> 7). The upsampling exports to
    TFLite as RESIZE_NEAREST_NEIGHBOR and the crop as STRIDED_SLICE, both mapped by the
    Edge TPU (a repeat or `UpSampling2D` becomes 5-D reshapes and TILE, which it does
    not). With static even sizes there is no crop op at all.
    """
    top_static = top.shape[1:3]
    reference_static = reference.shape[1:3]
    if None in top_static or None in reference_static:
        # Unknown sizes (variable-size training): the same values by repetition, since
        # `ops.image.resize` needs Python ints. Exported models have static sizes.
        upsampled = ops.repeat(ops.repeat(top, 2, axis=1), 2, axis=2)
        size = ops.shape(reference)
        return upsampled[:, : size[1], : size[2], :]
    doubled = (2 * top_static[0], 2 * top_static[1])
    upsampled = ops.image.resize(top, doubled, interpolation="nearest", data_format="channels_last")
    if tuple(reference_static) == doubled:
        return upsampled
    return upsampled[:, : reference_static[0], : reference_static[1], :]


def _half(size):
    """`ceil(size / 2)`, the output size of a `same` stride-2 conv (None stays None)."""
    return None if size is None else -(-size // 2)
