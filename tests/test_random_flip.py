"""Tests for keras_retinanet.data.augmentation.random_flip."""

import numpy as np
import pytest
import tensorflow as tf

from keras_retinanet.data.augmentation import RandomFlip, flip_boxes_left_right

HEIGHT, WIDTH = 64, 100
# A solid object on rows 10..29 and columns 20..49: its box is [10, 20, 30, 50].
OBJECT_BOX = (10, 20, 30, 50)


def _marked_sample():
    image = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    ymin, xmin, ymax, xmax = OBJECT_BOX
    image[ymin:ymax, xmin:xmax] = 255.0
    boxes = np.array([OBJECT_BOX], np.float32)
    return image, boxes, np.array([7], np.int32), np.array([True])


def _tight_box(image: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(image[..., 0] > 127)
    return np.array([rows.min(), cols.min(), rows.max() + 1, cols.max() + 1], np.float32)


def test_flip_boxes_arithmetic():
    # x' = W - x: xmin' = 100 - 50 = 50, xmax' = 100 - 20 = 80; y is unchanged.
    boxes = tf.constant([[10.0, 20.0, 30.0, 50.0], [0.0, 0.0, 64.0, 100.0]])
    flipped = flip_boxes_left_right(boxes, WIDTH).numpy()
    np.testing.assert_allclose(flipped, [[10.0, 50.0, 30.0, 80.0], [0.0, 0.0, 64.0, 100.0]])


def test_always_flip_moves_box_with_pixels():
    image, boxes, classes, is_crowd = _marked_sample()
    out_image, out_boxes, out_classes, out_crowd = RandomFlip(probability=1.0)(
        image, boxes, classes, is_crowd, seed=tf.constant([1, 2])
    )
    np.testing.assert_array_equal(out_image.numpy(), image[:, ::-1])
    np.testing.assert_allclose(out_boxes.numpy()[0], [10.0, 50.0, 30.0, 80.0])
    np.testing.assert_allclose(out_boxes.numpy()[0], _tight_box(out_image.numpy()))
    np.testing.assert_array_equal(out_classes.numpy(), classes)
    np.testing.assert_array_equal(out_crowd.numpy(), is_crowd)


def test_probability_zero_never_flips():
    image, boxes, classes, is_crowd = _marked_sample()
    flip = RandomFlip(probability=0.0)
    for seed in range(5):
        out_image, out_boxes, _, _ = flip(
            image, boxes, classes, is_crowd, seed=tf.constant([seed, 0])
        )
        np.testing.assert_array_equal(out_image.numpy(), image)
        np.testing.assert_array_equal(out_boxes.numpy(), boxes)


def test_half_probability_flips_about_half_and_is_seeded():
    image, boxes, classes, is_crowd = _marked_sample()
    flip = tf.function(
        lambda seed: RandomFlip(probability=0.5)(image, boxes, classes, is_crowd, seed)
    )
    flipped = [float(flip(tf.constant([seed, 3]))[1][0, 1]) == 50.0 for seed in range(200)]
    assert 0.35 < np.mean(flipped) < 0.65
    first = flip(tf.constant([5, 5]))
    second = flip(tf.constant([5, 5]))
    np.testing.assert_array_equal(first[0].numpy(), second[0].numpy())
    np.testing.assert_array_equal(first[1].numpy(), second[1].numpy())


def test_empty_boxes():
    image = np.zeros((8, 8, 3), np.float32)
    _, out_boxes, _, _ = RandomFlip(1.0)(
        image, np.zeros((0, 4), np.float32), np.zeros(0, np.int32), np.zeros(0, bool), [0, 0]
    )
    assert out_boxes.shape == (0, 4)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="probability"):
        RandomFlip(probability=1.5)
    image, boxes, classes, is_crowd = _marked_sample()
    with pytest.raises(ValueError, match="image"):
        RandomFlip()(image.astype(np.uint8), boxes, classes, is_crowd, seed=[0, 0])
    with pytest.raises(ValueError, match="seed"):
        RandomFlip()(image, boxes, classes, is_crowd, seed=[0, 0, 0])


def test_config_round_trip():
    flip = RandomFlip(probability=0.25)
    config = flip.get_config()
    assert config == {"probability": 0.25}
    assert RandomFlip.from_config(config) == flip
