"""check_inference_mode: warns when moving statistics hide what batch statistics detect."""

import warnings

import keras
import numpy as np
import pytest

from keras_retinanet.evaluation import InferenceModeCheck, check_inference_mode

NUM_ANCHORS = 6


def _logit_model(trainable_batch_norm: bool = True) -> keras.Model:
    """`{"classification": BN(x)}`: the logits are the normalised input, `[B, A, 1]`."""
    inputs = keras.Input((NUM_ANCHORS, 1))
    batch_norm = keras.layers.BatchNormalization(momentum=0.999, name="bn")
    batch_norm.trainable = trainable_batch_norm
    return keras.Model(inputs, {"classification": batch_norm(inputs)})


def _inputs() -> np.ndarray:
    # Values around -100: with the initial moving statistics (0, 1) the logits are ~-100
    # (scores ~0); normalised by the batch statistics they are ~N(0, 1): scores up to ~0.9.
    rng = np.random.default_rng(0)
    return (rng.normal(size=(2, NUM_ANCHORS, 1)) - 100.0).astype("float32")


def test_warns_naming_cause_and_fix_and_changes_nothing():
    model = _logit_model()
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.weights]
    with pytest.warns(UserWarning, match="BatchNorm moving statistics") as record:
        check = check_inference_mode(model, _inputs())
    (message,) = [str(w.message) for w in record if "BatchNorm moving" in str(w.message)]
    assert "PreciseBatchNorm" in message and "precise_bn_images" in message
    assert isinstance(check, InferenceModeCheck) and check.statistics_mismatch
    assert check.score_threshold == 0.05  # the detection decoder's default
    assert check.inference_max_score < 1e-30
    assert check.training_max_score > 0.5 and check.training_anchors_above >= 1
    assert check.num_images == 2
    for variable, value in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


def test_no_warning_when_the_moving_statistics_match():
    model = _logit_model()
    inputs = _inputs()
    layer = model.get_layer("bn")
    layer.moving_mean.assign(inputs.mean(axis=(0, 1)))
    layer.moving_variance.assign(inputs.var(axis=(0, 1)))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*BatchNorm moving statistics.*")
        check = check_inference_mode(model, inputs)
    assert not check.statistics_mismatch
    assert check.inference_max_score > 0.05


def test_threshold_argument_and_models_without_trainable_batch_norm():
    model = _logit_model()
    # Threshold above every training-mode score: nothing to compare, no warning.
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*BatchNorm moving statistics.*")
        check = check_inference_mode(model, _inputs(), score_threshold=0.999999)
    assert not check.statistics_mismatch
    assert check_inference_mode(_logit_model(trainable_batch_norm=False), _inputs()) is None


def test_a_model_without_classification_output_is_refused():
    inputs = keras.Input((NUM_ANCHORS, 1))
    model = keras.Model(inputs, keras.layers.BatchNormalization()(inputs))
    with pytest.raises(ValueError, match="classification"):
        check_inference_mode(model, _inputs())
