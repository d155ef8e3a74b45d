import keras
import numpy as np
import tensorflow as tf

from keras_retinanet.ops.iou import box_area, pairwise_ioa, pairwise_iou


def test_iou_golden():
    boxes1 = tf.constant([[0.0, 0.0, 10.0, 10.0]])
    boxes2 = tf.constant(
        [
            [0.0, 0.0, 10.0, 10.0],  # identical: 1
            [5.0, 0.0, 15.0, 10.0],  # overlap 5x10 = 50, union 150: 1/3
            [20.0, 20.0, 30.0, 30.0],  # disjoint: 0
            [2.0, 2.0, 4.0, 4.0],  # inside, area 4: 4 / 100
            [5.0, 5.0, 5.0, 9.0],  # zero height: 0
        ]
    )
    np.testing.assert_allclose(
        pairwise_iou(boxes1, boxes2), [[1.0, 1 / 3, 0.0, 0.04, 0.0]], rtol=1e-6
    )
    # Intersection over the first box's area: 100/100, 50/100, 0, 4/100, 0.
    np.testing.assert_allclose(
        pairwise_ioa(boxes1, boxes2), [[1.0, 0.5, 0.0, 0.04, 0.0]], rtol=1e-6
    )


def test_degenerate_pair_is_zero_not_nan():
    point = tf.constant([[3.0, 3.0, 3.0, 3.0]])
    assert pairwise_iou(point, point).numpy()[0, 0] == 0.0
    assert box_area(tf.constant([[5.0, 5.0, 1.0, 1.0]])).numpy()[0] == 0.0  # inverted


def test_matches_keras_compute_iou_broadcast():
    rng = np.random.default_rng(3)
    anchors = rng.uniform(0, 100, (30, 2))
    anchors = np.concatenate([anchors, anchors + rng.uniform(1, 50, (30, 2))], -1).astype("float32")
    boxes = rng.uniform(0, 100, (2, 7, 2))
    boxes = np.concatenate([boxes, boxes + rng.uniform(1, 50, (2, 7, 2))], -1).astype("float32")
    ours = pairwise_iou(anchors, boxes).numpy()  # [2, 30, 7]
    for b in range(2):
        reference = keras.utils.bounding_boxes.compute_iou(anchors, boxes[b], "yxyx")
        np.testing.assert_allclose(ours[b], np.asarray(reference), atol=1e-5)
