"""Two worker processes with MultiWorkerMirroredStrategy on localhost train like one device.

Both workers run `retinanet-train shapes --runtime.strategy multi_worker` with TF_CONFIG
naming two localhost ports; a third process trains on one device with the same global
batch (4 = 2 per worker). BatchNorm is frozen and the data neither shuffled nor augmented,
so global step k sees the same 4 images in both set-ups, and the loss normaliser is summed
over replicas: the weights and losses must agree up to float summation order.
"""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest_training import REPO_ROOT, TINY_SHAPES_FLAGS, subprocess_env

from keras_retinanet.cli.train import build_config
from keras_retinanet.training.model_builder import build_retinanet

TOTAL_STEPS = 6
TIMEOUT_S = 300
NUM_WORKERS = 2


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("localhost", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def train_flags(model_dir, strategy):
    return [
        "shapes", *TINY_SHAPES_FLAGS,
        "--checkpoint.model_dir", model_dir,
        "--runtime.strategy", strategy,
        "--data.global_batch_size", "4",
        "--data.shuffle", "false",
        "--data.augmentation.flip_probability", "0",
        "--schedule.total_steps", str(TOTAL_STEPS),
        "--schedule.warmup_steps", "2",
        "--schedule.kind", "step",
        "--schedule.step_boundaries", "4",
        "--optimizer.reference_batch_size", "4",
        "--checkpoint.every_n_steps", "2",
        "--checkpoint.tensorboard", "false",
        "--evaluation.at_end", "false",
        "--evaluation.every_n_steps", "0",
    ]  # fmt: skip


def start(flags, env):
    return subprocess.Popen(
        [sys.executable, "-m", "keras_retinanet.cli.train", *flags],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_two_workers_match_one_device_on_the_same_global_batch(tmp_path):
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(NUM_WORKERS)]}
    multi_dir, single_dir = str(tmp_path / "multi"), str(tmp_path / "single")
    processes = [
        start(
            train_flags(multi_dir, "multi_worker"),
            subprocess_env(
                TF_CONFIG=json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}}
                )
            ),
        )
        for index in range(NUM_WORKERS)
    ]
    processes.append(start(train_flags(single_dir, "default"), subprocess_env()))
    for process in processes:
        output, _ = process.communicate(timeout=TIMEOUT_S)
        assert process.returncode == 0, output[-3000:]

    with open(os.path.join(multi_dir, "train_result.json")) as file:
        multi = json.load(file)
    with open(os.path.join(single_dir, "train_result.json")) as file:
        single = json.load(file)
    assert multi["is_chief"] and multi["final_step"] == single["final_step"] == TOTAL_STEPS
    # Logged epoch losses are global means in both set-ups.
    np.testing.assert_allclose(multi["history"]["loss"], single["history"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(
        multi["history"]["box_loss"], single["history"]["box_loss"], rtol=1e-5
    )
    multi_weights = keras.models.load_model(
        os.path.join(multi_dir, "last.keras"), compile=False
    ).get_weights()
    single_model = keras.models.load_model(os.path.join(single_dir, "last.keras"), compile=False)
    single_weights = single_model.get_weights()
    assert len(multi_weights) == len(single_weights)
    for got, expected in zip(multi_weights, single_weights):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)

    # The comparison means something: every trainable variable moved away from the seeded
    # initialisation, which the frozen ones still hold exactly.
    config, _ = build_config("shapes", train_flags(single_dir, "default")[1:])
    keras.utils.set_random_seed(config.runtime.seed)
    initial = build_retinanet(config.model, num_classes=5)
    for variable, trained in zip(initial.weights, single_weights):
        start_value = keras.ops.convert_to_numpy(variable)
        if variable.trainable:
            assert not np.array_equal(trained, start_value), variable.path
        else:
            np.testing.assert_array_equal(trained, start_value, err_msg=variable.path)
    largest = max(float(np.max(np.abs(a - b))) for a, b in zip(multi_weights, single_weights))
    print(
        f"max |w_2workers - w_1device| = {largest:.3g} over {len(single_weights)} arrays; "
        f"losses {multi['history']['loss']} vs {single['history']['loss']}"
    )
