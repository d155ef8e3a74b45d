"""The 3x3 convolution (+ BatchNorm + activation) unit used by the FPN and the heads."""

import keras

# Initialisation of the paper's new conv layers: N(0, 0.01) weights, zero bias.
HEAD_KERNEL_STDDEV = 0.01


def make_conv(
    filters: int,
    kernel_size: int,
    *,
    strides: int = 1,
    separable: bool = False,
    use_bias: bool = True,
    kernel_initializer="glorot_uniform",
    bias_initializer="zeros",
    dtype=None,
    name: str,
) -> keras.layers.Layer:
    """A `same`-padded 2D convolution, standard or depthwise-separable.

    Args:
        filters: output channels.
        kernel_size: square kernel side.
        strides: stride of the convolution.
        separable: depthwise `kernel_size` conv followed by a pointwise 1x1 conv
            (`keras.layers.SeparableConv2D`), as in the FPN-Lite models.
        use_bias: add a bias (off when a BatchNorm follows).
        kernel_initializer: initializer of the (pointwise) kernel; the depthwise kernel
            of a separable conv uses the same.
        bias_initializer: initializer of the bias.
        dtype: dtype policy (None: the global policy).
        name: layer name.

    Returns:
        A `Conv2D` or `SeparableConv2D` layer mapping `[B, H, W, C]` to
        `[B, ceil(H / strides), ceil(W / strides), filters]`.
    """
    if separable and kernel_size > 1:
        return keras.layers.SeparableConv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            use_bias=use_bias,
            depthwise_initializer=fresh_initializer(kernel_initializer),
            pointwise_initializer=fresh_initializer(kernel_initializer),
            bias_initializer=fresh_initializer(bias_initializer),
            dtype=dtype,
            name=name,
        )
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=use_bias,
        kernel_initializer=fresh_initializer(kernel_initializer),
        bias_initializer=fresh_initializer(bias_initializer),
        dtype=dtype,
        name=name,
    )


def fresh_initializer(initializer) -> keras.initializers.Initializer:
    """A new initializer instance from a name, a config or an instance.

    Each layer gets its own instance, so no two layers share one initializer object.
    """
    return keras.initializers.get(keras.initializers.serialize(keras.initializers.get(initializer)))
