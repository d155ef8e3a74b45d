"""Forward FLOPs of a model, counted once by the TensorFlow profiler.

The profiler sums the registered FLOP statistics of the ops of a graph (Conv2D, MatMul,
...: 2 FLOPs per multiply-add) over a concrete function traced for one fixed input shape.
Training costs are taken as 3x the forward FLOPs (forward, gradient w.r.t. the inputs and
gradient w.r.t. the weights), the usual convention for achieved GFLOP/s.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

TRAINING_FLOPS_FACTOR = 3


def count_forward_flops(forward: Callable[[tf.Tensor], object], input_shape) -> float:
    """FLOPs of one call of `forward` on a float32 input of `input_shape`.

    Args:
        forward: a function of an image batch (a Keras model call, inference mode).
        input_shape: full static shape, e.g. `(1, 512, 512, 3)`.

    Returns:
        The profiler's total float operations (by op type in `count_flops_by_op`).
    """
    return float(sum(count_flops_by_op(forward, input_shape).values()))


def count_flops_by_op(forward: Callable[[tf.Tensor], object], input_shape) -> dict[str, float]:
    """FLOPs per op type (e.g. `{"Conv2D": 1.2e11, "MatMul": ...}`), see `count_forward_flops`."""
    function = tf.function(forward, autograph=False)
    concrete = function.get_concrete_function(tf.TensorSpec(tuple(input_shape), tf.float32))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(
        graph=concrete.graph,
        run_meta=tf.compat.v1.RunMetadata(),
        cmd="op",
        options=options,
    )
    return {child.name: float(child.total_float_ops) for child in profile.children}
