import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_config_round_trip

from keras_retinanet import label_codes
from keras_retinanet.losses import FocalLoss

BG, IG = label_codes.BACKGROUND, label_codes.IGNORE


def reference_focal(targets_onehot, logits, alpha, gamma):
    """Textbook float64 formula: -alpha_t (1 - p_t)^gamma log(p_t)."""
    p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    p_t = np.where(targets_onehot == 1, p, 1 - p)
    alpha_t = np.where(targets_onehot == 1, alpha, 1 - alpha)
    return -alpha_t * (1 - p_t) ** gamma * np.log(p_t)


def test_hand_computed_values_at_zero_logit():
    # p = 0.5. Positive: 0.25 * 0.5^2 * log 2 = 0.0433217;
    # negative: 0.75 * 0.25 * log 2 = 0.1299651.
    loss = FocalLoss()
    positive = loss(np.array([[0]]), np.zeros((1, 1, 1), "float32")).numpy()
    negative = loss(np.array([[BG]]), np.zeros((1, 1, 1), "float32")).numpy()
    np.testing.assert_allclose(positive, 0.25 * 0.25 * math.log(2), rtol=1e-6)
    np.testing.assert_allclose(negative, 0.75 * 0.25 * math.log(2), rtol=1e-6)


def test_matches_reference_and_normalises_by_positives():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (2, 6, 3)).astype("float32")
    targets = np.array([[0, 2, BG, IG, BG, 1], [BG, BG, IG, IG, 2, BG]])
    onehot = np.zeros((2, 6, 3))
    for b, a in zip(*np.nonzero(targets >= 0)):
        onehot[b, a, targets[b, a]] = 1
    elementwise = reference_focal(onehot, logits, 0.25, 2.0) * (targets != IG)[..., None]
    expected = elementwise.sum() / 4  # four positive anchors in the batch
    np.testing.assert_allclose(FocalLoss()(targets, logits).numpy(), expected, rtol=1e-5)


def test_ignored_anchors_contribute_nothing():
    targets = np.array([[0, IG, BG]])
    logits = np.zeros((1, 3, 2), "float32")
    base = FocalLoss()(targets, logits).numpy()
    logits[0, 1] = [50.0, -30.0]
    np.testing.assert_allclose(FocalLoss()(targets, logits).numpy(), base, rtol=1e-7)


def test_no_positive_anchor_normaliser_is_one():
    targets = np.array([[BG, BG]])
    logits = np.zeros((1, 2, 1), "float32")
    np.testing.assert_allclose(
        FocalLoss()(targets, logits).numpy(), 2 * 0.75 * 0.25 * math.log(2), rtol=1e-6
    )


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_equals_keras_binary_focal_crossentropy(gamma):
    # Independent implementation; with gamma = 0 it is alpha-balanced cross entropy.
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (1, 10, 4)).astype("float32")
    targets = np.array([[0, 1, 2, 3, BG, BG, BG, 0, BG, 1]])
    onehot = keras.ops.one_hot(np.maximum(targets, 0), 4) * (targets >= 0)[..., None]
    keras_loss = keras.losses.BinaryFocalCrossentropy(
        apply_class_balancing=True, alpha=0.25, gamma=gamma, from_logits=True, reduction=None
    )
    per_anchor = keras_loss(onehot, logits).numpy() * 4  # Keras averages over the classes
    expected = per_anchor.sum() / 6  # six positive anchors
    np.testing.assert_allclose(FocalLoss(gamma=gamma)(targets, logits).numpy(), expected, rtol=1e-5)


def test_gamma_zero_is_alpha_balanced_cross_entropy():
    logits = tf.constant([[[1.5, -2.0]]])
    targets = np.array([[1]])
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=[[[0.0, 1.0]]], logits=logits).numpy()
    expected = 0.75 * ce[0, 0, 0] + 0.25 * ce[0, 0, 1]
    np.testing.assert_allclose(FocalLoss(gamma=0.0)(targets, logits).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_gradient_matches_closed_form(gamma):
    alpha = 0.25
    x = tf.Variable(np.linspace(-6, 6, 13, dtype="float32")[None, :, None])  # [1, 13, 1]
    for target in (0, BG):
        targets = np.full((1, 13), target)
        with tf.GradientTape() as tape:
            value = FocalLoss(alpha=alpha, gamma=gamma)(targets, x)
        grad = tape.gradient(value, x).numpy()[0, :, 0]
        logits = x.numpy()[0, :, 0].astype(np.float64)
        p = 1 / (1 + np.exp(-logits))
        y = 1.0 if target == 0 else -1.0
        p_t = p if y > 0 else 1 - p
        alpha_t = alpha if y > 0 else 1 - alpha
        closed = alpha_t * y * (1 - p_t) ** gamma * (gamma * p_t * np.log(p_t) + p_t - 1)
        normaliser = 13.0 if target == 0 else 1.0
        np.testing.assert_allclose(grad, closed / normaliser, rtol=2e-4, atol=1e-7)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_stable_for_extreme_logits(gamma):
    x = tf.Variable([[[100.0, -100.0], [-100.0, 100.0]]])
    targets = np.array([[0, BG]])
    with tf.GradientTape() as tape:
        value = FocalLoss(gamma=gamma)(targets, x)
    grad = tape.gradient(value, x)
    assert np.isfinite(value.numpy())
    assert np.all(np.isfinite(grad.numpy()))
    # Anchor 0 (class 0 at +100, class 1 at -100) costs ~0; only the
    # background anchor's +100 on class 1 costs (1 - alpha) * 100 = 75.
    np.testing.assert_allclose(value.numpy(), 75.0, rtol=1e-4)


def test_mixed_precision_logits_give_float32_loss():
    logits = tf.cast(tf.zeros((1, 2, 3)), tf.bfloat16)
    value = FocalLoss()(np.array([[0, BG]]), logits)
    assert value.dtype == tf.float32


def test_class_out_of_range_raises():
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes"):
        FocalLoss()(np.array([[3]]), np.zeros((1, 1, 3), "float32"))


def test_config_round_trip():
    args = {"alpha": 0.5, "gamma": 1.0, "reduction": "sum", "name": "fl"}
    assert_config_round_trip(FocalLoss(**args), args)


@pytest.mark.parametrize("kwargs", [{"alpha": 1.5}, {"gamma": -1.0}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        FocalLoss(**kwargs)
