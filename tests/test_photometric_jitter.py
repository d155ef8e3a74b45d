"""Tests for keras_retinanet.data.augmentation.photometric_jitter."""

import numpy as np
import pytest
import tensorflow as tf

from keras_retinanet.data.augmentation import PhotometricJitter
from keras_retinanet.data.augmentation.photometric_jitter import colour_matrix

BOXES = np.array([[1.5, 2.0, 10.0, 12.25], [0.0, 0.0, 16.0, 16.0]], np.float32)
CLASSES = np.array([4, 0], np.int32)
IS_CROWD = np.array([False, True])
# Luma weights (the Y row of RGB -> YIQ).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _random_image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (16, 16, 3)).astype(np.float32)


def _jitter(aug: PhotometricJitter, image: np.ndarray, seed=(1, 2)):
    return aug(image, BOXES, CLASSES, IS_CROWD, seed=tf.constant(seed))


def test_boxes_never_move_and_values_stay_in_range():
    aug = PhotometricJitter(brightness_max_delta=100.0, contrast_range=(0.2, 3.0))
    for seed in range(5):
        image, boxes, classes, is_crowd = _jitter(aug, _random_image(seed), seed=(seed, 0))
        np.testing.assert_array_equal(boxes.numpy(), BOXES)
        np.testing.assert_array_equal(classes.numpy(), CLASSES)
        np.testing.assert_array_equal(is_crowd.numpy(), IS_CROWD)
        assert image.numpy().min() >= 0.0 and image.numpy().max() <= 255.0
        assert image.shape == (16, 16, 3)


def test_brightness_only_adds_one_delta():
    aug = PhotometricJitter(
        brightness_max_delta=20.0, contrast_range=None, saturation_range=None, hue_max_delta=0.0
    )
    image = np.full((8, 8, 3), 100.0, np.float32)
    deltas = []
    for seed in range(10):
        out = _jitter(aug, image, seed=(seed, 1))[0].numpy()
        delta = out - 100.0
        np.testing.assert_allclose(delta, delta.flat[0], atol=1e-4)
        deltas.append(delta.flat[0])
    assert np.all(np.abs(deltas) <= 20.0) and np.std(deltas) > 1.0


def test_contrast_only_keeps_channel_means():
    aug = PhotometricJitter(
        brightness_max_delta=0.0,
        contrast_range=(0.5, 0.5),
        saturation_range=None,
        hue_max_delta=0.0,
    )
    image = np.zeros((4, 4, 3), np.float32)
    image[:2] = 200.0  # half 200, half 0: mean 100; contrast 0.5 -> 150 / 50.
    out = _jitter(aug, image)[0].numpy()
    np.testing.assert_allclose(out[:2], 150.0, atol=1e-3)
    np.testing.assert_allclose(out[2:], 50.0, atol=1e-3)


def test_saturation_and_hue_keep_grey_grey():
    aug = PhotometricJitter(brightness_max_delta=0.0, contrast_range=None, hue_max_delta=0.5)
    grey = np.repeat(np.linspace(0, 255, 16, dtype=np.float32)[:, None, None], 3, axis=2)
    grey = np.repeat(grey, 4, axis=1)
    for seed in range(3):
        out = _jitter(aug, grey, seed=(seed, 5))[0].numpy()
        np.testing.assert_allclose(out, grey, atol=1e-2)


def test_colour_matrix_identity_and_greyscale():
    np.testing.assert_allclose(
        colour_matrix(tf.constant(1.0), tf.constant(0.0)), np.eye(3), atol=1e-5
    )
    pixels = _random_image().reshape(-1, 3)
    grey = pixels @ colour_matrix(tf.constant(0.0), tf.constant(0.0)).numpy()
    luma = pixels @ LUMA
    np.testing.assert_allclose(grey, np.repeat(luma[:, None], 3, axis=1), atol=1e-2)
    # A full turn of hue is the identity.
    np.testing.assert_allclose(
        colour_matrix(tf.constant(1.0), tf.constant(1.0)), np.eye(3), atol=1e-5
    )


def test_hue_turns_like_tf_image():
    # tf.image.adjust_hue turns red towards yellow (green up) for a positive delta.
    red = np.array([[200.0, 30.0, 30.0]], np.float32)
    towards_yellow = red @ colour_matrix(tf.constant(1.0), tf.constant(0.05)).numpy()
    assert towards_yellow[0, 1] > red[0, 1] + 10.0
    assert tf.image.adjust_hue(red[None], 0.05).numpy()[0, 0, 1] > red[0, 1] + 10.0


def test_disabled_is_identity_and_seeding():
    image = _random_image()
    for aug in (
        PhotometricJitter(probability=0.0),
        PhotometricJitter(
            brightness_max_delta=0.0, contrast_range=None, saturation_range=None, hue_max_delta=0.0
        ),
    ):
        assert not aug.enabled
        np.testing.assert_array_equal(_jitter(aug, image)[0].numpy(), image)
    aug = PhotometricJitter()
    first = _jitter(aug, image, seed=(3, 3))[0].numpy()
    np.testing.assert_array_equal(first, _jitter(aug, image, seed=(3, 3))[0].numpy())
    assert not np.array_equal(first, _jitter(aug, image, seed=(3, 4))[0].numpy())


def test_invalid_arguments_and_config():
    with pytest.raises(ValueError, match="brightness_max_delta"):
        PhotometricJitter(brightness_max_delta=-1.0)
    with pytest.raises(ValueError, match="contrast_range"):
        PhotometricJitter(contrast_range=(1.5, 0.5))
    with pytest.raises(ValueError, match="hue_max_delta"):
        PhotometricJitter(hue_max_delta=0.6)
    with pytest.raises(ValueError, match="image"):
        PhotometricJitter()(_random_image()[..., :2], BOXES, CLASSES, IS_CROWD, seed=[0, 0])
    aug = PhotometricJitter(
        probability=0.5,
        brightness_max_delta=10.0,
        contrast_range=[0.9, 1.1],
        saturation_range=None,
        hue_max_delta=0.02,
    )
    config = aug.get_config()
    assert config == {
        "probability": 0.5,
        "brightness_max_delta": 10.0,
        "contrast_range": (0.9, 1.1),
        "saturation_range": None,
        "hue_max_delta": 0.02,
    }
    assert PhotometricJitter.from_config(config) == aug
