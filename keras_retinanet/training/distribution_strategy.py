"""Builds the `tf.distribute.Strategy` named by `RuntimeConfig.strategy`.

* "default": TensorFlow's default strategy (one device: the first GPU, else the CPU).
* "mirrored": `MirroredStrategy` over all local GPUs (the CPU when there is none).
* "multi_worker": `MultiWorkerMirroredStrategy`; the cluster and this process's task come
  from the `TF_CONFIG` environment variable, e.g. for two workers on one machine:
  `{"cluster": {"worker": ["localhost:12345", "localhost:12346"]},
  "task": {"type": "worker", "index": 0}}`. Create it at program start, before other
  TensorFlow work (a constraint of the strategy).
* "tpu": `TPUStrategy` on the TPU at `tpu_address` (None: the local / default TPU).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGY_DEFAULT = "default"
STRATEGY_MIRRORED = "mirrored"
STRATEGY_MULTI_WORKER = "multi_worker"
STRATEGY_TPU = "tpu"
STRATEGIES = (STRATEGY_DEFAULT, STRATEGY_MIRRORED, STRATEGY_MULTI_WORKER, STRATEGY_TPU)

TF_CONFIG_ENV = "TF_CONFIG"
_CHIEF_TASK_TYPES = ("chief", "master")
_WORKER_TASK_TYPE = "worker"


def read_tf_config() -> dict:
    """The parsed `TF_CONFIG` environment variable, checked for a cluster and a task.

    Raises:
        ValueError: it is missing, not JSON, or lacks "cluster" / "task".
    """
    text = os.environ.get(TF_CONFIG_ENV)
    if not text:
        raise ValueError(
            "The multi_worker strategy reads the cluster from the TF_CONFIG environment "
            'variable, which is not set. Example: TF_CONFIG=\'{"cluster": {"worker": '
            '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\''
        )
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from None
    if not isinstance(tf_config, dict) or "cluster" not in tf_config or "task" not in tf_config:
        raise ValueError(f'TF_CONFIG needs "cluster" and "task" entries; got {text}.')
    task = tf_config["task"]
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f'TF_CONFIG "task" needs "type" and "index"; got {task!r}.')
    return tf_config


def build_strategy(name: str, tpu_address: str | None = None) -> tf.distribute.Strategy:
    """Creates the strategy `name` (see the module docstring).

    Args:
        name: one of `STRATEGIES`.
        tpu_address: "tpu" only: the TPU name or grpc address; None for the default TPU.

    Returns:
        The strategy.

    Raises:
        ValueError: an unknown name, a TPU address for another strategy, or a bad TF_CONFIG.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {STRATEGIES}.")
    if tpu_address is not None and name != STRATEGY_TPU:
        raise ValueError(f"`tpu_address` applies to the tpu strategy only, not {name!r}.")
    if name == STRATEGY_DEFAULT:
        return tf.distribute.get_strategy()
    if name == STRATEGY_MIRRORED:
        return tf.distribute.MirroredStrategy()
    if name == STRATEGY_MULTI_WORKER:
        read_tf_config()
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` spans several worker processes."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        strategy.extended._in_multi_worker_mode()
    )


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: always, except on non-chief workers.

    In a multi-worker cluster the chief is the "chief" task, or worker 0 when the cluster
    has no chief.
    """
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in _CHIEF_TASK_TYPES:
        return True
    has_chief = any(kind in resolver.cluster_spec().as_dict() for kind in _CHIEF_TASK_TYPES)
    return task_type == _WORKER_TASK_TYPE and task_id == 0 and not has_chief


def worker_index(strategy: tf.distribute.Strategy) -> int:
    """This process's index among the workers (0 outside a multi-worker cluster)."""
    if not is_multi_worker(strategy):
        return 0
    return int(strategy.cluster_resolver.task_id)
