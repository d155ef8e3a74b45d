"""OhemLoss: which anchors are kept (ratio, cap, ignored), the normaliser, the gradients.

The normaliser is the focal loss's: max(positive anchors in the batch, 1), selected or not.
"""

import math

import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_config_round_trip

from keras_retinanet import label_codes
from keras_retinanet.losses.ohem_loss import OhemLoss, anchor_cross_entropy

BG, IG = label_codes.BACKGROUND, label_codes.IGNORE


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def selected(loss: OhemLoss, targets, logits) -> np.ndarray:
    """Indices `(image, anchor)` of the selected anchors."""
    anchor_losses = anchor_cross_entropy(tf.constant(targets), tf.constant(logits, tf.float32))
    return np.argwhere(loss.select(tf.constant(targets), anchor_losses).numpy())


# One image, K = 1. Cross entropy of an anchor: positive softplus(-x), background softplus(x).
# Anchor:        0     1     2     3 (ignored)  4     5     6     7     8     9    10    11
TARGETS = [[0, 0, 0, IG, BG, BG, BG, BG, BG, BG, BG, BG]]
LOGITS = [[-1.0, 2.0, -3.0, 50.0, 4.0, -2.0, 1.0, 3.0, 0.0, -4.0, 2.0, -1.0]]
# Positive losses: a0 softplus(1) = 1.313, a1 softplus(-2) = 0.127, a2 softplus(3) = 3.049.
# Negative losses: a4 4.018, a5 0.127, a6 1.313, a7 3.049, a8 0.693, a9 0.018, a10 2.127,
# a11 0.313. Ignored a3 would have the largest loss of all (50.0).


def test_ratio_one_to_three_with_cap_keeps_the_hardest():
    # Cap 8, 3 negatives per positive: at most 8 // 4 = 2 positives -> a2, a0 (a1 is easy);
    # negatives: min(8 background, 8 - 2, 3 * 2) = 6 -> a4, a7, a10, a6, a8, a11.
    loss = OhemLoss(negatives_per_positive=3, batch_size_per_image=8)
    anchors = selected(loss, TARGETS, np.array(LOGITS)[..., None])[:, 1]
    assert sorted(anchors.tolist()) == [0, 2, 4, 6, 7, 8, 10, 11]
    expected = (
        softplus(1.0) + softplus(3.0)  # positives a0, a2
        + softplus(4.0) + softplus(3.0) + softplus(2.0)  # a4, a7, a10
        + softplus(1.0) + softplus(0.0) + softplus(-1.0)  # a6, a8, a11
    ) / 3  # 3 positives in the batch (a1 among them, although not selected)  # fmt: skip
    value = loss(np.array(TARGETS), np.array(LOGITS, "float32")[..., None]).numpy()
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_ratio_follows_the_positives_when_they_are_few():
    # One positive (a0): 3 negatives, whatever the cap. a1 and a2 are background here:
    # a1 softplus(2) = 2.127 ties with a10 and wins on its lower index -> a4, a7, a1.
    targets = [[0, BG, BG, IG, BG, BG, BG, BG, BG, BG, BG, BG]]
    loss = OhemLoss(negatives_per_positive=3, batch_size_per_image=256)
    anchors = selected(loss, targets, np.array(LOGITS)[..., None])[:, 1]
    assert sorted(anchors.tolist()) == [0, 1, 4, 7]
    expected = (softplus(1.0) + softplus(4.0) + softplus(3.0) + softplus(2.0)) / 1  # 1 positive
    value = loss(np.array(targets), np.array(LOGITS, "float32")[..., None]).numpy()
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_no_ratio_keeps_the_hardest_whatever_the_label_and_never_ignored():
    # The 4 largest losses among non-ignored anchors: a4 4.018, a2 3.049, a7 3.049, a10 2.127
    # (a2 and a7 tie; both fit). Ignored a3 (loss 50) is never taken.
    loss = OhemLoss(negatives_per_positive=None, batch_size_per_image=4)
    anchors = selected(loss, TARGETS, np.array(LOGITS)[..., None])[:, 1]
    assert sorted(anchors.tolist()) == [2, 4, 7, 10]
    # Normalised by the 3 positives (a0, a1, a2), of which only a2 is selected.
    expected = (softplus(4.0) + softplus(3.0) + softplus(3.0) + softplus(2.0)) / 3
    value = loss(np.array(TARGETS), np.array(LOGITS, "float32")[..., None]).numpy()
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_cap_above_the_anchor_count_keeps_every_labelled_anchor():
    loss = OhemLoss(negatives_per_positive=None, batch_size_per_image=100)
    anchors = selected(loss, TARGETS, np.array(LOGITS)[..., None])[:, 1]
    assert sorted(anchors.tolist()) == [0, 1, 2, *range(4, 12)]  # all but the ignored a3


def test_ties_go_to_the_lower_anchor_index():
    # Six equal background losses; cap 2 without a ratio keeps a0 and a1.
    loss = OhemLoss(negatives_per_positive=None, batch_size_per_image=2)
    anchors = selected(loss, [[BG] * 6], np.zeros((1, 6, 1)))[:, 1]
    assert anchors.tolist() == [0, 1]


