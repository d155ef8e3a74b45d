"""Makes Keras 3 `fit` work under `MultiWorkerMirroredStrategy` (workaround, Keras <= 3.15).

Keras 3's TensorFlow trainer fails with MultiWorkerMirroredStrategy in two places
(tensorflow/tensorflow#72388):

1. `fit` first calls `_maybe_symbolic_build`, which reduces the first batch with
   `strategy.reduce("MEAN", batch, axis=None)`; the multi-worker strategy cannot reduce a
   nested structure such as `(images, {"boxes", "classes"})` and raises
   "Attempt to convert a value (PerReplica...) ... to a Tensor".
2. Every train step reduces its scalar logs with `strategy.reduce("MEAN", v, axis=0)`,
   which fails on scalars: "Invalid reduction dimension 0 for input with 0 dimensions".

The workaround (used only for multi-worker runs):

* `model.train_function` is set to a function that runs `model.train_step` on each replica
  with `strategy.run` and reduces each (scalar) log with `axis=None`; `fit` keeps a
  pre-set `train_function` (`make_train_function` returns early when one exists).
* The model's private `_distribute_strategy` is cleared, so `fit` skips the failing symbolic
  build (the model and optimizer are built beforehand); `fit` must then run inside
  `strategy.scope()`, where `model.distribute_strategy` falls back to the scope's strategy.

Gradients are still all-reduced by the optimizer as in any distributed `fit`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf

_PRIVATE_STRATEGY_ATTRIBUTE = "_distribute_strategy"


def _make_train_function(model: keras.Model, strategy: tf.distribute.Strategy):
    @tf.function
    def one_step(iterator):
        per_replica_logs = strategy.run(model.train_step, args=(next(iterator),))
        return {
            name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
            for name, value in per_replica_logs.items()
        }

    def train_function(iterator):
        return one_step(iterator)

    return train_function


@contextlib.contextmanager
def multi_worker_fit_context(
    model: keras.Model, strategy: tf.distribute.Strategy
) -> Iterator[None]:
    """Prepares `model` for `fit` under a multi-worker strategy (see the module docstring).

    Use as `with multi_worker_fit_context(model, strategy): model.fit(...)`. The model must
    be compiled and its optimizer built. Supports `steps_per_execution == 1` only.

    Args:
        model: the compiled model, built under `strategy.scope()`.
        strategy: the `MultiWorkerMirroredStrategy`.

    Raises:
        ValueError: `steps_per_execution` is not 1 or the optimizer is not built.
        RuntimeError: this Keras version has no `_distribute_strategy` attribute (the
            workaround no longer applies; try plain `fit`).
    """
    if model.steps_per_execution != 1:
        raise ValueError("The multi-worker fit workaround supports steps_per_execution=1 only.")
    if model.optimizer is None or not model.optimizer.built:
        raise ValueError("Build the optimizer (optimizer.build(model.trainable_variables)) first.")
    if not hasattr(model, _PRIVATE_STRATEGY_ATTRIBUTE):
        raise RuntimeError(
            "This Keras version has no Model._distribute_strategy; the multi-worker "
            "workaround in keras_retinanet.training.multi_worker_fit needs updating."
        )
    saved_strategy = getattr(model, _PRIVATE_STRATEGY_ATTRIBUTE)
    saved_function = model.train_function
    setattr(model, _PRIVATE_STRATEGY_ATTRIBUTE, None)
    model.train_function = _make_train_function(model, strategy)
    try:
        with strategy.scope():
            yield
    finally:
        setattr(model, _PRIVATE_STRATEGY_ATTRIBUTE, saved_strategy)
        model.train_function = saved_function
