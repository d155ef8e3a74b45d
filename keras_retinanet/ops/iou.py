"""Pairwise intersection over union of boxes in `yxyx` format."""

import tensorflow as tf


def box_area(boxes_yxyx: tf.Tensor) -> tf.Tensor:
    """Area of boxes; inverted or empty boxes have area 0.

    Args:
        boxes_yxyx: float `[..., 4]` boxes as (ymin, xmin, ymax, xmax), any unit.

    Returns:
        float `[...]` areas, never negative.
    """
    heights = tf.maximum(boxes_yxyx[..., 2] - boxes_yxyx[..., 0], 0.0)
    widths = tf.maximum(boxes_yxyx[..., 3] - boxes_yxyx[..., 1], 0.0)
    return heights * widths


def pairwise_intersection(boxes1_yxyx: tf.Tensor, boxes2_yxyx: tf.Tensor) -> tf.Tensor:
    """Intersection areas of every pair of boxes.

    Args:
        boxes1_yxyx: float `[..., M, 4]` (ymin, xmin, ymax, xmax).
        boxes2_yxyx: float `[..., N, 4]`, same unit; leading dimensions broadcast
            against those of `boxes1_yxyx` (e.g. `[A, 4]` anchors with `[B, N, 4]` boxes).

    Returns:
        float `[..., M, N]` intersection areas.
    """
    y1a, x1a, y2a, x2a = tf.unstack(boxes1_yxyx[..., :, tf.newaxis, :], axis=-1)
    y1b, x1b, y2b, x2b = tf.unstack(boxes2_yxyx[..., tf.newaxis, :, :], axis=-1)
    heights = tf.maximum(tf.minimum(y2a, y2b) - tf.maximum(y1a, y1b), 0.0)
    widths = tf.maximum(tf.minimum(x2a, x2b) - tf.maximum(x1a, x1b), 0.0)
    return heights * widths


def pairwise_iou(boxes1_yxyx: tf.Tensor, boxes2_yxyx: tf.Tensor) -> tf.Tensor:
    """Intersection over union of every pair of boxes.

    A pair whose union is empty (two degenerate boxes) has IoU 0, never NaN.

    Args:
        boxes1_yxyx: float `[..., M, 4]` (ymin, xmin, ymax, xmax).
        boxes2_yxyx: float `[..., N, 4]`, same unit; leading dimensions broadcast.

    Returns:
        float `[..., M, N]` IoU in [0, 1].
    """
    intersection = pairwise_intersection(boxes1_yxyx, boxes2_yxyx)
    area1 = box_area(boxes1_yxyx)[..., :, tf.newaxis]
    area2 = box_area(boxes2_yxyx)[..., tf.newaxis, :]
    union = area1 + area2 - intersection
    return tf.math.divide_no_nan(intersection, union)


def pairwise_ioa(boxes1_yxyx: tf.Tensor, boxes2_yxyx: tf.Tensor) -> tf.Tensor:
    """Intersection over the area of the first box of every pair.

    Used to find anchors that lie inside crowd regions.

    Args:
        boxes1_yxyx: float `[..., M, 4]` (ymin, xmin, ymax, xmax); the denominators.
        boxes2_yxyx: float `[..., N, 4]`, same unit; leading dimensions broadcast.

    Returns:
        float `[..., M, N]` values in [0, 1]; 0 where the first box is degenerate.
    """
    intersection = pairwise_intersection(boxes1_yxyx, boxes2_yxyx)
    return tf.math.divide_no_nan(intersection, box_area(boxes1_yxyx)[..., :, tf.newaxis])
