import math

import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_config_round_trip

from keras_retinanet.layers import PredictionHead, prior_bias


def pyramid(channels=16, sizes=(16, 8, 4, 2, 1)):
    rng = np.random.default_rng(0)
    return [tf.constant(rng.normal(size=(2, s, s, channels)).astype("float32")) for s in sizes]


def test_prior_bias_value():
    # b = -log((1 - 0.01) / 0.01) = -log(99) = -4.59512
    assert prior_bias(0.01) == pytest.approx(-math.log(99.0))
    assert 1 / (1 + math.exp(-prior_bias(0.01))) == pytest.approx(0.01)


def test_every_class_probability_starts_at_prior():
    head = PredictionHead(num_anchors=9, outputs_per_anchor=5, channels=32, prior_probability=0.01)
    logits = head(pyramid())
    # 9 anchors per cell over 16^2 + 8^2 + 4^2 + 2^2 + 1 = 341 cells.
    assert logits.shape == (2, 341 * 9, 5)
    probabilities = tf.sigmoid(logits).numpy()
    np.testing.assert_allclose(probabilities, 0.01, rtol=0.02)
    np.testing.assert_allclose(head.output_conv.bias.numpy(), -math.log(99.0), rtol=1e-6)


def test_initial_weights_are_normal_0_01_and_box_bias_zero():
    head = PredictionHead(num_anchors=9, outputs_per_anchor=4, channels=64)
    head(pyramid())
    kernels = np.concatenate([c.kernel.numpy().ravel() for c in head.hidden_convs])
    assert abs(kernels.mean()) < 1e-3
    assert kernels.std() == pytest.approx(0.01, rel=0.05)
    np.testing.assert_array_equal(head.output_conv.bias.numpy(), 0.0)
    assert all(np.all(c.bias.numpy() == 0.0) for c in head.hidden_convs)


def test_weights_are_shared_across_levels():
    head = PredictionHead(num_anchors=3, outputs_per_anchor=2, channels=8, depth=2, num_levels=3)
    head(pyramid(sizes=(8, 4, 2)))
    # Two hidden convs and one output conv, each kernel + bias, whatever the levels.
    assert len(head.trainable_weights) == 6
    # The same input on two levels gives the same output.
    same = tf.ones((1, 2, 2, 16))
    out = head([same, same, same]).numpy()
    np.testing.assert_allclose(out[:, :12], out[:, 12:24])


def test_anchor_order_matches_reshape():
    head = PredictionHead(num_anchors=2, outputs_per_anchor=3, channels=4, depth=0, num_levels=1)
    features = tf.random.normal((1, 2, 2, 5))
    flat = head([features]).numpy()
    raw = head.output_conv(features).numpy()  # [1, 2, 2, 2 * 3]
    # Row (y, x, a) of the output is channels [a * 3, a * 3 + 3) of cell (y, x).
    np.testing.assert_allclose(flat[0, (1 * 2 + 0) * 2 + 1], raw[0, 1, 0, 3:6], atol=1e-6)


def test_lite_head_with_per_level_batch_norm():
    head = PredictionHead(
        num_anchors=9,
        outputs_per_anchor=4,
        channels=16,
        depth=2,
        separable=True,
        use_batch_norm=True,
        activation="relu6",
    )
    out = head(pyramid(), training=True)
    assert out.shape == (2, 341 * 9, 4) and out.dtype == tf.float32
    assert len(head.hidden_norms) == 5 and len(head.hidden_norms[0]) == 2


def test_mixed_precision_outputs_float32():
    head = PredictionHead(
        num_anchors=1,
        outputs_per_anchor=2,
        channels=4,
        depth=1,
        num_levels=1,
        dtype="mixed_bfloat16",
    )
    out = head([tf.ones((1, 2, 2, 3))])
    assert out.dtype == tf.float32
    assert head.output_conv.compute_dtype == "bfloat16"


def test_config_round_trip():
    args = {
        "num_anchors": 6,
        "outputs_per_anchor": 11,
        "num_levels": 4,
        "channels": 40,
        "depth": 3,
        "prior_probability": 0.02,
        "separable": True,
        "use_batch_norm": True,
        "activation": "relu6",
        "kernel_stddev": 0.02,
        "name": "cls",
    }
    assert_config_round_trip(PredictionHead(**args), args)


@pytest.mark.parametrize("kwargs", [{"prior_probability": 1.0}, {"depth": -1}, {"num_anchors": 0}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        PredictionHead(**{"num_anchors": 9, "outputs_per_anchor": 4, **kwargs})
