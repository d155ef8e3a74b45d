"""The training stream: resume by replay or reseed, per-worker sharding."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from conftest_training import shapes_spec, tiny_config

from keras_retinanet.training.loader_factory import build_loader
from keras_retinanet.training.train_input import build_train_input, pipeline_dataset, stream_seed


def batches(dataset, count):
    return [images.numpy() for images, _ in dataset.take(count)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    config = tiny_config(str(tmp_path_factory.mktemp("run")))
    return build_loader(config.data.train), config.data


def test_stream_seed():
    assert stream_seed(7, 0, "reseed") == 7
    assert stream_seed(7, 100, "replay") == 7
    resumed = stream_seed(7, 100, "reseed")
    assert resumed != 7 and resumed == stream_seed(7, 100, "reseed")
    assert resumed != stream_seed(7, 200, "reseed")
    assert 0 <= resumed < 2**31
    with pytest.raises(ValueError, match="resume_data"):
        stream_seed(7, 1, "rewind")


def test_replay_resumes_the_exact_stream(setup):
    loader, data = setup
    strategy = tf.distribute.get_strategy()
    full = batches(build_train_input(loader, data, strategy, seed=3), 5)
    resumed = batches(build_train_input(loader, data, strategy, seed=3, start_step=3), 2)
    # Shuffled, flipped, endless (16 images = 8 batches of 2 per pass): steps 3 and 4 again.
    np.testing.assert_array_equal(resumed[0], full[3])
    np.testing.assert_array_equal(resumed[1], full[4])
    assert not np.array_equal(full[0], full[1])


def test_reseed_gives_another_deterministic_stream(setup):
    loader, data = setup
    strategy = tf.distribute.get_strategy()
    full = batches(build_train_input(loader, data, strategy, seed=3), 4)
    first = batches(build_train_input(loader, data, strategy, 3, 3, "reseed"), 2)
    again = batches(build_train_input(loader, data, strategy, 3, 3, "reseed"), 2)
    np.testing.assert_array_equal(first[0], again[0])
    assert not any(np.array_equal(first[0], batch) for batch in full)


def test_per_worker_pipelines_split_each_global_batch(setup):
    loader, data = setup
    plain = dataclasses.replace(
        data,
        global_batch_size=4,
        shuffle=False,
        augmentation=dataclasses.replace(data.augmentation, flip_probability=0.0),
    )
    single = batches(pipeline_dataset(loader, plain, tf.distribute.InputContext(), seed=0), 2)
    per_worker = [
        batches(pipeline_dataset(loader, plain, tf.distribute.InputContext(2, i, 2), seed=0), 2)
        for i in range(2)
    ]
    for step in range(2):
        # Worker 0 holds images 4k and 4k + 2, worker 1 images 4k + 1 and 4k + 3.
        assert per_worker[0][step].shape[0] == 2
        np.testing.assert_array_equal(per_worker[0][step], single[step][0::2])
        np.testing.assert_array_equal(per_worker[1][step], single[step][1::2])


def test_global_batch_must_split_over_replicas(setup):
    loader, data = setup

    class FakeStrategy:
        num_replicas_in_sync = 3

    with pytest.raises(ValueError, match="multiple of the 3 replicas"):
        build_train_input(loader, data, FakeStrategy(), seed=0)


def test_loader_factory_rejects_missing_files(tmp_path):
    from keras_retinanet.training.train_config import DatasetSpec

    with pytest.raises(FileNotFoundError):
        build_loader(
            DatasetSpec(format="coco_json", path=str(tmp_path / "a.json"), image_dir=str(tmp_path))
        )
    with pytest.raises(FileNotFoundError, match="Label map"):
        build_loader(
            DatasetSpec(
                format="tfrecord",
                path=str(tmp_path / "*.tfrecord"),
                classes_file=str(tmp_path / "labels.json"),
            )
        )
    assert build_loader(shapes_spec(3, seed=5)).num_classes == 5


def test_cached_stream_decodes_once_and_reshuffles_every_epoch(setup):
    _, data = setup
    cached = dataclasses.replace(
        data,
        cache=True,
        augmentation=dataclasses.replace(data.augmentation, flip_probability=0.0),
    )
    loader = build_loader(cached.train)  # its own loader: render is wrapped below
    rendered = []
    render = loader.render

    def counting_render(index):
        rendered.append(index)
        return render(index)

    loader.render = counting_render
    strategy = tf.distribute.get_strategy()
    # 16 images in batches of 2: two epochs.
    stream = batches(build_train_input(loader, cached, strategy, seed=3), 16)
    assert sorted(rendered) == list(range(16))  # the second epoch came from the cache
    expected = sorted(render(index)[0].tobytes() for index in range(16))
    epochs = [np.concatenate(stream[:8]), np.concatenate(stream[8:])]
    for epoch in epochs:
        # Letterboxing a 64 px image to 64 px leaves the pixels as they were.
        assert sorted(image.astype(np.uint8).tobytes() for image in epoch) == expected
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled
    again = batches(build_train_input(loader, cached, strategy, seed=3), 16)
    np.testing.assert_array_equal(np.concatenate(again), np.concatenate(stream))  # seeded
