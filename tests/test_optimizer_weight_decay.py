"""CoupledWeightDecaySGD: the coupled L2 update by hand, exemptions, serialisation."""

import re

import keras
import numpy as np
import pytest
from conftest import assert_config_round_trip

from keras_retinanet.training.coupled_weight_decay_sgd import (
    NORM_PARAMETER_PATTERN,
    CoupledWeightDecaySGD,
)

LR = 0.1
MOMENTUM = 0.9
DECAY = 0.01


def dense_with_norm():
    """A tiny model: Dense kernel/bias (decayed) and BatchNorm gamma/beta (exempt)."""
    # Explicit names: the variable paths must not depend on what other tests built before.
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(1, name="dense"),
            keras.layers.BatchNormalization(name="batch_normalization"),
        ],
        name="sequential",
    )
    model.get_layer("dense").set_weights([np.array([[2.0], [-1.0]]), np.array([0.5])])
    return model


def test_two_coupled_steps_by_hand():
    variable = keras.Variable(np.array([2.0, -1.0], "float32"), name="kernel")
    optimizer = CoupledWeightDecaySGD(learning_rate=LR, momentum=MOMENTUM, l2_weight_decay=DECAY)
    gradient = np.array([0.5, 0.5], "float32")
    optimizer.apply_gradients([(gradient, variable)])
    # Step 1: g' = g + wd * w = (0.5 + 0.02, 0.5 - 0.01) = (0.52, 0.49);
    # v = 0.9 * 0 - 0.1 * g' = (-0.052, -0.049); w = (1.948, -1.049).
    np.testing.assert_allclose(variable.numpy(), [1.948, -1.049], rtol=1e-6)
    optimizer.apply_gradients([(gradient, variable)])
    # Step 2: g' = (0.5 + 0.01948, 0.5 - 0.01049) = (0.51948, 0.48951);
    # v = 0.9 * (-0.052, -0.049) - 0.1 * g' = (-0.098748, -0.093051);
    # w = (1.948 - 0.098748, -1.049 - 0.093051) = (1.849252, -1.142051).
    np.testing.assert_allclose(variable.numpy(), [1.849252, -1.142051], rtol=1e-6)
    momentum = optimizer.momentums[0].numpy()
    np.testing.assert_allclose(momentum, [-0.098748, -0.093051], rtol=1e-5)


def test_differs_from_keras_decoupled_decay():
    # Keras' weight_decay shrinks w by lr * wd * w outside the momentum buffer:
    # step 1: w = 2 - 0.1 * 0.01 * 2 = 1.998, then v = -0.05 -> 1.948 (same as coupled);
    # step 2: w = 1.948 * (1 - 0.001) = 1.946052; v = 0.9 * -0.05 - 0.05 = -0.095 -> 1.851052,
    # while the coupled form gives 1.849252 (its decay also went through the momentum).
    decoupled = keras.optimizers.SGD(learning_rate=LR, momentum=MOMENTUM, weight_decay=DECAY)
    variable = keras.Variable(np.array([2.0], "float32"))
    for _ in range(2):
        decoupled.apply_gradients([(np.array([0.5], "float32"), variable)])
    np.testing.assert_allclose(variable.numpy(), [1.851052], rtol=1e-6)


def test_norm_parameters_are_exempt():
    model = dense_with_norm()
    optimizer = CoupledWeightDecaySGD(learning_rate=LR, momentum=0.0, l2_weight_decay=DECAY)
    optimizer.build(model.trainable_variables)
    decays = {v.path: optimizer.decays(v) for v in model.trainable_variables}
    assert decays == {
        "sequential/dense/kernel": True,
        "sequential/dense/bias": True,
        "sequential/batch_normalization/gamma": False,
        "sequential/batch_normalization/beta": False,
    }
    zero_gradients = [np.zeros(v.shape, "float32") for v in model.trainable_variables]
    optimizer.apply_gradients(zip(zero_gradients, model.trainable_variables))
    kernel, bias, gamma, beta = (v.numpy() for v in model.trainable_variables)
    # With g = 0 and no momentum: w <- w - lr * wd * w = 0.999 w; gamma/beta unchanged.
    np.testing.assert_allclose(kernel[:, 0], [1.998, -0.999], rtol=1e-6)
    np.testing.assert_allclose(bias, [0.4995], rtol=1e-6)
    np.testing.assert_array_equal(gamma, [1.0])
    np.testing.assert_array_equal(beta, [0.0])


def test_without_pattern_everything_decays_and_zero_decay_is_plain_sgd():
    model = dense_with_norm()
    everything = CoupledWeightDecaySGD(l2_weight_decay=DECAY, no_decay_pattern=None)
    everything.build(model.trainable_variables)
    assert all(everything.decays(v) for v in model.trainable_variables)
    plain = CoupledWeightDecaySGD(l2_weight_decay=0.0)
    plain.build(model.trainable_variables)
    assert not any(plain.decays(v) for v in model.trainable_variables)


def test_trains_inside_fit():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(CoupledWeightDecaySGD(learning_rate=0.05, l2_weight_decay=1e-3), loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
    y = x @ np.array([[1.0], [-2.0]], "float32")
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.05 * history.history["loss"][0]
    assert int(model.optimizer.iterations) == 80


def test_config_round_trip():
    args = {
        "learning_rate": 0.5,  # exact in float32: Keras keeps the rate in a float32 variable
        "momentum": 0.8,
        "nesterov": True,
        "l2_weight_decay": 4e-5,
        "no_decay_pattern": r"bias$",
    }
    rebuilt = assert_config_round_trip(CoupledWeightDecaySGD(**args), args)
    assert isinstance(rebuilt, CoupledWeightDecaySGD)
    assert CoupledWeightDecaySGD().no_decay_pattern == NORM_PARAMETER_PATTERN


def test_rejects_keras_decoupled_decay_and_bad_values():
    with pytest.raises(ValueError, match="decay the weights a second time"):
        CoupledWeightDecaySGD(weight_decay=1e-4)
    with pytest.raises(ValueError, match="l2_weight_decay"):
        CoupledWeightDecaySGD(l2_weight_decay=-1.0)
    with pytest.raises(re.error):
        CoupledWeightDecaySGD(no_decay_pattern="(gamma")
