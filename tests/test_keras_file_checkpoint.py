"""KerasFileCheckpoint: last model every epoch, best model on improvement, kept over resumes."""

import json
import os

import keras
import numpy as np
import pytest

from keras_retinanet.training.keras_file_checkpoint import KerasFileCheckpoint


def model():
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    net.compile("sgd", loss="mse")
    return net


def run_epochs(callback, net, values, monitor="val_AP"):
    callback.set_model(net)
    for epoch, value in enumerate(values):
        net.layers[0].kernel.assign(np.full((2, 1), float(epoch), "float32"))
        logs = {} if value is None else {monitor: value}
        callback.on_epoch_end(epoch, logs)


def saved_kernel(path):
    return keras.models.load_model(path).layers[0].kernel.numpy()[0, 0]


def test_last_model_is_written_every_epoch(tmp_path):
    path = str(tmp_path / "last.keras")
    run_epochs(KerasFileCheckpoint(path), model(), [None, None, None])
    assert saved_kernel(path) == 2.0
    assert os.listdir(tmp_path) == ["last.keras"]  # no temporary file left


def test_best_model_follows_the_metric_and_survives_a_restart(tmp_path):
    path = str(tmp_path / "best.keras")
    # Epoch 0: 0.2 (saved); 1: no evaluation; 2: 0.5 (saved); 3: 0.4 (kept 0.5).
    run_epochs(KerasFileCheckpoint(path, monitor="val_AP"), model(), [0.2, None, 0.5, 0.4])
    assert saved_kernel(path) == 2.0
    state = json.loads((tmp_path / "best.keras.json").read_text())
    assert state["value"] == 0.5 and state["monitor"] == "val_AP"
    # A resumed run remembers 0.5: 0.45 does not replace the file, 0.6 does.
    resumed = KerasFileCheckpoint(path, monitor="val_AP")
    assert resumed.best == 0.5
    run_epochs(resumed, model(), [0.45])
    assert saved_kernel(path) == 2.0
    run_epochs(resumed, model(), [None, 0.6])
    assert saved_kernel(path) == 1.0


def test_skips_epochs_stopped_early_and_checks_arguments(tmp_path):
    net = model()
    callback = KerasFileCheckpoint(str(tmp_path / "last.keras"))
    callback.set_model(net)
    net.stop_training = True
    callback.on_epoch_end(0, {})
    assert not callback.saved
    with pytest.raises(ValueError, match=r"\.keras"):
        KerasFileCheckpoint(str(tmp_path / "model.h5"))
    with pytest.raises(ValueError, match="mode"):
        KerasFileCheckpoint(str(tmp_path / "m.keras"), monitor="loss", mode="lowest")
