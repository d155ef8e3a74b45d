"""The strategy factory and TF_CONFIG checks (multi-worker training: test_multi_worker.py)."""

import json

import pytest
import tensorflow as tf

from keras_retinanet.training.distribution_strategy import (
    build_strategy,
    is_chief,
    read_tf_config,
    worker_index,
)


def test_default_and_mirrored():
    default = build_strategy("default")
    assert default is tf.distribute.get_strategy()
    assert is_chief(default) and worker_index(default) == 0
    mirrored = build_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync >= 1
    assert is_chief(mirrored)


def test_unknown_names_and_misplaced_tpu_address():
    with pytest.raises(ValueError, match="Unknown strategy"):
        build_strategy("horovod")
    with pytest.raises(ValueError, match="tpu strategy only"):
        build_strategy("mirrored", tpu_address="grpc://10.0.0.2:8470")


def test_tf_config_is_required_and_checked(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG environment variable, which is not set"):
        build_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_tf_config()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1"]}}))
    with pytest.raises(ValueError, match='needs "cluster" and "task"'):
        read_tf_config()
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1"]}, "task": {"index": 0}})
    )
    with pytest.raises(ValueError, match='needs "type" and "index"'):
        read_tf_config()
    good = {
        "cluster": {"worker": ["localhost:1", "localhost:2"]},
        "task": {"type": "worker", "index": 1},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(good))
    assert read_tf_config() == good
