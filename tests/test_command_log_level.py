"""The console commands quiet TensorFlow's C++ logs unless the user chose a level."""

import os
import subprocess
import sys

import pytest

from keras_retinanet.command_log_level import (
    COMMAND_LOG_LEVEL,
    TF_LOG_LEVEL_ENV,
    quiet_tensorflow_for_commands,
)

# A quick command that initialises TensorFlow's devices (where cuInit is logged).
DEBUG_ARGS = (
    "--recipe",
    "shapes",
    "--data.format",
    "shapes",
    "--data.num_images",
    "2",
    "--data.image_size",
    "128",
    "--data.seed",
    "1",
)
NOISE = ("cuInit", "E0000", "cpu_feature_guard")


def test_only_commands_without_a_user_level_are_quieted():
    environ = {}
    assert quiet_tensorflow_for_commands("/venv/bin/retinanet-train", environ)
    assert environ == {TF_LOG_LEVEL_ENV: COMMAND_LOG_LEVEL}
    user = {TF_LOG_LEVEL_ENV: "0"}
    assert not quiet_tensorflow_for_commands("/venv/bin/retinanet-evaluate", user)
    assert user == {TF_LOG_LEVEL_ENV: "0"}
    library = {}
    assert not quiet_tensorflow_for_commands("/usr/bin/python", library)
    assert library == {}


def _run_debug(level):
    command = os.path.join(os.path.dirname(sys.executable), "retinanet-debug")
    if not os.path.exists(command):
        pytest.skip("the console scripts are not installed in this environment")
    environment = {k: v for k, v in os.environ.items() if k != TF_LOG_LEVEL_ENV}
    if level is not None:
        environment[TF_LOG_LEVEL_ENV] = level
    result = subprocess.run(
        [command, *DEBUG_ARGS], capture_output=True, text=True, env=environment, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "all" in result.stdout  # the per-size table
    return result.stderr


def test_console_command_prints_no_tensorflow_error_noise():
    stderr = _run_debug(None)
    assert not [word for word in NOISE if word in stderr], stderr


def test_a_level_the_user_set_is_kept():
    # Level 0 shows everything: the CPU-instructions notice at least (and cuInit where
    # there is no GPU), which the default hides.
    stderr = _run_debug("0")
    assert "cpu_feature_guard" in stderr
