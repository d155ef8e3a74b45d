import numpy as np
import pytest
from conftest import assert_config_round_trip

from keras_retinanet.losses import SmoothL1Loss


def test_values_by_hand():
    # Differences 0.5 (quadratic: 0.5 * 0.25 = 0.125), 2 (linear: 2 - 0.5 = 1.5), 0, -1 (0.5).
    y_true = np.zeros((1, 1, 4), "float32")
    y_pred = np.array([[[0.5, 2.0, 0.0, -1.0]]], "float32")
    np.testing.assert_allclose(SmoothL1Loss()(y_true, y_pred).numpy(), 0.125 + 1.5 + 0.0 + 0.5)


def test_beta_and_weights():
    # beta 0.5: |d| = 0.25 -> 0.5 * 0.0625 / 0.5 = 0.0625; |d| = 1 -> 1 - 0.25 = 0.75.
    y_true = np.zeros((1, 2, 4), "float32")
    y_pred = np.array([[[0.25, 0, 0, 0], [1.0, 0, 0, 0]]], "float32")
    loss = SmoothL1Loss(beta=0.5)
    np.testing.assert_allclose(loss(y_true, y_pred).numpy(), 0.0625 + 0.75)
    # Only the second anchor is positive, normaliser 2: 0.75 / 2.
    weights = np.array([[0.0, 0.5]], "float32")
    np.testing.assert_allclose(loss(y_true, y_pred, sample_weight=weights).numpy(), 0.375)


def test_config_round_trip():
    args = {"beta": 0.11, "reduction": "sum", "name": "box"}
    assert_config_round_trip(SmoothL1Loss(**args), args)


def test_invalid_beta():
    with pytest.raises(ValueError):
        SmoothL1Loss(beta=0.0)
