"""Class targets a classification loss accepts, checked once for every loss."""

import tensorflow as tf

from keras_retinanet import label_codes


def checked_class_targets(y_true: tf.Tensor, logits: tf.Tensor, loss_name: str) -> tf.Tensor:
    """int32 class targets, asserted to lie in `[IGNORE, K)` (K = logits' last dimension).

    Args:
        y_true: int `[B, A]` class targets (class id >= 0, `BACKGROUND` or `IGNORE`).
        logits: float `[B, A, K]` classification logits.
        loss_name: named in the error messages.

    Returns:
        int32 `[B, A]`; running it raises `InvalidArgumentError` for a target >= K or
        < `IGNORE` instead of a silent wrong loss.
    """
    class_targets = tf.cast(y_true, tf.int32)
    with tf.control_dependencies(
        [
            tf.debugging.assert_less(
                class_targets,
                tf.shape(logits)[-1],
                message=f"{loss_name}: class target >= num_classes (logits' last dimension).",
            ),
            tf.debugging.assert_greater_equal(
                class_targets,
                label_codes.IGNORE,
                message=f"{loss_name}: class target < -2 (IGNORE).",
            ),
        ]
    ):
        return tf.identity(class_targets)
