"""Process-wide setup for an entry point: strategy, dtype policy, determinism.

Call `setup_runtime` first thing in a `main()` (the multi-worker strategy must exist before
other TensorFlow work), then build configs and call `train`. Library code never changes this
global state.
"""

from __future__ import annotations

import tensorflow as tf

from keras_retinanet.training.distribution_strategy import build_strategy
from keras_retinanet.training.mixed_precision import resolve_precision, set_global_precision
from keras_retinanet.training.train_config import RuntimeConfig


def setup_runtime(runtime: RuntimeConfig) -> tf.distribute.Strategy:
    """Creates the strategy, sets the global dtype policy and op determinism.

    Args:
        runtime: the `RuntimeConfig`.

    Returns:
        The distribution strategy to pass to `train`.
    """
    strategy = build_strategy(runtime.strategy, runtime.tpu_address)
    set_global_precision(resolve_precision(runtime.precision, runtime.strategy))
    if runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    return strategy
