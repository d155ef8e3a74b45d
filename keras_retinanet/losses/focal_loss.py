"""The focal loss of Lin et al., from logits, normalised by the positive anchors."""

import keras
import tensorflow as tf

from keras_retinanet import label_codes
from keras_retinanet.losses.checked_class_targets import checked_class_targets
from keras_retinanet.losses.positive_anchor_count import positive_anchor_count

DEFAULT_ALPHA = 0.25
DEFAULT_GAMMA = 2.0


@keras.saving.register_keras_serializable(package="keras_retinanet")
class FocalLoss(keras.losses.Loss):
    """Sigmoid focal loss `FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t)`.

    Applied to every (anchor, class) pair: for an anchor of class k the target of
    column k is 1 and all others 0; a background anchor has all targets 0; ignored
    anchors add nothing. `p_t` is p for a target 1 and 1 - p otherwise, and
    `alpha_t = alpha` for a target 1, `1 - alpha` otherwise. The sum is divided by
    `max(number of positive anchors in the batch, 1)` (over all replicas when
    distributed, see `positive_anchor_count`).

    Numerically stable from logits: with `z = x` for a target 0 and `z = -x` for a
    target 1, `-log(p_t) = softplus(z)` and `(1 - p_t)^gamma = exp(gamma * log_sigmoid(z))`,
    both finite with finite gradients for logits of +-100 (no `log(0)`, no `0^gamma`).
    With `gamma = 0` it is alpha-balanced binary cross entropy.

    Call args:
        y_true: int `[B, A]` class targets: class id >= 0 (positive), `BACKGROUND` (-1)
            or `IGNORE` (-2) (see `keras_retinanet.label_codes`).
        y_pred: float `[B, A, K]` classification logits.

    Returns (with the default `reduction="sum"`): the scalar normalised loss. `call`
    returns the per-image normalised sums `[B]`, which add up to it.

    Args:
        alpha: weight of the positive targets, in [0, 1].
        gamma: focusing parameter >= 0.
        reduction: Keras reduction of the per-image values; "sum" gives the paper's loss.
        name: loss name.
        dtype: computation dtype (float32 by default, also under mixed precision).
    """

    def __init__(
        self,
        alpha: float = DEFAULT_ALPHA,
        gamma: float = DEFAULT_GAMMA,
        reduction: str = "sum",
        name: str = "focal_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"`alpha` must be in [0, 1]; got {alpha}.")
        if gamma < 0.0:
            raise ValueError(f"`gamma` must be >= 0; got {gamma}.")
        self.alpha = float(alpha)
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        logits = tf.cast(y_pred, tf.float32)
        class_targets = checked_class_targets(y_true, logits, "FocalLoss")
        targets = tf.one_hot(class_targets, tf.shape(logits)[-1], dtype=tf.float32)  # [B, A, K]
        elementwise = self.elementwise_loss(targets, logits)
        not_ignored = tf.cast(tf.not_equal(class_targets, label_codes.IGNORE), tf.float32)
        per_image = tf.reduce_sum(elementwise * not_ignored[..., tf.newaxis], axis=[1, 2])
        return per_image / positive_anchor_count(class_targets)

    def elementwise_loss(self, targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        """Unnormalised focal loss of every element.

        Args:
            targets: float `[...]` binary targets in {0, 1}.
            logits: float `[...]` logits, same shape.

        Returns:
            float32 `[...]` `-alpha_t (1 - p_t)^gamma log(p_t)`.
        """
        signed = logits * (1.0 - 2.0 * targets)  # z: x for target 0, -x for target 1
        cross_entropy = tf.nn.softplus(signed)  # -log(p_t)
        modulating = tf.exp(self.gamma * tf.math.log_sigmoid(signed))  # (1 - p_t)^gamma
        alpha_t = targets * self.alpha + (1.0 - targets) * (1.0 - self.alpha)
        return alpha_t * modulating * cross_entropy

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"alpha": self.alpha, "gamma": self.gamma})
        return config
