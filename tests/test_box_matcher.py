import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_config_round_trip

from keras_retinanet.ops.box_matcher import (
    MATCH_IGNORE,
    MATCH_NEGATIVE,
    MATCH_POSITIVE,
    BoxMatcher,
)

P, N, I = MATCH_POSITIVE, MATCH_NEGATIVE, MATCH_IGNORE  # noqa: E741


def match(iou, valid, **kwargs):
    indices, labels = BoxMatcher(**kwargs)(tf.constant(iou, tf.float32), tf.constant(valid))
    return indices.numpy().tolist(), labels.numpy().tolist()


def test_bands_including_ignore():
    # One box; IoU >= 0.5 positive, < 0.4 negative, [0.4, 0.5) ignored.
    iou = [[0.7], [0.5], [0.45], [0.4], [0.39], [0.0]]
    _, labels = match(iou, [True], allow_low_quality_matches=False)
    assert labels == [P, P, I, I, N, N]


def test_best_box_wins():
    iou = [[0.55, 0.8], [0.6, 0.2]]
    indices, labels = match(iou, [True, True])
    assert labels == [P, P]
    assert indices == [1, 0]


def test_low_quality_matches_give_every_box_an_anchor():
    # Box 0's best IoU is 0.3 (anchors 0 and 2 tie): both become positives.
    iou = [[0.3], [0.1], [0.3], [0.0]]
    assert match(iou, [True], allow_low_quality_matches=False)[1] == [N, N, N, N]
    indices, labels = match(iou, [True])
    assert labels == [P, N, P, N]
    assert indices == [0, 0, 0, 0]


def test_low_quality_match_goes_to_the_claiming_box():
    # Anchor 0 is box 0's best (0.3) but overlaps box 1 more (0.35); box 1's best
    # anchor is anchor 1 (0.9). Anchor 0 must serve box 0, or box 0 has no anchor.
    iou = [[0.3, 0.35], [0.0, 0.9]]
    indices, labels = match(iou, [True, True])
    assert labels == [P, P]
    assert indices == [0, 1]


def test_padding_and_degenerate_boxes_never_match():
    iou = [[0.9, 0.95], [0.2, 0.1]]
    indices, labels = match(iou, [True, False])
    assert labels == [P, N]
    assert indices == [0, 0]
    # All boxes invalid: nothing matches, even with low-quality matching.
    assert match(iou, [False, False])[1] == [N, N]


def test_zero_boxes():
    indices, labels = match(np.zeros((4, 0), "float32"), np.zeros((0,), bool))
    assert labels == [N] * 4
    assert indices == [0] * 4


def test_zero_iou_box_gets_no_forced_anchor():
    # A box that overlaps no anchor at all cannot be matched.
    assert match([[0.0], [0.0]], [True])[1] == [N, N]


def test_batch_equals_per_image_in_graph_mode():
    rng = np.random.default_rng(0)
    iou = rng.uniform(0, 1, (3, 20, 5)).astype("float32")
    valid = rng.uniform(size=(3, 5)) > 0.3
    matcher = BoxMatcher()
    batched = tf.function(matcher)(tf.constant(iou), tf.constant(valid))
    for b in range(3):
        single = matcher(tf.constant(iou[b]), tf.constant(valid[b]))
        np.testing.assert_array_equal(batched[0][b], single[0])
        np.testing.assert_array_equal(batched[1][b], single[1])


def test_config_round_trip():
    args = {
        "foreground_iou_threshold": 0.6,
        "background_iou_threshold": 0.3,
        "allow_low_quality_matches": False,
    }
    matcher = BoxMatcher(**args)
    assert assert_config_round_trip(matcher, args) == matcher


def test_invalid_thresholds():
    with pytest.raises(ValueError, match="background_iou_threshold"):
        BoxMatcher(foreground_iou_threshold=0.4, background_iou_threshold=0.5)
