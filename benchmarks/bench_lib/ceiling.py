"""The throughput this machine's TensorFlow reaches on plain matmul and convolution kernels.

These are the ceilings a detector's achieved GFLOP/s is compared with, measured in the same
process and run as the models (the machine's load and clock drift apply to both):

* `matmul`: a square matmul (`--size`, 2048 by default), forward only;
* `conv3x3`: one 3x3 convolution, 256 -> 256 channels on a `[2, 64, 64, 256]` map (the
  RetinaNet head's largest layer at 512 px, batch 2), forward only;
* `conv_stack_train`: a stack of four such convolutions with ReLU trained with SGD (forward
  and both gradients: 3x the forward FLOPs per step), i.e. what a model made only of the
  head's convolutions could reach in training.

Each is measured in float32 and bfloat16 (the bf16 variants run wherever TensorFlow has a
bf16 kernel; on a CPU without AVX512-BF16/AMX they are slow emulations).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

MATMUL_SIZE = 2048
CONV_SHAPE = (2, 64, 64, 256)
CONV_KERNEL = 3
CONV_STACK_DEPTH = 4
PRECISIONS = ("float32", "bfloat16")
KERNELS = ("matmul", "conv3x3", "conv_stack_train")


def _conv_flops(shape, channels_out: int, kernel: int) -> float:
    batch, height, width, channels_in = shape
    return 2.0 * batch * height * width * kernel * kernel * channels_in * channels_out


def make_kernel(
    kernel: str, precision: str, scale: float = 1.0
) -> tuple[Callable[[], object], float]:
    """A blocking callable running one kernel, and the FLOPs of one call.

    Args:
        kernel: one of `KERNELS`.
        precision: "float32" or "bfloat16".
        scale: linear scale of the problem (smoke runs use 0.25).

    Returns:
        `(run, flops)`.
    """
    dtype = tf.as_dtype(precision)
    generator = tf.random.Generator.from_seed(0)
    if kernel == "matmul":
        size = max(64, int(MATMUL_SIZE * scale))
        a = tf.cast(generator.normal([size, size]), dtype)
        b = tf.cast(generator.normal([size, size]), dtype)
        matmul = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32)))
        return (lambda: matmul().numpy()), 2.0 * size**3
    batch, height, _, channels = CONV_SHAPE
    side = max(8, int(height * scale))
    shape = (batch, side, side, channels)
    x = tf.cast(generator.normal(shape), dtype)
    if kernel == "conv3x3":
        w = tf.cast(generator.normal([CONV_KERNEL, CONV_KERNEL, channels, channels]) * 0.02, dtype)
        conv = tf.function(
            lambda: tf.reduce_sum(tf.cast(tf.nn.conv2d(x, w, 1, "SAME"), tf.float32))
        )
        return (lambda: conv().numpy()), _conv_flops(shape, channels, CONV_KERNEL)
    if kernel == "conv_stack_train":
        weights = [
            tf.Variable(generator.normal([CONV_KERNEL, CONV_KERNEL, channels, channels]) * 0.02)
            for _ in range(CONV_STACK_DEPTH)
        ]

        @tf.function
        def train_step():
            with tf.GradientTape() as tape:
                y = x
                for weight in weights:
                    y = tf.nn.relu(tf.nn.conv2d(y, tf.cast(weight, dtype), 1, "SAME"))
                loss = tf.reduce_mean(tf.square(tf.cast(y, tf.float32)))
            gradients = tape.gradient(loss, weights)
            for weight, gradient in zip(weights, gradients):
                weight.assign_sub(1e-3 * gradient)
            return loss

        flops = 3 * CONV_STACK_DEPTH * _conv_flops(shape, channels, CONV_KERNEL)
        return (lambda: train_step().numpy()), flops
    raise ValueError(f"Unknown kernel {kernel!r}; choose one of {KERNELS}.")


def ceiling_steps(scale: float = 1.0) -> tuple[dict[str, Callable[[], object]], dict[str, float]]:
    """`(name -> run, name -> flops)` for every kernel and precision, names like
    "ceiling/conv3x3/bfloat16", ready for `timing.interleaved`."""
    runs, flops = {}, {}
    for precision in PRECISIONS:
        for kernel in KERNELS:
            name = f"ceiling/{kernel}/{precision}"
            runs[name], flops[name] = make_kernel(kernel, precision, scale)
    return runs, flops
