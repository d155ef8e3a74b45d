"""The 3x3 convolution (+ BatchNorm + activation) unit used by the FPN and the heads."""

import keras

# Initialisation of the paper's new conv layers: N(0, 0.01) weights, zero bias.
HEAD_KERNEL_STDDEV = 0.01
# Depthwise kernels of separable convs: a variance-preserving initialiser. With N(0, 0.01)
# on both the depthwise (fan-in 9) and the pointwise kernel a separable conv would scale
# its input by ~0.01 * 3 * 0.01 * sqrt(C), and gradients would vanish through the heads.
DEPTHWISE_INITIALIZER = "he_normal"
# Convs followed by a BatchNorm start He-normal too: BatchNorm removes their scale, and
# outputs of variance ~1 keep the moving statistics (initialised to mean 0, variance 1)
# close to the batch statistics from the first steps on.
BATCH_NORM_CONV_INITIALIZER = "he_normal"
# Keras' default momentum of BatchNorm moving statistics.
DEFAULT_BATCH_NORM_MOMENTUM = 0.99


def make_conv(
    filters: int,
    kernel_size: int,
    *,
    strides: int = 1,
    separable: bool = False,
    use_bias: bool = True,
    kernel_initializer="glorot_uniform",
    depthwise_initializer=DEPTHWISE_INITIALIZER,
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
        kernel_initializer: initializer of the kernel (the pointwise kernel of a
            separable conv).
        depthwise_initializer: initializer of the depthwise kernel of a separable conv.
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
            depthwise_initializer=fresh_initializer(depthwise_initializer),
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
