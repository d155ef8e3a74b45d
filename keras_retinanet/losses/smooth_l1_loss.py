"""Smooth L1 (Huber) box-regression loss."""

import keras
import tensorflow as tf

# Transition point between the quadratic and the linear part, in units of the box
# coder's scaled deltas (scale factors 10, 10, 5, 5): 1.0 here is 0.1 in raw
# centre offsets, close to Detectron's beta of 0.11 (TF Object Detection API default).
DEFAULT_BETA = 1.0


@keras.saving.register_keras_serializable(package="keras_retinanet")
class SmoothL1Loss(keras.losses.Loss):
    """Smooth L1 loss summed over the 4 box coordinates of each anchor.

    `l(d) = 0.5 d^2 / beta` for `|d| < beta`, else `|d| - 0.5 beta` (equal to the Huber
    loss with `delta = beta` divided by beta; identical for the default beta = 1).

    In RetinaNet the loss covers positive anchors only and shares the focal loss's
    normaliser: pass `sample_weight = positive_mask / positive_anchor_count(targets)`
    (`RetinaNet.compute_loss` does this), so the default `reduction="sum"` gives
    `sum over positive anchors / max(num positives, 1)`.

    Call args:
        y_true: float `[B, A, 4]` encoded box targets (ty, tx, th, tw).
        y_pred: float `[B, A, 4]` predicted deltas.
        sample_weight: optional float `[B, A]` per-anchor weights.

    Args:
        beta: transition point, > 0.
        reduction: Keras reduction of the per-anchor values.
        name: loss name.
        dtype: computation dtype (float32 by default, also under mixed precision).
    """

    def __init__(
        self,
        beta: float = DEFAULT_BETA,
        reduction: str = "sum",
        name: str = "smooth_l1_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if beta <= 0.0:
            raise ValueError(f"`beta` must be > 0; got {beta}.")
        self.beta = float(beta)

    def call(self, y_true, y_pred):
        difference = tf.abs(tf.cast(y_pred, tf.float32) - tf.cast(y_true, tf.float32))
        elementwise = tf.where(
            difference < self.beta,
            0.5 * tf.square(difference) / self.beta,
            difference - 0.5 * self.beta,
        )
        return tf.reduce_sum(elementwise, axis=-1)  # [B, A]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"beta": self.beta})
        return config
