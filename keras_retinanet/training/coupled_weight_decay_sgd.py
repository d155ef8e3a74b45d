"""SGD with momentum and coupled weight decay: L2 added to the gradient, before momentum.

Why coupled. The paper trains with "weight decay of 0.0001 and momentum of 0.9" in Detectron
(Caffe2), where weight decay is an L2 term added to the gradient, `g' = g + wd * w`, and the
momentum update then accumulates `g'` with the learning rate folded in:

    v = momentum * v - lr * (g + wd * w)
    w = w + v

which is exactly Keras' SGD update applied to `g'`. Keras' own `weight_decay=` argument is
*decoupled* instead: it shrinks the weights by `lr * wd * w` outside the momentum buffer. With
momentum 0.9 the coupled term keeps accumulating in `v`, so in the steady state it decays
about `1 / (1 - momentum)` = 10 times more than the decoupled form with the same number: the
paper's 1e-4 would correspond to roughly 1e-3 decoupled. Implementing the coupled form keeps
the paper's (and every Detectron-derived recipe's) hyper-parameters meaningful as written.

Which variables decay: every trainable variable whose path does not match `no_decay_pattern`
(default: normalisation scales and offsets, `.../gamma` and `.../beta`, as Detectron2's
`WEIGHT_DECAY_NORM = 0`); biases decay, as in Detectron.
"""

from __future__ import annotations

import re

import keras
from keras import ops

# Paths of BatchNormalization / LayerNormalization scales and offsets.
NORM_PARAMETER_PATTERN = r"(^|/)(gamma|beta)$"


@keras.saving.register_keras_serializable(package="keras_retinanet")
class CoupledWeightDecaySGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD` with L2 weight decay added to the gradient (see module doc).

    Update of a decayed variable `w` with gradient `g` (momentum > 0, no Nesterov):

        v <- momentum * v - lr * (g + l2_weight_decay * w)
        w <- w + v

    Variables exempt from decay (path matching `no_decay_pattern`) use `g` unchanged.

    Args:
        learning_rate: float or `LearningRateSchedule`.
        momentum: momentum, >= 0.
        nesterov: Nesterov momentum.
        l2_weight_decay: coefficient of the L2 term added to the gradient, >= 0.
        no_decay_pattern: regular expression searched in each variable's `path`; matching
            variables are not decayed. None decays every variable.
        weight_decay: must stay None: Keras' decoupled decay would apply on top.
        name: optimizer name.
        **kwargs: other `keras.optimizers.Optimizer` arguments (clipnorm, ...).
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum: float = 0.9,
        nesterov: bool = False,
        l2_weight_decay: float = 1e-4,
        no_decay_pattern: str | None = NORM_PARAMETER_PATTERN,
        weight_decay=None,
        name: str = "coupled_weight_decay_sgd",
        **kwargs,
    ):
        if weight_decay is not None:
            raise ValueError(
                "CoupledWeightDecaySGD applies `l2_weight_decay` to the gradient; Keras' "
                "decoupled `weight_decay` would decay the weights a second time. Pass "
                "l2_weight_decay= instead."
            )
        if l2_weight_decay < 0:
            raise ValueError(f"`l2_weight_decay` must be >= 0; got {l2_weight_decay}.")
        if no_decay_pattern is not None:
            re.compile(no_decay_pattern)  # raises re.error for a bad pattern
        super().__init__(
            learning_rate=learning_rate,
            momentum=momentum,
            nesterov=nesterov,
            name=name,
            **kwargs,
        )
        self.l2_weight_decay = float(l2_weight_decay)
        self.no_decay_pattern = no_decay_pattern
        self._decayed: list[bool] = []

    def decays(self, variable) -> bool:
        """Whether `variable` (a Keras variable with a `path`) gets weight decay."""
        if self.l2_weight_decay == 0.0:
            return False
        if self.no_decay_pattern is None:
            return True
        return re.search(self.no_decay_pattern, variable.path) is None

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._decayed = [self.decays(variable) for variable in variables]

    def update_step(self, gradient, variable, learning_rate):
        if self._decayed[self._get_variable_index(variable)]:
            gradient = ops.add(
                ops.cast(gradient, variable.dtype),
                ops.multiply(ops.cast(self.l2_weight_decay, variable.dtype), variable),
            )
        super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "l2_weight_decay": self.l2_weight_decay,
                "no_decay_pattern": self.no_decay_pattern,
            }
        )
        return config
