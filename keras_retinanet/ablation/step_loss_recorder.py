"""A `fit` callback that keeps the loss of every training step (not the epoch's running mean)."""

from __future__ import annotations

import math

import keras

# The RetinaNet training logs this callback reads.
LOSS_NAMES = ("loss", "classification_loss", "box_loss")


class StepLossRecorder(keras.callbacks.Callback):
    """Records each step's losses during `fit`.

    Keras logs the running mean of each loss since the epoch began; step `i` (0-based in its
    epoch) had the loss `(i + 1) m_i - i m_(i-1)`. Needs `steps_per_execution = 1`.

    Attributes after `fit`:
        losses: name -> list of per-step values over all epochs, for each of `LOSS_NAMES`
            present in the logs (NaN / inf kept as they were).
    """

    def __init__(self):
        super().__init__()
        self.losses: dict[str, list[float]] = {}
        self._previous_means: dict[str, float] = {}

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._previous_means = {}

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for name in LOSS_NAMES:
            if not logs or name not in logs:
                continue
            mean = float(logs[name])
            previous = self._previous_means.get(name, 0.0)
            if batch == 0:
                value = mean
            elif not (math.isfinite(mean) and math.isfinite(previous)):
                value = mean
            else:
                value = (batch + 1) * mean - batch * previous
            self._previous_means[name] = mean
            self.losses.setdefault(name, []).append(value)
