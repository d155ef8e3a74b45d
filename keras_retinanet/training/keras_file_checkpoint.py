"""Writes the model as a `.keras` file at epoch ends: the last one, or the best by a metric.

Unlike `keras.callbacks.ModelCheckpoint`, the file is written under a temporary name and
moved into place, so a kill during the write never leaves a truncated `.keras`; and the best
value survives a resume (it is stored beside the file), so a resumed run does not overwrite a
better model with its first evaluation.
"""

from __future__ import annotations

import json
import math
import os

import keras

_TEMPORARY_PREFIX = "tmp-"
_BEST_STATE_SUFFIX = ".json"


class KerasFileCheckpoint(keras.callbacks.Callback):
    """Saves `model.save(path)` at epoch ends.

    Args:
        path: the `.keras` file.
        monitor: None saves at every epoch end (the last model); a log name (e.g. "val_AP")
            saves only at epoch ends whose logs hold it with a value better than any before
            (the best model). The best value and step go to `path + ".json"`.
            Epochs at which training was stopped early (`TerminateOnNaN`) are skipped.
        mode: "max" or "min": which direction of `monitor` is better.
    """

    def __init__(self, path: str, monitor: str | None = None, mode: str = "max"):
        super().__init__()
        path = os.fspath(path)
        if not path.endswith(".keras"):
            raise ValueError(f"`path` must end in .keras; got {path!r}.")
        if mode not in ("max", "min"):
            raise ValueError(f"`mode` must be 'max' or 'min'; got {mode!r}.")
        self.path = path
        self.monitor = monitor
        self.mode = mode
        self.best: float | None = None
        self.saved = False
        state_path = path + _BEST_STATE_SUFFIX
        if monitor is not None and os.path.exists(state_path):
            with open(state_path, encoding="utf-8") as file:
                self.best = float(json.load(file)["value"])

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def save(self) -> None:
        """Writes the model now (atomically)."""
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, exist_ok=True)
        temporary = os.path.join(directory, _TEMPORARY_PREFIX + os.path.basename(self.path))
        self.model.save(temporary, overwrite=True)
        os.replace(temporary, self.path)
        self.saved = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.model.stop_training:
            return
        if self.monitor is None:
            self.save()
            return
        if not logs or self.monitor not in logs:
            return
        value = float(logs[self.monitor])
        if not self._improves(value):
            return
        self.best = value
        self.save()
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        with open(self.path + _BEST_STATE_SUFFIX, "w", encoding="utf-8") as file:
            json.dump({"monitor": self.monitor, "value": value, "step": step}, file)
