"""The loss normaliser: the number of positive anchors, summed over replicas."""

import tensorflow as tf


def positive_anchor_count(class_targets: tf.Tensor) -> tf.Tensor:
    """`max(number of positive anchors, 1)` over the whole global batch.

    Inside a `tf.distribute` replica context with more than one replica, the count is
    summed over all replicas, so that each replica's loss `sum_local / count` adds up
    to the loss of the global batch (Keras sums the gradients of the replicas and does
    not rescale losses reduced with `"sum"`). Training on N replicas then matches
    training on one device with the same global batch.

    Args:
        class_targets: int `[B, A]` (or any shape) class targets; positives are >= 0.

    Returns:
        float32 scalar >= 1.
    """
    count = tf.reduce_sum(tf.cast(tf.greater_equal(class_targets, 0), tf.float32))
    replica_context = tf.distribute.get_replica_context()
    if replica_context is not None and replica_context.num_replicas_in_sync > 1:
        count = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return tf.maximum(count, 1.0)
