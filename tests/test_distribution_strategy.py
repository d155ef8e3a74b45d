"""The strategy factory and TF_CONFIG checks (multi-worker training: test_multi_worker.py)."""

import json
import types

import pytest
import tensorflow as tf

from keras_retinanet.training import distribution_strategy
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
    # One replica per local GPU, the CPU when there is none.
    gpus = tf.config.list_logical_devices("GPU")
    devices = [tf.DeviceSpec.from_string(d) for d in mirrored.extended.worker_devices]
    if gpus:
        assert [d.device_type for d in devices] == ["GPU"] * len(gpus)
    else:
        assert [(d.device_type, d.device_index) for d in devices] == [("CPU", 0)]
    replicas = max(1, len(gpus))
    assert mirrored.num_replicas_in_sync == replicas
    # Variables made in its scope are mirrored on every replica; a per-replica value
    # summed over the replicas counts them.
    with mirrored.scope():
        weight = tf.Variable(2.0)
    assert len(mirrored.experimental_local_results(weight)) == replicas
    ones = mirrored.run(lambda: tf.constant(1.0))
    assert float(mirrored.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)) == replicas
    assert is_chief(mirrored) and worker_index(mirrored) == 0


def _cluster_member(monkeypatch, cluster, task_type, task_id):
    """A stand-in multi-worker strategy: only its cluster resolver is read."""
    monkeypatch.setattr(distribution_strategy, "is_multi_worker", lambda strategy: True)
    resolver = types.SimpleNamespace(
        task_type=task_type,
        task_id=task_id,
        cluster_spec=lambda: tf.train.ClusterSpec(cluster),
    )
    return types.SimpleNamespace(cluster_resolver=resolver)


@pytest.mark.parametrize(
    "cluster, task_type, task_id, chief",
    [
        ({"worker": ["a:1", "b:1"]}, "worker", 0, True),  # no chief task: worker 0 writes
        ({"worker": ["a:1", "b:1"]}, "worker", 1, False),
        ({"chief": ["c:1"], "worker": ["a:1"]}, "chief", 0, True),
        ({"chief": ["c:1"], "worker": ["a:1"]}, "worker", 0, False),  # the chief writes
    ],
)
def test_only_the_chief_writes_in_a_cluster(monkeypatch, cluster, task_type, task_id, chief):
    strategy = _cluster_member(monkeypatch, cluster, task_type, task_id)
    assert is_chief(strategy) is chief
    assert worker_index(strategy) == task_id


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