def test_image_without_positives_keeps_only_the_minimum_negatives():
    targets = [[BG, BG, BG, BG]]
    logits = np.array([[[1.0], [3.0], [-2.0], [2.0]]], "float32")
    assert selected(OhemLoss(), targets, logits).size == 0
    assert OhemLoss()(np.array(targets), logits).numpy() == 0.0
    loss = OhemLoss(min_negatives_per_image=2)
    assert selected(loss, targets, logits)[:, 1].tolist() == [1, 3]  # losses 3.05 and 2.13
    expected = (softplus(3.0) + softplus(2.0)) / 1  # no positives: max(0, 1)
    np.testing.assert_allclose(loss(np.array(targets), logits).numpy(), expected, rtol=1e-6)


def test_selection_is_per_image_and_the_normaliser_is_the_batch_positive_count():
    # Image 0: 1 positive -> 1 + 3 selected; image 1: 2 positives -> 2 + 2 (only 2 negatives).
    targets = np.array([[0, BG, BG, BG, BG, BG], [1, 0, BG, BG, IG, IG]])
    logits = np.zeros((2, 6, 2), "float32")  # every anchor: 2 columns x log 2
    loss = OhemLoss(negatives_per_positive=3, batch_size_per_image=16)
    picks = selected(loss, targets, logits)
    assert picks[picks[:, 0] == 0][:, 1].tolist() == [0, 1, 2, 3]  # ties: lowest indices
    assert picks[picks[:, 0] == 1][:, 1].tolist() == [0, 1, 2, 3]
    per_image = loss.call(tf.constant(targets), tf.constant(logits)).numpy()
    # 4 anchors x 2 columns x ln 2 per image, over the 3 positives of the batch.
    np.testing.assert_allclose(per_image, [4 * 2 * math.log(2) / 3] * 2, rtol=1e-6)
    np.testing.assert_allclose(loss(targets, logits).numpy(), 16 * math.log(2) / 3, rtol=1e-6)


def test_anchors_are_ranked_by_their_loss_summed_over_classes():
    # a1 has the largest single-class loss (column 0: softplus(3) = 3.05) but a0's sum is
    # larger: softplus(2) * 2 = 4.25 > softplus(3) + softplus(-3) = 3.10.
    targets = [[BG, BG, BG]]
    logits = np.array([[[2.0, 2.0], [3.0, -3.0], [0.0, 0.0]]], "float32")
    loss = OhemLoss(negatives_per_positive=None, batch_size_per_image=1)
    assert selected(loss, targets, logits)[:, 1].tolist() == [0]
    np.testing.assert_allclose(
        anchor_cross_entropy(tf.constant(targets), tf.constant(logits)).numpy(),
        [[2 * softplus(2.0), softplus(3.0) + softplus(-3.0), 2 * math.log(2)]],
        rtol=1e-6,
    )


def test_gradients_are_zero_for_unselected_and_ignored_anchors():
    loss = OhemLoss(negatives_per_positive=3, batch_size_per_image=8)
    logits = tf.Variable(np.array(LOGITS, "float32")[..., None])
    with tf.GradientTape() as tape:
        value = loss(np.array(TARGETS), logits)
    gradient = tape.gradient(value, logits).numpy()[0, :, 0]
    keep = {0, 2, 4, 6, 7, 8, 10, 11}
    x = np.array(LOGITS[0])
    sigmoid = 1.0 / (1.0 + np.exp(-x))
    target = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], float)
    expected = np.where([a in keep for a in range(12)], (sigmoid - target) / 3, 0.0)
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-8)
    assert gradient[1] == 0.0 and gradient[3] == 0.0 and gradient[5] == 0.0 and gradient[9] == 0.0


def test_finite_for_extreme_logits_and_bfloat16_inputs():
    logits = tf.constant([[[100.0], [-100.0], [100.0]]], tf.bfloat16)
    value = OhemLoss(negatives_per_positive=None)(np.array([[0, 0, BG]]), logits).numpy()
    np.testing.assert_allclose(value, (100.0 + 0.0 + 100.0) / 2, rtol=1e-3)  # 2 positives


def test_config_round_trip():
    loss = OhemLoss(negatives_per_positive=2.0, batch_size_per_image=64, min_negatives_per_image=5)
    rebuilt = assert_config_round_trip(
        loss,
        {"negatives_per_positive": 2.0, "batch_size_per_image": 64, "min_negatives_per_image": 5},
    )
    assert isinstance(rebuilt, OhemLoss)
    no_ratio = OhemLoss(negatives_per_positive=None, batch_size_per_image=128)
    assert_config_round_trip(
        no_ratio, {"negatives_per_positive": None, "batch_size_per_image": 128}
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"negatives_per_positive": 0.0},
        {"negatives_per_positive": -1.0},
        {"batch_size_per_image": 0},
        {"negatives_per_positive": 3.0, "batch_size_per_image": 3},  # 3 // 4 = 0 positives
        {"negatives_per_positive": None, "min_negatives_per_image": 4},
        {"min_negatives_per_image": -1},
    ],
)
def test_rejects_invalid_options(kwargs):
    with pytest.raises(ValueError):
        OhemLoss(**kwargs)
