import math

import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_config_round_trip

from keras_retinanet.ops.box_coder import BoxCoder


def test_encode_golden():
    # Anchor: centre (50, 50), size 20 x 40. Box: centre (52, 46), size 40 x 20.
    anchor = [[40.0, 30.0, 60.0, 70.0]]
    box = [[32.0, 36.0, 72.0, 56.0]]
    deltas = BoxCoder().encode(tf.constant(box), tf.constant(anchor)).numpy()
    # ty = (52 - 50) / 20 * 10 = 1; tx = (46 - 50) / 40 * 10 = -1;
    # th = log(40 / 20) * 5 = 3.4657; tw = log(20 / 40) * 5 = -3.4657.
    np.testing.assert_allclose(deltas, [[1.0, -1.0, 5 * math.log(2), -5 * math.log(2)]], rtol=1e-6)


def test_round_trip_batched():
    rng = np.random.default_rng(0)
    anchors = rng.uniform(0, 200, (50, 2))
    anchors = np.concatenate([anchors, anchors + rng.uniform(5, 100, (50, 2))], -1).astype(
        "float32"
    )
    boxes = rng.uniform(0, 200, (3, 50, 2))
    boxes = np.concatenate([boxes, boxes + rng.uniform(1, 300, (3, 50, 2))], -1).astype("float32")
    coder = BoxCoder()
    decoded = coder.decode(coder.encode(boxes, anchors), anchors).numpy()
    np.testing.assert_allclose(decoded, boxes, rtol=1e-4, atol=1e-3)


def test_decode_clips_exp_input():
    coder = BoxCoder()
    anchor = tf.constant([[0.0, 0.0, 16.0, 16.0]])
    decoded = coder.decode(tf.constant([[0.0, 0.0, 1e4, 1e4]]), anchor).numpy()
    # Clipped at log(1000 / 16): the box is at most 1000 px for a 16 px anchor.
    assert np.all(np.isfinite(decoded))
    np.testing.assert_allclose(decoded[0, 2] - decoded[0, 0], 1000.0, rtol=1e-4)


def test_decode_matches_tflite_op_formula():
    # LiteRT's TFLite_Detection_PostProcess: yc = ty / y_scale * ha + ya,
    # h = exp(th / h_scale) * ha, with anchors as (yc, xc, h, w).
    scales = (10.0, 10.0, 5.0, 5.0)
    deltas = np.array([[0.5, -1.5, 0.7, -0.2]], "float32")
    ya, xa, ha, wa = 30.0, 40.0, 16.0, 32.0
    yc = deltas[0, 0] / scales[0] * ha + ya
    xc = deltas[0, 1] / scales[1] * wa + xa
    h = math.exp(deltas[0, 2] / scales[2]) * ha
    w = math.exp(deltas[0, 3] / scales[3]) * wa
    anchors = np.array([[ya - ha / 2, xa - wa / 2, ya + ha / 2, xa + wa / 2]], "float32")
    decoded = BoxCoder(scales).decode(deltas, anchors).numpy()
    np.testing.assert_allclose(
        decoded, [[yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2]], rtol=1e-5
    )


def test_config_round_trip():
    args = {"scale_factors": (1.0, 2.0, 3.0, 4.0), "max_log_scale": 2.5}
    coder = BoxCoder(**args)
    assert assert_config_round_trip(coder, args) == coder


@pytest.mark.parametrize(
    "kwargs", [{"scale_factors": (1, 1, 1)}, {"scale_factors": (1, 1, 0, 1)}, {"max_log_scale": 0}]
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        BoxCoder(**kwargs)
