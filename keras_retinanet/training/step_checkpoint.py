"""Crash-safe checkpoints of the whole training state, and resuming from them.

Why not `keras.callbacks.BackupAndRestore(save_freq=N)`: in Keras 3.15 it stores the epoch
and the batch but restores only the epoch (`model._initial_epoch`); a run killed in the middle
of an epoch restarts that epoch from its first batch with mid-epoch weights, so it trains more
steps than asked and sees the interrupted epoch's batches twice. It also overwrites one file
in place, which a kill during the write corrupts. Here one Keras epoch is one checkpoint
interval, so a checkpoint always falls on an epoch boundary and `fit(initial_epoch=...)`
resumes exactly.

Layout of `directory`:

    step_000001000.weights.h5   model weights, optimizer variables (iterations, momentum
                                slots) and metric state, by `model.save_weights`
    latest.json                 {"step": 1000, "epoch": 1, "weights": "step_000001000..."}

Every file is written under a temporary name and moved into place with `os.replace`, and
`latest.json` is replaced only after its weights file is complete: a kill at any moment
leaves the previous checkpoint usable.
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras

LATEST_FILE = "latest.json"
_WEIGHTS_NAME = "step_{step:09d}.weights.h5"
_TEMPORARY_PREFIX = "tmp-"


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint.

    Attributes:
        step: optimizer iterations when it was written.
        epoch: Keras epochs completed when it was written.
        weights_path: its `.weights.h5` file.
    """

    step: int
    epoch: int
    weights_path: str


class StepCheckpoint(keras.callbacks.Callback):
    """Checkpoints model and optimizer at every epoch end; restores the newest one.

    Args:
        directory: folder of the checkpoints restored from (and written to by default).
        keep: number of newest checkpoints kept; older ones are deleted.
        save_directory: where checkpoints are written (default: `directory`). Non-chief
            workers of a multi-worker run pass a scratch folder: every worker must save,
            because saving reads synchronised (metric) variables with collective ops that
            all workers join, but only the chief's files are kept.
    """

    def __init__(self, directory: str, keep: int = 2, save_directory: str | None = None):
        super().__init__()
        if keep < 1:
            raise ValueError(f"`keep` must be >= 1; got {keep}.")
        self.directory = os.fspath(directory)
        self.save_directory = os.fspath(save_directory or directory)
        self.keep = keep

    def latest(self) -> CheckpointInfo | None:
        """The newest complete checkpoint, or None when there is none."""
        path = os.path.join(self.directory, LATEST_FILE)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as file:
            state = json.load(file)
        weights_path = os.path.join(self.directory, state["weights"])
        if not os.path.exists(weights_path):
            raise FileNotFoundError(
                f"{path} names {weights_path}, which does not exist; the checkpoint folder was "
                "changed by hand. Remove it to start over."
            )
        return CheckpointInfo(int(state["step"]), int(state["epoch"]), weights_path)

    def restore(self, model: keras.Model) -> CheckpointInfo | None:
        """Loads the newest checkpoint into `model` (weights and optimizer state).

        Args:
            model: the compiled model, with the same architecture and optimizer as when the
                checkpoint was written; its optimizer is built here if needed.

        Returns:
            The restored checkpoint, or None when there is none (nothing changes).

        Raises:
            RuntimeError: the restored optimizer's iteration count differs from the step the
                checkpoint was written at.
        """
        info = self.latest()
        if info is None:
            return None
        if model.optimizer is None:
            raise ValueError("Compile the model before restoring a checkpoint.")
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(info.weights_path)
        restored_step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        if restored_step != info.step:
            raise RuntimeError(
                f"Checkpoint {info.weights_path} is for step {info.step} but restored the "
                f"optimizer at iteration {restored_step}; was the optimizer changed?"
            )
        return info

    def save(self, model: keras.Model, epoch: int) -> CheckpointInfo:
        """Writes a checkpoint of `model` to `save_directory` now.

        Args:
            model: the model being trained.
            epoch: Keras epochs completed.

        Returns:
            The checkpoint written.
        """
        directory = self.save_directory
        os.makedirs(directory, exist_ok=True)
        step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        name = _WEIGHTS_NAME.format(step=step)
        temporary = os.path.join(directory, _TEMPORARY_PREFIX + name)
        model.save_weights(temporary, overwrite=True)
        final = os.path.join(directory, name)
        os.replace(temporary, final)
        _write_json_atomically(
            os.path.join(directory, LATEST_FILE),
            {"step": step, "epoch": epoch, "weights": name},
        )
        self._prune(keep_name=name)
        return CheckpointInfo(step, epoch, final)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.save(self.model, epoch + 1)

    def _prune(self, keep_name: str) -> None:
        names = sorted(
            n
            for n in os.listdir(self.save_directory)
            if n.startswith("step_") and n.endswith(".weights.h5")
        )
        for name in names[: max(len(names) - self.keep, 0)]:
            if name != keep_name:
                os.remove(os.path.join(self.save_directory, name))


def _write_json_atomically(path: str, payload: dict) -> None:
    temporary = os.path.join(os.path.dirname(path), _TEMPORARY_PREFIX + os.path.basename(path))
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(payload, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
