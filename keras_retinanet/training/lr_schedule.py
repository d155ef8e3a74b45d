"""Learning-rate schedules with a linear warmup: step drops (the paper) and cosine decay.

Both are `keras.optimizers.schedules.LearningRateSchedule`s called by the optimizer with
`optimizer.iterations`, the number of updates already applied (0 for the first update), so
`schedule(step)` is the rate of update `step + 1`.

Warmup (Detectron's "linear" method): for `step < warmup_steps` the rate is multiplied by

    warmup(step) = start + (1 - start) * step / warmup_steps,

rising from `start` x lr at step 0 to lr at `warmup_steps`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import ops

SCHEDULE_STEP = "step"
SCHEDULE_COSINE = "cosine"
SCHEDULE_KINDS = (SCHEDULE_STEP, SCHEDULE_COSINE)


def _warmup_factor(step, warmup_steps: int, start_factor: float):
    """`start + (1 - start) * step / warmup_steps` before `warmup_steps`, then 1 (float32)."""
    if warmup_steps == 0:
        return ops.ones_like(step)
    progress = ops.minimum(step / float(warmup_steps), 1.0)
    return start_factor + (1.0 - start_factor) * progress


def _check_warmup(warmup_steps: int, warmup_start_factor: float) -> None:
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"`warmup_steps` must be an integer >= 0; got {warmup_steps!r}.")
    if not 0.0 <= warmup_start_factor <= 1.0:
        raise ValueError(f"`warmup_start_factor` must be in [0, 1]; got {warmup_start_factor}.")


@keras.saving.register_keras_serializable(package="keras_retinanet")
class WarmupStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, then the rate times `decay_factor` at each boundary (the paper).

    `lr(step) = learning_rate * decay_factor ** (number of boundaries <= step) *
    warmup(step)`. The paper's 1x schedule for 16 images: `learning_rate=0.01`,
    `boundaries=(60000, 80000)`, `decay_factor=0.1`, 90k steps, with Detectron's warmup of
    500 steps from 1/3.

    Args:
        learning_rate: the full rate after warmup and before the first drop.
        boundaries: strictly increasing steps at which the rate drops.
        decay_factor: factor applied at each boundary, in (0, 1].
        warmup_steps: length of the linear warmup (0: none).
        warmup_start_factor: rate at step 0 as a fraction of `learning_rate`.
    """

    def __init__(
        self,
        learning_rate: float,
        boundaries: Sequence[int],
        decay_factor: float = 0.1,
        warmup_steps: int = 0,
        warmup_start_factor: float = 1.0 / 3.0,
    ):
        boundaries = tuple(int(b) for b in boundaries)
        if learning_rate <= 0:
            raise ValueError(f"`learning_rate` must be > 0; got {learning_rate}.")
        if list(boundaries) != sorted(set(boundaries)) or any(b <= 0 for b in boundaries):
            raise ValueError(
                f"`boundaries` must be strictly increasing positive steps; got {boundaries}."
            )
        if not 0.0 < decay_factor <= 1.0:
            raise ValueError(f"`decay_factor` must be in (0, 1]; got {decay_factor}.")
        _check_warmup(warmup_steps, warmup_start_factor)
        self.learning_rate = float(learning_rate)
        self.boundaries = boundaries
        self.decay_factor = float(decay_factor)
        self.warmup_steps = warmup_steps
        self.warmup_start_factor = float(warmup_start_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rate = ops.full_like(step, self.learning_rate)
        for boundary in self.boundaries:
            rate = ops.where(step >= float(boundary), rate * self.decay_factor, rate)
        return rate * _warmup_factor(step, self.warmup_steps, self.warmup_start_factor)

    def get_config(self) -> dict:
        return {
            "learning_rate": self.learning_rate,
            "boundaries": self.boundaries,
            "decay_factor": self.decay_factor,
            "warmup_steps": self.warmup_steps,
            "warmup_start_factor": self.warmup_start_factor,
        }


@keras.saving.register_keras_serializable(package="keras_retinanet")
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, then cosine decay from `learning_rate` to `final_factor` x it.

    For `step >= warmup_steps`, with `p = (step - warmup_steps) / (total_steps -
    warmup_steps)` clipped to [0, 1]:

        lr(step) = learning_rate * (final + (1 - final) * (1 + cos(pi * p)) / 2).

    Before it the warmup factor applies to `learning_rate`. After `total_steps` the rate
    stays at `final_factor * learning_rate`. (The TF Object Detection API's SSD
    MobileNetV2 FPN-Lite recipe: lr 0.08 for 128 images, 50k steps, 1k warmup steps from
    0.0267, final 0.)

    Args:
        learning_rate: the rate at the end of warmup.
        total_steps: step at which the decay reaches its end.
        warmup_steps: length of the linear warmup, < `total_steps`.
        warmup_start_factor: rate at step 0 as a fraction of `learning_rate`.
        final_factor: final rate as a fraction of `learning_rate`, in [0, 1].
    """

    def __init__(
        self,
        learning_rate: float,
        total_steps: int,
        warmup_steps: int = 0,
        warmup_start_factor: float = 1.0 / 3.0,
        final_factor: float = 0.0,
    ):
        if learning_rate <= 0:
            raise ValueError(f"`learning_rate` must be > 0; got {learning_rate}.")
        _check_warmup(warmup_steps, warmup_start_factor)
        if isinstance(total_steps, bool) or not isinstance(total_steps, int):
            raise ValueError(f"`total_steps` must be an integer; got {total_steps!r}.")
        if total_steps <= warmup_steps:
            raise ValueError(
                f"`total_steps` ({total_steps}) must exceed `warmup_steps` ({warmup_steps})."
            )
        if not 0.0 <= final_factor <= 1.0:
            raise ValueError(f"`final_factor` must be in [0, 1]; got {final_factor}.")
        self.learning_rate = float(learning_rate)
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.warmup_start_factor = float(warmup_start_factor)
        self.final_factor = float(final_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decay_steps = float(self.total_steps - self.warmup_steps)
        progress = ops.clip((step - float(self.warmup_steps)) / decay_steps, 0.0, 1.0)
        cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
        decayed = self.final_factor + (1.0 - self.final_factor) * cosine
        warmup = _warmup_factor(step, self.warmup_steps, self.warmup_start_factor)
        return self.learning_rate * decayed * warmup

    def get_config(self) -> dict:
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "warmup_start_factor": self.warmup_start_factor,
            "final_factor": self.final_factor,
        }


def build_learning_rate_schedule(
    kind: str,
    learning_rate: float,
    total_steps: int,
    warmup_steps: int,
    warmup_start_factor: float,
    step_boundaries: Sequence[int] = (),
    step_factor: float = 0.1,
    cosine_final_factor: float = 0.0,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """The schedule of `kind` ("step" or "cosine") with these settings.

    Args:
        kind: "step" (`WarmupStepDecay`) or "cosine" (`WarmupCosineDecay`).
        learning_rate: the full (already batch-scaled) rate.
        total_steps: steps of the run (the cosine's end).
        warmup_steps: linear warmup length.
        warmup_start_factor: rate at step 0 as a fraction of `learning_rate`.
        step_boundaries: "step" only.
        step_factor: "step" only.
        cosine_final_factor: "cosine" only.

    Returns:
        The schedule.
    """
    if kind == SCHEDULE_STEP:
        return WarmupStepDecay(
            learning_rate,
            boundaries=step_boundaries,
            decay_factor=step_factor,
            warmup_steps=warmup_steps,
            warmup_start_factor=warmup_start_factor,
        )
    if kind == SCHEDULE_COSINE:
        if step_boundaries:
            raise ValueError("`step_boundaries` do not apply to a cosine schedule.")
        return WarmupCosineDecay(
            learning_rate,
            total_steps=total_steps,
            warmup_steps=warmup_steps,
            warmup_start_factor=warmup_start_factor,
            final_factor=cosine_final_factor,
        )
    raise ValueError(f"Unknown schedule kind {kind!r}; choose one of {SCHEDULE_KINDS}.")
