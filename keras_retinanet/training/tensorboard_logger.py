"""TensorBoard scalars indexed by the optimizer step, so resumed runs continue the curves.

Keras' `TensorBoard` callback counts batches from 0 in every `fit` call, so after a resume
its batch-level curves start over on top of the old ones. This logger writes at step
`optimizer.iterations` instead:

* every `every_n_steps` steps: the running training logs of the epoch (`loss`,
  `classification_loss`, `box_loss`) and the learning rate, under `train/`;
* at each epoch end: every epoch log, including in-training COCO metrics (`val_AP`, ...),
  under `epoch/`.

TensorFlow 2.21 no longer installs the `tensorboard` package that implements
`tf.summary.scalar`, so scalars are written with the core `tf.summary.write` and the metadata
TensorBoard's scalar plugin reads (`plugin_name="scalars"`): the logs open in any TensorBoard.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

# The plugin TensorBoard shows scalar summaries with.
SCALARS_PLUGIN = "scalars"
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=SCALARS_PLUGIN)
).SerializeToString()


def write_scalar(tag: str, value: float, step: int) -> None:
    """Writes one scalar summary to the default summary writer (no tensorboard package)."""
    tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=_SCALAR_METADATA)


class TensorBoardLogger(keras.callbacks.Callback):
    """Writes scalar summaries at the optimizer step (see the module docstring).

    Args:
        log_dir: the TensorBoard folder (created when needed).
        every_n_steps: steps between training scalars.
    """

    def __init__(self, log_dir: str, every_n_steps: int):
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"`every_n_steps` must be >= 1; got {every_n_steps}.")
        self.log_dir = os.fspath(log_dir)
        self.every_n_steps = every_n_steps
        self._writer = None

    def _step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def _learning_rate(self) -> float:
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def _write(self, prefix: str, logs: dict, step: int) -> None:
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            for name, value in logs.items():
                write_scalar(f"{prefix}/{name}", float(value), step)
            write_scalar(f"{prefix}/learning_rate", self._learning_rate(), step)
        self._writer.flush()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = self._step()
        if logs and step % self.every_n_steps == 0:
            self._write("train", logs, step)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs:
            self._write("epoch", logs, self._step())

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
