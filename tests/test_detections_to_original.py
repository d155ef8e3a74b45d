"""Tests for `rescale_detections`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_retinanet.evaluation import rescale_detections


def test_divides_by_each_images_scale():
    # Image 0: 1000 x 500 original resized by (0.5, 0.5) -> 500 x 250.
    # Image 1: 300 x 400 original resized by (2.0, 1.5) -> 600 x 600.
    boxes_input_yxyx = np.array(
        [
            [[10.0, 20.0, 30.0, 40.0]],
            [[60.0, 30.0, 120.0, 90.0]],
        ],
        dtype=np.float32,
    )
    scale = np.array([[0.5, 0.5], [2.0, 1.5]], dtype=np.float32)
    original_size = np.array([[1000, 500], [300, 400]], dtype=np.int32)
    boxes = keras.ops.convert_to_numpy(rescale_detections(boxes_input_yxyx, scale, original_size))
    # Image 0: [10, 20, 30, 40] / 0.5 = [20, 40, 60, 80].
    # Image 1: y / 2.0, x / 1.5: [60/2, 30/1.5, 120/2, 90/1.5] = [30, 20, 60, 60].
    np.testing.assert_allclose(boxes, [[[20, 40, 60, 80]], [[30, 20, 60, 60]]], rtol=1e-6)
    assert boxes.dtype == np.float32
    assert boxes.shape == (2, 1, 4)


def test_clips_to_the_original_image():
    # Original 100 x 200 at scale 2 -> 200 x 400 inside a 512 x 512 padded input.
    scale = np.array([[2.0, 2.0]], dtype=np.float32)
    original_size = np.array([[100, 200]], dtype=np.int32)
    boxes_input_yxyx = np.array(
        [
            [
                [-10.0, -20.0, 100.0, 100.0],  # Sticks out top-left: clipped at 0.
                [150.0, 300.0, 300.0, 500.0],  # Reaches into the padding: clipped at 100 x 200.
                [250.0, 450.0, 300.0, 500.0],  # Entirely in the padding: collapses to a point.
            ]
        ],
        dtype=np.float32,
    )
    boxes = keras.ops.convert_to_numpy(rescale_detections(boxes_input_yxyx, scale, original_size))
    np.testing.assert_allclose(
        boxes,
        [[[0, 0, 50, 50], [75, 150, 100, 200], [100, 200, 100, 200]]],
        rtol=1e-6,
    )


@pytest.mark.parametrize("as_tensor", [False, True])
def test_round_trip_through_the_resize(as_tensor):
    rng = np.random.default_rng(0)
    batch, detections = 3, 5
    original_size = np.array([[480, 640], [1000, 300], [37, 53]], dtype=np.int32)
    # Aspect-preserving resize so the longer side is 512 (same factor on both axes).
    factor = 512.0 / original_size.max(axis=1)
    scale = np.stack([factor, factor], axis=1).astype(np.float32)
    # Random boxes inside each original image.
    size_yxyx = np.tile(original_size[:, None, :], [1, 1, 2]).astype(np.float32)
    corners = rng.uniform(0.0, 1.0, size=[batch, detections, 2, 2]) * size_yxyx[:, :, None, :2]
    corners = np.sort(corners, axis=2)
    boxes_original = corners.reshape(batch, detections, 4).astype(np.float32)
    boxes_input = boxes_original * np.tile(scale, [1, 2])[:, None, :]

    arguments = (boxes_input, scale, original_size)
    if as_tensor:
        arguments = tuple(tf.constant(a) for a in arguments)
    recovered = keras.ops.convert_to_numpy(rescale_detections(*arguments))
    np.testing.assert_allclose(recovered, boxes_original, rtol=1e-5, atol=1e-3)
