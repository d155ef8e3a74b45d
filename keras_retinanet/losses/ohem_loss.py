"""Online hard example mining (OHEM) over anchors: the paper's baseline for the focal loss."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_retinanet import label_codes
from keras_retinanet.losses.checked_class_targets import checked_class_targets
from keras_retinanet.losses.positive_anchor_count import positive_anchor_count

# SSD's ratio, the paper's "OHEM 1:3": three negatives per positive.
DEFAULT_NEGATIVES_PER_POSITIVE = 3.0
# Anchors kept per image (the paper compares 128, 256 and 512).
DEFAULT_BATCH_SIZE_PER_IMAGE = 256
DEFAULT_MIN_NEGATIVES_PER_IMAGE = 0


@keras.saving.register_keras_serializable(package="keras_retinanet")
class OhemLoss(keras.losses.Loss):
    """Sigmoid cross entropy on the hardest anchors of each image (no NMS).

    Every anchor that is not ignored is one example, scored by its cross entropy summed
    over the K classes, `l_a = sum_k softplus(z_ak)` with `z = x` for a target 0 and
    `z = -x` for a target 1 (a positive anchor of class c has the target 1 in column c
    only; a background anchor has all targets 0). Anchors rather than (anchor, class)
    pairs are ranked because the foreground:background ratio is a ratio of anchors: a
    positive anchor is one foreground example, whatever K is. The paper's OHEM also applies
    NMS to the examples before ranking; this one does not.

    Per image, with `P` positive and `N` background anchors, cap `S =
    batch_size_per_image` and `r = negatives_per_positive`:

    * with a ratio (`r` set, "OHEM 1:3" for r = 3, SSD's rule): the hardest
      `p = min(P, floor(S / (1 + r)))` positives and the hardest
      `n = min(N, S - p, max(floor(r * p), min_negatives_per_image))` negatives;
      an image without positives keeps only `min_negatives_per_image` negatives;
    * without a ratio (`r = None`, "OHEM, no 1:3"): the hardest `min(S, P + N)` anchors,
      positive or negative.

    Ties are broken by the lower anchor index. Ignored anchors (`IGNORE`) are never
    selected. The selection is a constant of the step: unselected anchors get exactly zero
    gradient. The sum over the selected anchors is divided by `max(number of positive
    anchors in the batch, 1)` (summed over replicas), the focal loss's normaliser and SSD's
    (`(L_conf + L_loc) / N` with N matched anchors): the classification loss then weighs the
    same against the box loss as the focal loss does, and only the choice of anchors differs.
    No alpha weighting: the ratio balances the classes.

    Call args:
        y_true: int `[B, A]` class targets: class id >= 0 (positive), `BACKGROUND` (-1)
            or `IGNORE` (-2) (see `keras_retinanet.label_codes`).
        y_pred: float `[B, A, K]` classification logits.

    Returns (with the default `reduction="sum"`): the scalar loss. `call` returns the
    per-image sums of the selected anchors divided by the batch's positive count, `[B]`,
    which add up to it.

    Args:
        negatives_per_positive: negatives kept per kept positive (3 for the paper's 1:3),
            > 0; None: no ratio, the hardest anchors whatever their label.
        batch_size_per_image: the cap S on anchors kept per image, >= 1 (with a ratio,
            S // (1 + r) >= 1 so that a positive can be kept).
        min_negatives_per_image: with a ratio, negatives kept in any image even with few
            or no positives (SSD's `min_negatives_per_image`); must be 0 without a ratio.
        reduction: Keras reduction of the per-image values.
        name: loss name.
        dtype: computation dtype (float32 by default, also under mixed precision).
    """

    def __init__(
        self,
        negatives_per_positive: float | None = DEFAULT_NEGATIVES_PER_POSITIVE,
        batch_size_per_image: int = DEFAULT_BATCH_SIZE_PER_IMAGE,
        min_negatives_per_image: int = DEFAULT_MIN_NEGATIVES_PER_IMAGE,
        reduction: str = "sum",
        name: str = "ohem_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if isinstance(batch_size_per_image, bool) or int(batch_size_per_image) != (
            batch_size_per_image
        ):
            raise ValueError(f"`batch_size_per_image` must be an int; got {batch_size_per_image}.")
        if batch_size_per_image < 1:
            raise ValueError(f"`batch_size_per_image` must be >= 1; got {batch_size_per_image}.")
        if min_negatives_per_image < 0 or int(min_negatives_per_image) != min_negatives_per_image:
            raise ValueError(
                f"`min_negatives_per_image` must be an int >= 0; got {min_negatives_per_image}."
            )
        if negatives_per_positive is None:
            if min_negatives_per_image:
                raise ValueError(
                    "`min_negatives_per_image` applies only with a ratio "
                    "(`negatives_per_positive` set)."
                )
        else:
            if negatives_per_positive <= 0:
                raise ValueError(
                    f"`negatives_per_positive` must be > 0 or None; got {negatives_per_positive}."
                )
            if batch_size_per_image // (1.0 + negatives_per_positive) < 1:
                raise ValueError(
                    f"`batch_size_per_image` ({batch_size_per_image}) leaves no room for a "
                    f"positive at {negatives_per_positive} negatives per positive."
                )
        self.negatives_per_positive = (
            None if negatives_per_positive is None else float(negatives_per_positive)
        )
        self.batch_size_per_image = int(batch_size_per_image)
        self.min_negatives_per_image = int(min_negatives_per_image)

    def call(self, y_true, y_pred):
        logits = tf.cast(y_pred, tf.float32)
        class_targets = checked_class_targets(y_true, logits, "OhemLoss")
        anchor_losses = anchor_cross_entropy(class_targets, logits)  # [B, A]
        selected = self.select(class_targets, tf.stop_gradient(anchor_losses))
        per_image = tf.reduce_sum(tf.where(selected, anchor_losses, 0.0), axis=1)  # [B]
        return per_image / positive_anchor_count(class_targets)

    def select(self, class_targets: tf.Tensor, anchor_losses: tf.Tensor) -> tf.Tensor:
        """Which anchors the loss keeps.

        Args:
            class_targets: int `[B, A]` class targets (label codes).
            anchor_losses: float32 `[B, A]` per-anchor losses to rank by (highest first).

        Returns:
            bool `[B, A]`: True for the selected anchors.
        """
        class_targets = tf.cast(class_targets, tf.int32)
        positive = tf.greater_equal(class_targets, 0)
        negative = tf.equal(class_targets, label_codes.BACKGROUND)
        cap = tf.constant(self.batch_size_per_image, tf.int32)
        if self.negatives_per_positive is None:
            valid = tf.logical_or(positive, negative)
            return _hardest(anchor_losses, valid, tf.minimum(_count(valid), cap))
        ratio = self.negatives_per_positive
        positive_quota = tf.constant(int(self.batch_size_per_image // (1.0 + ratio)), tf.int32)
        num_positives = tf.minimum(_count(positive), positive_quota)  # [B]
        wanted = tf.cast(tf.floor(ratio * tf.cast(num_positives, tf.float32)), tf.int32)
        wanted = tf.maximum(wanted, self.min_negatives_per_image)
        num_negatives = tf.minimum(tf.minimum(_count(negative), cap - num_positives), wanted)
        return tf.logical_or(
            _hardest(anchor_losses, positive, num_positives),
            _hardest(anchor_losses, negative, num_negatives),
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "negatives_per_positive": self.negatives_per_positive,
                "batch_size_per_image": self.batch_size_per_image,
                "min_negatives_per_image": self.min_negatives_per_image,
            }
        )
        return config


def anchor_cross_entropy(class_targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Sigmoid cross entropy of each anchor, summed over its K class columns.

    Args:
        class_targets: int `[B, A]` class targets; an ignored anchor is scored like a
            background one (callers leave it out).
        logits: float `[B, A, K]` classification logits.

    Returns:
        float32 `[B, A]` `sum_k softplus(z_ak)`, `z = x` for a target 0, `-x` for a target 1.
    """
    logits = tf.cast(logits, tf.float32)
    targets = tf.one_hot(tf.cast(class_targets, tf.int32), tf.shape(logits)[-1], dtype=tf.float32)
    return tf.reduce_sum(tf.nn.softplus(logits * (1.0 - 2.0 * targets)), axis=-1)


def _count(mask: tf.Tensor) -> tf.Tensor:
    """int32 `[B]`: True entries of a bool `[B, A]` mask per image."""
    return tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)


def _hardest(values: tf.Tensor, eligible: tf.Tensor, counts: tf.Tensor) -> tf.Tensor:
    """The `counts[b]` largest `values` among the `eligible` anchors of each image.

    Args:
        values: float32 `[B, A]` scores.
        eligible: bool `[B, A]` anchors that may be chosen.
        counts: int32 `[B]` how many to choose per image (at most the eligible ones).

    Returns:
        bool `[B, A]`; ties go to the lower anchor index.
    """
    keys = tf.where(eligible, values, tf.fill(tf.shape(values), -float("inf")))
    order = tf.argsort(keys, axis=1, direction="DESCENDING", stable=True)  # [B, A]
    ranks = tf.argsort(order, axis=1, stable=True)  # inverse permutation: rank of each anchor
    return tf.logical_and(eligible, ranks < counts[:, tf.newaxis])
