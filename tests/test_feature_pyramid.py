import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_config_round_trip

from keras_retinanet.layers import FeaturePyramid


def features(size=128, channels=(8, 16, 32), batch=1):
    rng = np.random.default_rng(0)
    return [
        tf.constant(rng.normal(size=(batch, -(-size // s), -(-size // s), c)).astype("float32"))
        for s, c in zip((8, 16, 32), channels)
    ]


def test_output_shapes_p3_to_p7():
    outputs = FeaturePyramid(channels=24)(features(128))
    assert [tuple(o.shape) for o in outputs] == [
        (1, 16, 16, 24),
        (1, 8, 8, 24),
        (1, 4, 4, 24),
        (1, 2, 2, 24),
        (1, 1, 1, 24),
    ]


def test_p3_to_p6_and_non_multiple_sizes():
    # 100 px: C3 13x13, C4 7x7, C5 4x4; the 2x upsampled maps (8, 14) are cropped to 7, 13.
    outputs = FeaturePyramid(channels=8, max_level=6)(features(100))
    assert [o.shape[1] for o in outputs] == [13, 7, 4, 2]


def test_composition_follows_the_paper():
    fpn = FeaturePyramid(channels=8)
    c3, c4, c5 = features(64)
    p3, p4, p5, p6, p7 = fpn([c3, c4, c5])
    lat3, lat4, lat5 = (conv(c) for conv, c in zip(fpn.lateral_convs, (c3, c4, c5)))
    up = lambda x: tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)  # nearest 2x
    merged4 = lat4 + up(lat5)
    merged3 = lat3 + up(merged4)
    out = fpn.output_convs
    np.testing.assert_allclose(p5, out[2](lat5), atol=1e-5)
    np.testing.assert_allclose(p4, out[1](merged4), atol=1e-5)
    np.testing.assert_allclose(p3, out[0](merged3), atol=1e-5)
    # P6 is a stride-2 3x3 conv on C5 (32 channels), not on P5; P7 on ReLU(P6).
    assert out[3].kernel.shape == (3, 3, 32, 8)
    np.testing.assert_allclose(p6, out[3](c5), atol=1e-5)
    np.testing.assert_allclose(p7, out[4](tf.nn.relu(p6)), atol=1e-5)


def test_lite_variant_uses_separable_convs_and_batch_norm():
    fpn = FeaturePyramid(channels=16, separable=True, use_batch_norm=True, activation="relu6")
    outputs = fpn(features(64))
    assert len(outputs) == 5
    assert all(type(c).__name__ == "SeparableConv2D" for c in fpn.output_convs)
    assert len(fpn.output_norms) == 5
    assert all(float(tf.reduce_min(o)) >= 0.0 and float(tf.reduce_max(o)) <= 6.0 for o in outputs)


def test_config_round_trip():
    args = {
        "channels": 48,
        "max_level": 6,
        "separable": True,
        "use_batch_norm": True,
        "activation": "relu6",
        "kernel_initializer": keras.initializers.serialize(keras.initializers.HeNormal()),
        "name": "fpn",
    }
    fpn = FeaturePyramid(**{**args, "kernel_initializer": "he_normal"})
    rebuilt = assert_config_round_trip(fpn, args)
    assert isinstance(rebuilt.output_convs[0].pointwise_initializer, keras.initializers.HeNormal)


def test_invalid_max_level():
    with pytest.raises(ValueError, match="max_level"):
        FeaturePyramid(max_level=4)


@pytest.mark.parametrize("static", [True, False])
def test_top_down_upsamples_then_crops_odd_sizes(static):
    # 7-row lateral, 4-row top: upsample 2x (8 rows) and drop the last one, so the top's
    # row i lands on lateral rows 2i, 2i+1: [0, 0, 1, 1, 2, 2, 3]. A nearest resize
    # 4 -> 7 gives [0, 0, 1, 2, 2, 3, 3] instead.
    from keras_retinanet.layers.feature_pyramid import _upsample_like

    top = tf.reshape(tf.range(4, dtype=tf.float32), (1, 4, 1, 1)) * tf.ones((1, 4, 3, 1))
    reference = tf.zeros((1, 7, 5, 2))
    if static:
        result = _upsample_like(top, reference)
    else:
        spec = tf.TensorSpec((1, None, None, None), tf.float32)
        result = tf.function(_upsample_like, input_signature=[spec, spec])(top, reference)
    assert tuple(result.shape) == (1, 7, 5, 1)
    np.testing.assert_array_equal(result[0, :, 0, 0], [0, 0, 1, 1, 2, 2, 3])
    # Columns of the 3-wide top: [0, 0, 1, 1, 2] of a 5-wide lateral, all the same row.
    columns = tf.reshape(tf.range(3, dtype=tf.float32), (1, 1, 3, 1)) * tf.ones((1, 4, 3, 1))
    np.testing.assert_array_equal(_upsample_like(columns, reference)[0, 0, :, 0], [0, 0, 1, 1, 2])


def test_odd_size_pyramid_merges_the_cropped_upsampling():
    # 100 px: C4 7x7 and C5 4x4; P4's merged map must be lat4 + crop(up2(lat5)).
    fpn = FeaturePyramid(channels=8, max_level=5)
    c3, c4, c5 = features(100)
    _, p4, _ = fpn([c3, c4, c5])
    lat4, lat5 = fpn.lateral_convs[1](c4), fpn.lateral_convs[2](c5)
    up = tf.repeat(tf.repeat(lat5, 2, axis=1), 2, axis=2)[:, :7, :7, :]
    np.testing.assert_allclose(p4, fpn.output_convs[1](lat4 + up), atol=1e-5)
