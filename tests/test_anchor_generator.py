import math

import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_config_round_trip

from keras_retinanet.ops.anchor_generator import AnchorGenerator


def test_one_level_golden_64x64():
    # One level, stride 32 on a 64x64 image: a 2x2 grid with centres at
    # (0 + 0.5) * 32 = 16 and (1 + 0.5) * 32 = 48. Size 32, scale 1, ratio 1:
    # half side 16, so the anchors are [c - 16, c + 16] on both axes.
    generator = AnchorGenerator(strides=[32], sizes=[32], scales=[1.0], aspect_ratios=[1.0])
    anchors = generator(64, 64).numpy()
    expected = [
        [0, 0, 32, 32],  # cell (0, 0), centre (16, 16)
        [0, 32, 32, 64],  # cell (0, 1), centre (16, 48)
        [32, 0, 64, 32],  # cell (1, 0), centre (48, 16)
        [32, 32, 64, 64],  # cell (1, 1), centre (48, 48)
    ]
    np.testing.assert_allclose(anchors, expected, atol=1e-5)


def test_aspect_ratio_and_scale_order_golden():
    # Ratio 2 (height / width) at size 32: h = 32 * sqrt(2) = 45.2548,
    # w = 32 / sqrt(2) = 22.6274; scale 2 doubles both. Per cell the order is
    # scale-major: (s=1, r=0.5), (s=1, r=2), (s=2, r=0.5), (s=2, r=2).
    generator = AnchorGenerator(
        strides=[32], sizes=[32], scales=[1.0, 2.0], aspect_ratios=[0.5, 2.0]
    )
    anchors = generator(32, 32).numpy()  # one cell, centre (16, 16)
    root2 = math.sqrt(2.0)
    shapes = [
        (32 / root2, 32 * root2),
        (32 * root2, 32 / root2),
        (64 / root2, 64 * root2),
        (64 * root2, 64 / root2),
    ]
    expected = [[16 - h / 2, 16 - w / 2, 16 + h / 2, 16 + w / 2] for h, w in shapes]
    np.testing.assert_allclose(anchors, expected, atol=1e-4)
    # The ratio-2 anchor at scale 1 is [16 - 22.627, 16 - 11.314, 16 + 22.627, 16 + 11.314].
    np.testing.assert_allclose(anchors[1], [-6.6274, 4.6863, 38.6274, 27.3137], atol=1e-3)


def test_paper_defaults_count_512():
    generator = AnchorGenerator()
    # 9 * (64^2 + 32^2 + 16^2 + 8^2 + 4^2) = 9 * 5456 = 49,104.
    anchors = generator(512, 512)
    assert anchors.shape == (49104, 4)
    assert generator.num_anchors_per_location == 9
    assert generator.level_sizes(512, 512) == [36864, 9216, 2304, 576, 144]


def test_paper_defaults_sizes_and_areas():
    generator = AnchorGenerator()
    anchors = generator(128, 128).numpy()
    sizes = generator.level_sizes(128, 128)
    start = 0
    for level, count in enumerate(sizes):
        level_anchors = anchors[start : start + count]
        start += count
        areas = (level_anchors[:, 2] - level_anchors[:, 0]) * (
            level_anchors[:, 3] - level_anchors[:, 1]
        )
        base = 32 * 2**level
        # Areas are (base * scale)^2 for the scales 2^0, 2^(1/3), 2^(2/3), whatever the ratio.
        expected = np.array([(base * 2 ** (i / 3)) ** 2 for i in range(3)])
        nearest = expected[np.abs(areas[:, None] - expected[None, :]).argmin(axis=1)]
        np.testing.assert_allclose(areas, nearest, rtol=1e-5)
        assert len(set(np.abs(areas[:, None] - expected[None, :]).argmin(axis=1))) == 3


def test_non_multiple_sizes_round_up():
    generator = AnchorGenerator()
    # ceil(100 / s) for s = 8, 16, 32, 64, 128 -> 13, 7, 4, 2, 1 (and 150 -> 19, 10, 5, 3, 2).
    assert generator.feature_shapes(100, 150) == [(13, 19), (7, 10), (4, 5), (2, 3), (1, 2)]
    assert generator(100, 150).shape[0] == 9 * (13 * 19 + 7 * 10 + 4 * 5 + 2 * 3 + 1 * 2)


def test_dynamic_sizes_in_graph_match_static():
    generator = AnchorGenerator()

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
    def dynamic(height, width):
        return generator(height, width)

    np.testing.assert_allclose(dynamic(tf.constant(96), tf.constant(160)), generator(96, 160))


def test_config_round_trip():
    args = {
        "strides": (4, 8),
        "sizes": (10.0, 20.0),
        "scales": (1.0, 1.5),
        "aspect_ratios": (0.25, 1.0, 4.0),
        "offset": 0.0,
    }
    generator = AnchorGenerator(**args)
    rebuilt = assert_config_round_trip(generator, args)
    assert rebuilt == generator


@pytest.mark.parametrize(
    "kwargs",
    [
        {"strides": (8, 16), "sizes": (32.0,)},
        {"strides": (0,), "sizes": (32.0,)},
        {"strides": (8,), "sizes": (-1.0,)},
        {"strides": (8,), "sizes": (32.0,), "aspect_ratios": ()},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        AnchorGenerator(**kwargs)
