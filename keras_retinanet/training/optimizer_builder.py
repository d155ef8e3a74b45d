"""Builds the optimizer of a run: `CoupledWeightDecaySGD` (or AdamW) on the batch-scaled
schedule."""

from __future__ import annotations

import keras

from keras_retinanet.training.coupled_weight_decay_sgd import CoupledWeightDecaySGD
from keras_retinanet.training.lr_schedule import build_learning_rate_schedule
from keras_retinanet.training.train_config import OPTIMIZER_ADAM, OptimizerConfig, ScheduleConfig


def build_optimizer(
    optimizer: OptimizerConfig,
    schedule: ScheduleConfig,
    global_batch_size: int,
) -> keras.optimizers.Optimizer:
    """SGD with momentum and coupled weight decay (or AdamW) on the configured schedule.

    The schedule's full rate is `optimizer.learning_rate(global_batch_size)` (linear
    scaling: `base_learning_rate * global_batch_size / reference_batch_size`).

    Args:
        optimizer: the `OptimizerConfig`.
        schedule: the `ScheduleConfig`.
        global_batch_size: images per step over all replicas.

    Returns:
        The (unbuilt) optimizer.
    """
    learning_rate = build_learning_rate_schedule(
        schedule.kind,
        optimizer.learning_rate(global_batch_size),
        total_steps=schedule.total_steps,
        warmup_steps=schedule.warmup_steps,
        warmup_start_factor=schedule.warmup_start_factor,
        step_boundaries=schedule.step_boundaries,
        step_factor=schedule.step_factor,
        cosine_final_factor=schedule.cosine_final_factor,
    )
    if optimizer.name == OPTIMIZER_ADAM:
        adam = keras.optimizers.AdamW(
            learning_rate=learning_rate,
            weight_decay=optimizer.weight_decay,
            global_clipnorm=optimizer.global_clipnorm,
        )
        if optimizer.no_decay_pattern is not None:
            # Keras matches the pattern against variable names ("gamma", "kernel", ...).
            adam.exclude_from_weight_decay(var_names=[optimizer.no_decay_pattern])
        return adam
    return CoupledWeightDecaySGD(
        learning_rate=learning_rate,
        momentum=optimizer.momentum,
        nesterov=optimizer.nesterov,
        l2_weight_decay=optimizer.weight_decay,
        no_decay_pattern=optimizer.no_decay_pattern,
        global_clipnorm=optimizer.global_clipnorm,
    )
