"""AlphaBalancedCrossEntropy: the focal loss at gamma = 0, by hand and against FocalLoss."""

import math

import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_config_round_trip

from keras_retinanet import label_codes
from keras_retinanet.ablation.ablation_variant import AblationVariant
from keras_retinanet.ablation.variant_model import build_classification_loss
from keras_retinanet.losses import AlphaBalancedCrossEntropy, FocalLoss, OhemLoss

BG, IG = label_codes.BACKGROUND, label_codes.IGNORE
LOG2 = math.log(2.0)

# K = 2; anchors: class 1 (logits 0, 0), background (logits 0, ln 3), ignored, class 0
# (logits ln 3, 0). Cross entropies: at logit 0 each column is ln 2; a target-1 column at
# ln 3 gives -ln(3/4) = ln(4/3); a target-0 column at ln 3 gives -ln(1/4) = ln 4.
TARGETS = np.array([[1, BG, IG, 0]])
LOGITS = np.array([[[0.0, 0.0], [0.0, math.log(3)], [9.0, 9.0], [math.log(3), 0.0]]], "float32")
POSITIVE_TERMS = LOG2 + math.log(4 / 3)  # anchor 0 column 1, anchor 3 column 0
NEGATIVE_TERMS = LOG2 + (LOG2 + math.log(4)) + LOG2  # anchor 0 col 0, anchor 1, anchor 3 col 1


@pytest.mark.parametrize("alpha", [0.1, 0.25, 0.75, 0.999])
def test_hand_computed_values(alpha):
    expected = (alpha * POSITIVE_TERMS + (1 - alpha) * NEGATIVE_TERMS) / 2  # 2 positives
    value = AlphaBalancedCrossEntropy(alpha=alpha)(TARGETS, LOGITS).numpy()
    np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_default_alpha_is_the_papers_best_for_cross_entropy():
    # 0.75 * 0.9808 + 0.25 * 3.4657 = 1.6020, over 2 positives = 0.8010.
    value = AlphaBalancedCrossEntropy()(TARGETS, LOGITS).numpy()
    np.testing.assert_allclose(value, (0.75 * POSITIVE_TERMS + 0.25 * NEGATIVE_TERMS) / 2)
    np.testing.assert_allclose(value, 0.8010, rtol=1e-4)


def test_equals_focal_loss_at_gamma_zero_with_gradients():
    rng = np.random.default_rng(0)
    targets = rng.integers(IG, 3, size=(2, 50))  # classes 0..2, BG, IG
    logits = tf.Variable(rng.normal(0.0, 3.0, size=(2, 50, 3)).astype("float32"))
    values, gradients = [], []
    for loss in (AlphaBalancedCrossEntropy(alpha=0.3), FocalLoss(alpha=0.3, gamma=0.0)):
        with tf.GradientTape() as tape:
            value = loss(targets, logits)
        values.append(value.numpy())
        gradients.append(tape.gradient(value, logits).numpy())
    np.testing.assert_allclose(values[0], values[1], rtol=1e-6)
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-6, atol=1e-9)
    assert values[0] > 0.0
    # gamma = 2 is a different loss on the same data (the comparison can fail).
    assert not np.isclose(values[0], FocalLoss(alpha=0.3, gamma=2.0)(targets, logits).numpy())


def test_config_round_trip_has_no_gamma():
    loss = AlphaBalancedCrossEntropy(alpha=0.9, name="ce")
    rebuilt = assert_config_round_trip(loss, {"alpha": 0.9, "name": "ce"})
    assert isinstance(rebuilt, AlphaBalancedCrossEntropy)
    assert "gamma" not in loss.get_config()
    assert (rebuilt.alpha, rebuilt.gamma) == (0.9, 0.0)


def test_ablation_variants_build_the_matching_losses():
    cross_entropy = build_classification_loss(
        AblationVariant(name="ce", focal_gamma=0.0, focal_alpha=0.75)
    )
    assert type(cross_entropy) is AlphaBalancedCrossEntropy
    assert (cross_entropy.gamma, cross_entropy.alpha) == (0.0, 0.75)
    focal = build_classification_loss(AblationVariant(name="fl", focal_gamma=0.5, focal_alpha=0.5))
    assert type(focal) is FocalLoss
    assert (focal.gamma, focal.alpha) == (0.5, 0.5)
    ohem = build_classification_loss(
        AblationVariant(
            name="ohem", loss="ohem", ohem_negatives_per_positive=None, ohem_batch_size_per_image=64
        )
    )
    assert isinstance(ohem, OhemLoss)
    assert (ohem.negatives_per_positive, ohem.batch_size_per_image) == (None, 64)
