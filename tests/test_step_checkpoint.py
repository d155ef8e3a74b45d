"""StepCheckpoint: full training state saved at epoch ends, restored exactly, crash-safe."""

import json
import os

import keras
import numpy as np
import pytest

from keras_retinanet.training.coupled_weight_decay_sgd import CoupledWeightDecaySGD
from keras_retinanet.training.step_checkpoint import LATEST_FILE, StepCheckpoint

STEPS_PER_EPOCH = 3


def compiled_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    model.compile(CoupledWeightDecaySGD(learning_rate=0.05, l2_weight_decay=1e-3), loss="mse")
    return model


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def optimizer_state(model):
    """`[(variable name without the layer prefix, value)]` in the optimizer's order."""
    return [
        ("momentum" if v.name.endswith("_momentum") else v.name, keras.ops.convert_to_numpy(v))
        for v in model.optimizer.variables
    ]


def test_saves_every_epoch_and_restores_weights_and_optimizer_slots(tmp_path):
    x, y = data()
    model = compiled_model()
    checkpoint = StepCheckpoint(str(tmp_path), keep=2)
    model.fit(x, y, batch_size=8, epochs=3, callbacks=[checkpoint], verbose=0)

    info = checkpoint.latest()
    assert (info.step, info.epoch) == (9, 3)
    # keep=2: the step-3 checkpoint was pruned; no temporary file is left behind.
    assert sorted(os.listdir(tmp_path)) == [
        LATEST_FILE,
        "step_000000006.weights.h5",
        "step_000000009.weights.h5",
    ]

    fresh = compiled_model()
    restored = StepCheckpoint(str(tmp_path)).restore(fresh)
    assert restored == info
    expected, got = optimizer_state(model), optimizer_state(fresh)
    assert [name for name, _ in got] == [name for name, _ in expected]
    assert got[0] == ("iteration", 9)
    momentum_slots = [value for name, value in got if name == "momentum"]
    assert len(momentum_slots) == 4  # kernel and bias of both layers
    assert all(np.any(slot != 0) for slot in momentum_slots)
    for (name, value), (_, reference) in zip(got, expected):
        np.testing.assert_array_equal(value, reference, err_msg=name)
    for before, after in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_restored_run_continues_like_an_uninterrupted_one(tmp_path):
    x, y = data()
    uninterrupted = compiled_model()
    initial = uninterrupted.get_weights()
    uninterrupted.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)

    first = compiled_model()
    first.set_weights(initial)
    first.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[StepCheckpoint(str(tmp_path))],
    )
    resumed = compiled_model()
    info = StepCheckpoint(str(tmp_path)).restore(resumed)
    resumed.fit(x, y, batch_size=8, epochs=2, initial_epoch=info.epoch, shuffle=False, verbose=0)
    assert int(resumed.optimizer.iterations) == 6
    for a, b in zip(uninterrupted.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_nothing_to_restore_and_a_separate_save_directory(tmp_path):
    model = compiled_model()
    assert StepCheckpoint(str(tmp_path / "none")).restore(model) is None
    # A non-chief worker restores from the shared folder but writes to its scratch folder.
    worker = StepCheckpoint(str(tmp_path / "shared"), save_directory=str(tmp_path / "scratch"))
    model.optimizer.build(model.trainable_variables)
    info = worker.save(model, epoch=1)
    assert info.weights_path == str(tmp_path / "scratch" / "step_000000000.weights.h5")
    assert not os.path.exists(tmp_path / "shared")
    assert worker.latest() is None


def test_inconsistent_checkpoints_are_refused(tmp_path):
    x, y = data()
    model = compiled_model()
    checkpoint = StepCheckpoint(str(tmp_path))
    model.fit(x, y, batch_size=8, epochs=1, callbacks=[checkpoint], verbose=0)
    latest = tmp_path / LATEST_FILE
    state = json.loads(latest.read_text())
    latest.write_text(json.dumps({**state, "step": 7}))
    with pytest.raises(
        RuntimeError, match="is for step 7 but restored the optimizer at iteration 3"
    ):
        checkpoint.restore(compiled_model())
    latest.write_text(json.dumps({**state, "weights": "step_000000099.weights.h5"}))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checkpoint.latest()
    with pytest.raises(ValueError, match="keep"):
        StepCheckpoint(str(tmp_path), keep=0)
