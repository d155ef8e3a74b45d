"""A training run killed with SIGKILL after a checkpoint resumes exactly (real subprocesses).

Three `retinanet-train shapes` processes with the same flags: one runs uninterrupted, one is
killed once it has written a checkpoint, and the same command then resumes it. The resumed
run must start at the checkpoint's step with the checkpoint's optimizer state (iterations and
momentum slots), finish, and end with the uninterrupted run's weights and losses (op
determinism on, "replay" input resume).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
from conftest_training import REPO_ROOT, TINY_SHAPES_FLAGS, subprocess_env

from keras_retinanet.cli.train import build_config
from keras_retinanet.training.model_builder import build_retinanet, compile_retinanet
from keras_retinanet.training.step_checkpoint import LATEST_FILE, StepCheckpoint

TOTAL_STEPS = 24
EVERY_N_STEPS = 4
KILL_AFTER_STEP = 8
TIMEOUT_S = 240
POLL_S = 0.02


def train_flags(model_dir):
    return [
        "shapes", *TINY_SHAPES_FLAGS,
        "--checkpoint.model_dir", model_dir,
        "--data.global_batch_size", "4",
        "--schedule.total_steps", str(TOTAL_STEPS),
        "--schedule.warmup_steps", "5",
        "--schedule.kind", "step",
        "--schedule.step_boundaries", "16",
        "--checkpoint.every_n_steps", str(EVERY_N_STEPS),
        "--checkpoint.tensorboard", "false",
        "--evaluation.at_end", "false",
        "--evaluation.every_n_steps", "0",
        "--runtime.deterministic", "true",
    ]  # fmt: skip


def start(model_dir):
    return subprocess.Popen(
        [sys.executable, "-m", "keras_retinanet.cli.train", *train_flags(model_dir)],
        cwd=REPO_ROOT,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process):
    output, _ = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, output[-3000:]
    return output


def latest_step(model_dir):
    path = os.path.join(model_dir, "checkpoints", LATEST_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as file:
        return json.load(file)["step"]


def weights(path):
    return keras.models.load_model(path, compile=False).get_weights()


def result(model_dir):
    with open(os.path.join(model_dir, "train_result.json")) as file:
        return json.load(file)


@pytest.mark.slow
def test_killed_run_resumes_at_its_checkpoint_with_its_optimizer_state(tmp_path):
    reference_dir, killed_dir = str(tmp_path / "reference"), str(tmp_path / "killed")
    reference = start(reference_dir)
    victim = start(killed_dir)
    deadline = time.monotonic() + TIMEOUT_S
    while (latest_step(killed_dir) or 0) < KILL_AFTER_STEP:
        assert victim.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint written in time"
        time.sleep(POLL_S)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=TIMEOUT_S)
    assert victim.returncode == -signal.SIGKILL

    step = latest_step(killed_dir)
    assert KILL_AFTER_STEP <= step < TOTAL_STEPS and step % EVERY_N_STEPS == 0
    assert not os.path.exists(os.path.join(killed_dir, "train_result.json"))
    # Keep a copy of the checkpoints for the checks below, then resume with the same command.
    saved_checkpoints = str(tmp_path / "saved_checkpoints")
    shutil.copytree(os.path.join(killed_dir, "checkpoints"), saved_checkpoints)
    resumed_process = start(killed_dir)

    # What the checkpoint holds, straight from its file.
    weights_file = os.path.join(saved_checkpoints, f"step_{step:09d}.weights.h5")
    with h5py.File(weights_file, "r") as file:
        stored = file["optimizer/vars"]
        stored_optimizer = [np.asarray(stored[str(i)]) for i in range(len(stored))]
    assert int(stored_optimizer[0]) == step  # the iteration counter comes first

    # Restoring it into the recipe's model gives back exactly that optimizer state.
    config, _ = build_config("shapes", train_flags(killed_dir)[1:])
    model = build_retinanet(config.model, num_classes=5)
    compile_retinanet(model, config)
    info = StepCheckpoint(saved_checkpoints).restore(model)
    assert info.step == step and int(model.optimizer.iterations) == step
    restored = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    assert len(restored) == len(stored_optimizer)
    momentum_slots = 0
    for variable, value, expected in zip(model.optimizer.variables, restored, stored_optimizer):
        np.testing.assert_array_equal(value, expected, err_msg=variable.path)
        momentum_slots += variable.name.endswith("_momentum")
    assert momentum_slots == len(model.trainable_variables)
    assert any(np.any(v != 0) for v in restored[1:])

    # The resumed run started at that step and finished.
    finish(resumed_process)
    finish(reference)
    resumed, uninterrupted = result(killed_dir), result(reference_dir)
    assert (resumed["initial_step"], resumed["final_step"]) == (step, TOTAL_STEPS)
    assert (uninterrupted["initial_step"], uninterrupted["final_step"]) == (0, TOTAL_STEPS)
    # Epoch losses after the resume point match the uninterrupted run's.
    first_epoch = step // EVERY_N_STEPS
    # With op determinism and the replayed input stream they are bit for bit the same.
    assert resumed["history"]["loss"] == uninterrupted["history"]["loss"][first_epoch:]
    final_resumed = weights(os.path.join(killed_dir, "last.keras"))
    final_reference = weights(os.path.join(reference_dir, "last.keras"))
    assert len(final_resumed) == len(final_reference)
    for got, expected in zip(final_resumed, final_reference):
        np.testing.assert_array_equal(got, expected)
