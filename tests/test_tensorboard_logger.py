"""TensorBoardLogger: scalars at the optimizer step, readable without the tensorboard package."""

import glob

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.util import event_pb2

from keras_retinanet.training.tensorboard_logger import SCALARS_PLUGIN, TensorBoardLogger


def read_scalars(log_dir):
    scalars = {}
    for path in glob.glob(f"{log_dir}/events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                assert value.metadata.plugin_data.plugin_name == SCALARS_PLUGIN
                number = float(tf.make_ndarray(value.tensor))
                scalars.setdefault(value.tag, []).append((event.step, number))
    return scalars


def test_scalars_are_indexed_by_optimizer_iterations(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.125), loss="mse")
    x = np.ones((8, 2), "float32")
    logger = TensorBoardLogger(str(tmp_path), every_n_steps=2)
    model.fit(x, np.zeros((8, 1)), batch_size=2, epochs=2, callbacks=[logger], verbose=0)
    # 4 steps per epoch: train scalars at steps 2, 4, 6, 8; epoch scalars at 4 and 8.
    scalars = read_scalars(str(tmp_path))
    assert [step for step, _ in scalars["train/loss"]] == [2, 4, 6, 8]
    assert [step for step, _ in scalars["epoch/loss"]] == [4, 8]
    assert scalars["train/learning_rate"][0] == (2, 0.125)
    # A resumed run (new logger, same folder) continues at the optimizer's step.
    resumed = TensorBoardLogger(str(tmp_path), every_n_steps=2)
    model.fit(
        x, np.zeros((8, 1)), batch_size=2, epochs=3, initial_epoch=2, callbacks=[resumed], verbose=0
    )
    steps = sorted(step for step, _ in read_scalars(str(tmp_path))["epoch/loss"])
    assert steps == [4, 8, 12]
