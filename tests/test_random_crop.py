"""Tests for keras_retinanet.data.augmentation.random_crop."""

import numpy as np
import pytest
import tensorflow as tf

from keras_retinanet.data.augmentation import RandomCrop, crop_image_and_boxes, sample_crop_offset


def _boxes_valid(boxes: np.ndarray, height: int, width: int) -> bool:
    return bool(
        np.all(np.isfinite(boxes))
        and np.all(boxes[:, 0] >= 0)
        and np.all(boxes[:, 1] >= 0)
        and np.all(boxes[:, 2] <= height)
        and np.all(boxes[:, 3] <= width)
        and np.all(boxes[:, 2:] >= boxes[:, :2])
    )


def test_crop_golden_boxes_and_dropping():
    image = np.arange(100 * 100 * 3, dtype=np.float32).reshape(100, 100, 3)
    boxes = np.array(
        [
            [20, 20, 40, 40],  # A: inside the window -> kept, shifted by (10, 10).
            [40, 50, 60, 70],  # B: rows 40..60 cut at 60 -> half visible -> kept at 0.3.
            [20, 55, 30, 80],  # C: cols 55..80 cut at 60 -> 5/25 = 20% visible -> dropped.
            [70, 70, 90, 90],  # D: outside the window -> dropped.
        ],
        np.float32,
    )
    classes = np.array([0, 1, 2, 3], np.int32)
    is_crowd = np.array([False, True, False, False])
    # Window rows/cols 10..60.
    out_image, out_boxes, out_classes, out_crowd = crop_image_and_boxes(
        image, boxes, classes, is_crowd, offset=[10, 10], crop_size=[50, 50], min_area_fraction=0.3
    )
    np.testing.assert_array_equal(out_image.numpy(), image[10:60, 10:60])
    np.testing.assert_allclose(out_boxes.numpy(), [[10, 10, 30, 30], [30, 40, 50, 50]])
    np.testing.assert_array_equal(out_classes.numpy(), [0, 1])
    np.testing.assert_array_equal(out_crowd.numpy(), [False, True])

    # With threshold 0 every object with a non-empty clipped box survives (C, not D).
    _, out_boxes, out_classes, _ = crop_image_and_boxes(
        image, boxes, classes, is_crowd, [10, 10], [50, 50], min_area_fraction=0.0
    )
    np.testing.assert_array_equal(out_classes.numpy(), [0, 1, 2])
    np.testing.assert_allclose(out_boxes.numpy()[2], [10, 45, 20, 50])


def test_crop_never_returns_nan_or_inverted_boxes():
    image = np.zeros((40, 40, 3), np.float32)
    boxes = np.array(
        [
            [5, 5, 5, 20],  # zero height
            [np.nan, 0, 10, 10],  # NaN
            [30, 30, 10, 10],  # inverted
            [-10, -10, 50, 50],  # larger than the image
        ],
        np.float32,
    )
    classes = np.arange(4, dtype=np.int32)
    _, out_boxes, out_classes, _ = crop_image_and_boxes(
        image, boxes, classes, np.zeros(4, bool), [0, 0], [20, 20], min_area_fraction=0.0
    )
    np.testing.assert_array_equal(out_classes.numpy(), [3])
    np.testing.assert_allclose(out_boxes.numpy(), [[0, 0, 20, 20]])


def test_sample_crop_offset_range():
    offsets = np.stack(
        [sample_crop_offset([10, 20], [7, 20], tf.constant([s, 0])).numpy() for s in range(50)]
    )
    assert offsets[:, 0].min() == 0 and offsets[:, 0].max() == 3
    np.testing.assert_array_equal(offsets[:, 1], 0)


def test_random_crop_boxes_follow_pixels():
    # Three objects, one per colour channel, so each box can be checked on its own pixels.
    image = np.zeros((96, 128, 3), np.float32)
    object_boxes = np.array([[8, 8, 40, 48], [50, 60, 90, 120], [20, 70, 45, 100]], np.float32)
    for channel, (ymin, xmin, ymax, xmax) in enumerate(object_boxes.astype(int)):
        image[ymin:ymax, xmin:xmax, channel] = 255.0
    crop = RandomCrop(probability=1.0, side_fraction_range=(0.4, 0.9), min_area_fraction=0.25)
    dropped_any = False
    for seed in range(15):
        out_image, out_boxes, out_classes, _ = crop(
            image, object_boxes, np.arange(3, dtype=np.int32), np.zeros(3, bool), [seed, 9]
        )
        out_image, out_boxes, out_classes = (t.numpy() for t in (out_image, out_boxes, out_classes))
        height, width = out_image.shape[:2]
        assert 0.4 * 96 - 1 <= height <= 0.9 * 96 + 1 and 0.4 * 128 - 1 <= width <= 0.9 * 128 + 1
        assert _boxes_valid(out_boxes, height, width)
        dropped_any |= len(out_classes) < 3
        for box, channel in zip(out_boxes, out_classes, strict=True):
            rows, cols = np.nonzero(out_image[..., channel] > 127)
            np.testing.assert_allclose(
                box, [rows.min(), cols.min(), rows.max() + 1, cols.max() + 1]
            )
        for channel in set(range(3)) - set(out_classes.tolist()):
            visible = np.sum(out_image[..., channel] > 127)
            ymin, xmin, ymax, xmax = object_boxes[channel]
            assert visible < 0.25 * (ymax - ymin) * (xmax - xmin)
    assert dropped_any


def test_probability_zero_is_identity_and_seed_is_deterministic():
    image = np.random.default_rng(0).uniform(0, 255, (32, 48, 3)).astype(np.float32)
    boxes = np.array([[0, 0, 0, 0]], np.float32)  # degenerate, kept when no crop happens
    sample = (image, boxes, np.array([0], np.int32), np.array([False]))
    out = RandomCrop(probability=0.0)(*sample, seed=[1, 1])
    np.testing.assert_array_equal(out[0].numpy(), image)
    np.testing.assert_array_equal(out[1].numpy(), boxes)
    crop = RandomCrop(probability=1.0)
    first, second = crop(*sample, seed=[4, 2]), crop(*sample, seed=[4, 2])
    np.testing.assert_array_equal(first[0].numpy(), second[0].numpy())
    different = crop(*sample, seed=[5, 2])
    assert first[0].shape != different[0].shape or not np.array_equal(first[0], different[0])


def test_invalid_arguments_and_config():
    with pytest.raises(ValueError, match="side_fraction_range"):
        RandomCrop(side_fraction_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="side_fraction_range"):
        RandomCrop(side_fraction_range=(0.5, 1.2))
    with pytest.raises(ValueError, match="min_area_fraction"):
        RandomCrop(min_area_fraction=-0.1)
    with pytest.raises(ValueError, match="probability"):
        RandomCrop(probability=2.0)
    crop = RandomCrop(probability=0.3, side_fraction_range=[0.6, 0.8], min_area_fraction=0.7)
    config = crop.get_config()
    assert config == {
        "probability": 0.3,
        "side_fraction_range": (0.6, 0.8),
        "min_area_fraction": 0.7,
    }
    assert RandomCrop.from_config(config) == crop
