"""`StepLogLine`: one line of training metrics every N steps (for logs, not terminals)."""

from __future__ import annotations

import sys
from typing import TextIO

import keras


class StepLogLine(keras.callbacks.Callback):
    """Prints `step S: loss ... classification_loss ... box_loss ...` every N steps.

    Keras' progress bar redraws one terminal line; in a log file (no terminal) it writes
    nothing until an epoch ends, and a RetinaNet epoch is a checkpoint interval (hundreds
    of steps). This callback gives logs a heartbeat instead. The step is the optimizer's
    iteration count, so a resumed run continues the numbering.

    Args:
        every_n_steps: steps between lines, `>= 1`.
        total_steps: the run's length, shown as `step S/T` (None: `step S`).
        stream: where the lines go (default `sys.stdout`).
    """

    def __init__(
        self, every_n_steps: int, total_steps: int | None = None, stream: TextIO | None = None
    ):
        super().__init__()
        if not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"`every_n_steps` must be an int >= 1; got {every_n_steps!r}.")
        self.every_n_steps = every_n_steps
        self.total_steps = total_steps
        self.stream = stream

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations)
        if step % self.every_n_steps:
            return
        total = f"/{self.total_steps}" if self.total_steps else ""
        values = " ".join(f"{name} {float(value):.4f}" for name, value in (logs or {}).items())
        print(f"step {step}{total}: {values}", file=self.stream or sys.stdout, flush=True)
