"""The endless training input stream, per worker, with resuming.

`build_train_input` returns what `fit` takes:

* one device or `MirroredStrategy`: a `tf.data.Dataset` of global batches (Keras splits each
  batch over the replicas);
* multi-worker and TPU strategies: a distributed dataset from
  `strategy.distribute_datasets_from_function`, where input pipeline `i` of `n` keeps the
  loader elements `i, i + n, ...` (after the loader's seeded shuffle, which is the same on
  every worker) and batches them by the per-replica batch size. Global step `k` then trains
  on the same images as step `k` of a one-device run with the same global batch (without
  augmentation and pipeline shuffle the very same; with them, the augmentation seeds differ
  per worker: pipeline `i` uses `seed + i`). Every worker decodes every image before
  dropping the others' (the loaders cannot shard by index yet).

Resuming at step `s > 0` (see `CheckpointConfig.resume_data`):

* "replay": skip the `s` batches already trained on; with a seed, the stream is then
  exactly the one an uninterrupted run sees (the skipped batches still go through the
  pipeline, without the model);
* "reseed": a fresh stream whose seed is derived from `(seed, s)`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_retinanet.data import DetectionDataset
from keras_retinanet.data.input_pipeline import EncodeTargets, build_train_pipeline
from keras_retinanet.training.train_config import (
    RESUME_DATA_POLICIES,
    RESUME_DATA_REPLAY,
    DataConfig,
)

# Derived seeds stay below 2**31 so that every TensorFlow seed argument accepts them.
_SEED_LIMIT = 2**31


def stream_seed(seed: int, start_step: int, resume_data: str) -> int:
    """The seed of the input stream of a run starting at `start_step`.

    Args:
        seed: the run's seed.
        start_step: the step training (re)starts at.
        resume_data: "replay" (the seed stays) or "reseed" (a new seed per start step).

    Returns:
        `seed` for a fresh start or "replay"; else a deterministic function of both.
    """
    if resume_data not in RESUME_DATA_POLICIES:
        raise ValueError(
            f"`resume_data` must be one of {RESUME_DATA_POLICIES}; got {resume_data!r}."
        )
    if start_step == 0 or resume_data == RESUME_DATA_REPLAY:
        return seed
    state = np.random.SeedSequence([seed, start_step]).generate_state(1)[0]
    return int(state) % _SEED_LIMIT


def _pipeline(
    loader: DetectionDataset,
    data: DataConfig,
    batch_size: int,
    seed: int,
    num_pipelines: int,
    pipeline_index: int,
    encode_targets: EncodeTargets | None,
) -> tf.data.Dataset:
    elements = loader.as_dataset(shuffle=data.shuffle and not data.cache, seed=seed)
    if num_pipelines > 1:
        elements = elements.shard(num_pipelines, pipeline_index)
    if data.cache:
        # Decode once (the first epoch fills the cache), then reshuffle the cached images
        # every epoch with the seed: still a deterministic function of the seed.
        elements = elements.cache()
        if data.shuffle and len(loader) > 1:
            elements = elements.shuffle(
                len(loader) // num_pipelines + 1, seed=seed, reshuffle_each_iteration=True
            )
    batches = build_train_pipeline(
        elements,
        batch_size=batch_size,
        resize=data.resize,
        augmentation=data.augmentation.to_augmentation_config(),
        max_boxes=data.max_boxes,
        encode_targets=encode_targets,
        seed=seed + pipeline_index,
        shuffle_buffer=data.shuffle_buffer if data.shuffle else 0,
        drop_remainder=True,
    )
    return batches.repeat()


def pipeline_dataset(
    loader: DetectionDataset,
    data: DataConfig,
    context: tf.distribute.InputContext,
    seed: int,
    skipped_steps: int = 0,
    encode_targets: EncodeTargets | None = None,
) -> tf.data.Dataset:
    """The per-replica batches of input pipeline `context.input_pipeline_id`.

    Args:
        loader: the training loader.
        data: the `DataConfig`.
        context: which pipeline of how many, and the replica count.
        seed: the stream seed (`stream_seed`).
        skipped_steps: global steps to skip ("replay" resume).
        encode_targets: optional per-sample target encoder.

    Returns:
        Endless `(images [b, H, W, 3], y)` batches, `b` the per-replica batch size.
    """
    per_replica = context.get_per_replica_batch_size(data.global_batch_size)
    dataset = _pipeline(
        loader,
        data,
        per_replica,
        seed,
        context.num_input_pipelines,
        context.input_pipeline_id,
        encode_targets,
    )
    # Each global step takes one batch for every replica this pipeline feeds.
    local_replicas = context.num_replicas_in_sync // context.num_input_pipelines
    skipped = skipped_steps * local_replicas
    return dataset.skip(skipped) if skipped else dataset


def build_train_input(
    loader: DetectionDataset,
    data: DataConfig,
    strategy: tf.distribute.Strategy,
    seed: int,
    start_step: int = 0,
    resume_data: str = RESUME_DATA_REPLAY,
    encode_targets: EncodeTargets | None = None,
    distribute_per_pipeline: bool = False,
):
    """The endless training stream (see the module docstring).

    Args:
        loader: the training loader.
        data: the `DataConfig` (batch size, resize, augmentation, shuffling).
        strategy: the distribution strategy.
        seed: the run's seed.
        start_step: global steps already trained (0 for a fresh run).
        resume_data: "replay" or "reseed".
        encode_targets: `model.encode_targets` to encode targets in the pipeline (needs a
            fixed output size), or None to let the model encode them in its loss.
        distribute_per_pipeline: build one pipeline per worker with
            `distribute_datasets_from_function` (multi-worker and TPU strategies).

    Returns:
        `(images float32 [B, H, W, 3], y)` batches: a `tf.data.Dataset` of global batches,
        or a distributed dataset of per-replica batches.
    """
    global_batch = data.global_batch_size
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ValueError(
            f"`data.global_batch_size` ({global_batch}) must be a multiple of the "
            f"{replicas} replicas."
        )
    seed = stream_seed(seed, start_step, resume_data)
    skipped_steps = start_step if resume_data == RESUME_DATA_REPLAY else 0

    if not distribute_per_pipeline:
        # One pipeline of global batches; Keras splits them over the local replicas.
        single = tf.distribute.InputContext()
        return pipeline_dataset(loader, data, single, seed, skipped_steps, encode_targets)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return pipeline_dataset(loader, data, context, seed, skipped_steps, encode_targets)

    return strategy.distribute_datasets_from_function(dataset_fn)
