"""Tests for keras_retinanet.data.augmentation.scale_jitter."""

import numpy as np
import pytest
import tensorflow as tf

from keras_retinanet.data.augmentation import (
    DEFAULT_FACTOR_RANGE,
    LARGE_SCALE_JITTER_FACTOR_RANGE,
    ScaleJitter,
)

HEIGHT, WIDTH = 64, 96
# One object on rows 16..39, columns 24..71 -> box [16, 24, 40, 72].
OBJECT_BOX = (16, 24, 40, 72)
# Bilinear resizing blurs the object's edges by up to a pixel.
EDGE_TOLERANCE = 1.0


def _marked_sample():
    image = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    ymin, xmin, ymax, xmax = OBJECT_BOX
    image[ymin:ymax, xmin:xmax] = 255.0
    return image, np.array([OBJECT_BOX], np.float32), np.array([2], np.int32), np.array([False])


def _tight_box(image: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(image[..., 0] > 127)
    return np.array([rows.min(), cols.min(), rows.max() + 1, cols.max() + 1], np.float32)


def test_fixed_factor_doubles_image_and_boxes():
    jitter = ScaleJitter(factor_range=(2.0, 2.0))
    image, boxes, classes, is_crowd = jitter(*_marked_sample(), seed=tf.constant([0, 1]))
    assert image.shape == (128, 192, 3)
    np.testing.assert_allclose(boxes.numpy(), [[32.0, 48.0, 80.0, 144.0]])
    np.testing.assert_allclose(boxes.numpy()[0], _tight_box(image.numpy()), atol=EDGE_TOLERANCE)
    np.testing.assert_array_equal(classes.numpy(), [2])
    np.testing.assert_array_equal(is_crowd.numpy(), [False])


def test_random_factor_in_range_and_box_follows_pixels():
    jitter = ScaleJitter(factor_range=(0.5, 1.5))
    sizes = set()
    for seed in range(6):
        image, boxes, _, _ = jitter(*_marked_sample(), seed=tf.constant([seed, 7]))
        height, width = image.shape[:2]
        sizes.add((height, width))
        assert 32 <= height <= 96 and 48 <= width <= 144
        # Isotropic: both sides scaled by the same factor (up to rounding).
        assert abs(height / HEIGHT - width / WIDTH) < 1.0 / HEIGHT
        np.testing.assert_allclose(boxes.numpy()[0], _tight_box(image.numpy()), atol=EDGE_TOLERANCE)
    assert len(sizes) > 1


def test_target_scale_is_the_factor_one_size():
    jitter = ScaleJitter(factor_range=(1.0, 1.0))
    image, boxes, _, _ = jitter(
        *_marked_sample(), seed=tf.constant([0, 0]), target_scale=tf.constant([0.5, 0.25])
    )
    # 64 * 0.5 = 32 rows, 96 * 0.25 = 24 columns; boxes scaled per axis.
    assert image.shape == (32, 24, 3)
    np.testing.assert_allclose(boxes.numpy(), [[8.0, 6.0, 20.0, 18.0]])


def test_crop_to_output_size_keeps_boxes_consistent():
    jitter = ScaleJitter(factor_range=(2.0, 2.0), min_area_fraction=0.0)
    for seed in range(5):
        image, boxes, classes, _ = jitter(
            *_marked_sample(), seed=tf.constant([seed, 1]), output_size=tf.constant([64, 64])
        )
        assert image.shape == (64, 64, 3)
        boxes = boxes.numpy()
        assert np.all(boxes >= 0.0) and np.all(boxes <= 64.0)
        assert np.all(boxes[:, 2:] >= boxes[:, :2])
        if boxes.shape[0]:
            np.testing.assert_allclose(boxes[0], _tight_box(image.numpy()), atol=EDGE_TOLERANCE)
        else:
            assert not np.any(image.numpy() > 127)
        assert classes.shape[0] == boxes.shape[0]


def test_crop_to_output_size_drops_objects_cut_away():
    # Object at the bottom-right corner; doubled image 128x128 cropped to 32x32 windows: a
    # window covering under half of it must drop it with min_area_fraction=0.5.
    image = np.zeros((64, 64, 3), np.float32)
    image[48:64, 48:64] = 255.0
    sample = (image, np.array([[48.0, 48.0, 64.0, 64.0]], np.float32), np.array([1], np.int32))
    jitter = ScaleJitter(factor_range=(2.0, 2.0), min_area_fraction=0.5)
    kept, dropped = 0, 0
    for seed in range(30):
        out_image, boxes, _, _ = jitter(
            *sample, np.array([False]), seed=tf.constant([seed, 2]), output_size=[32, 32]
        )
        visible = np.sum(out_image.numpy()[..., 0] > 127)
        # The object is 32x32 = 1024 pixels after doubling.
        if boxes.shape[0]:
            kept += 1
            assert visible >= 0.5 * 1024 - 2 * 32
        else:
            dropped += 1
            assert visible <= 0.5 * 1024 + 2 * 32
    assert dropped > 0


def test_no_crop_when_image_fits():
    jitter = ScaleJitter(factor_range=(0.5, 0.5))
    image, boxes, _, _ = jitter(*_marked_sample(), seed=[0, 0], output_size=[64, 96])
    assert image.shape == (32, 48, 3)
    np.testing.assert_allclose(boxes.numpy(), [[8.0, 12.0, 20.0, 36.0]])


def test_same_seed_same_result():
    jitter = ScaleJitter(factor_range=LARGE_SCALE_JITTER_FACTOR_RANGE)
    first = jitter(*_marked_sample(), seed=[3, 4], output_size=[64, 64])
    second = jitter(*_marked_sample(), seed=[3, 4], output_size=[64, 64])
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_invalid_arguments_and_config():
    with pytest.raises(ValueError, match="factor_range"):
        ScaleJitter(factor_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="factor_range"):
        ScaleJitter(factor_range=(1.5, 1.0))
    with pytest.raises(ValueError, match="min_area_fraction"):
        ScaleJitter(min_area_fraction=2.0)
    jitter = ScaleJitter(factor_range=[0.1, 2.0], min_area_fraction=0.2, method="nearest")
    config = jitter.get_config()
    assert config == {"factor_range": (0.1, 2.0), "min_area_fraction": 0.2, "method": "nearest"}
    assert ScaleJitter.from_config(config) == jitter
    assert ScaleJitter().factor_range == DEFAULT_FACTOR_RANGE
