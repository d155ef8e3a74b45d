"""Helpers shared by the dataset loader tests (imported explicitly; not a pytest conftest)."""

from __future__ import annotations

import os

import numpy as np
import PIL.Image
import tensorflow as tf

from keras_retinanet.data import ELEMENT_SPEC, DetectionDataset


def write_image(path: str, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Writes a random RGB image (format from the extension) and returns its uint8 pixels.

    JPEG is lossy: for `.jpg` the returned pixels are those given to the encoder.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    PIL.Image.fromarray(pixels).save(path)
    return pixels


def elements(dataset: tf.data.Dataset) -> list[dict[str, np.ndarray]]:
    """All elements of a loader's tf.data pipeline as numpy dicts."""
    return list(dataset.as_numpy_iterator())


def assert_element_spec(dataset: tf.data.Dataset) -> None:
    """The pipeline's element spec is the loaders' contract (dtypes and ranks)."""
    assert set(dataset.element_spec) == set(ELEMENT_SPEC)
    for key, spec in ELEMENT_SPEC.items():
        actual = dataset.element_spec[key]
        assert actual.dtype == spec.dtype, key
        assert actual.shape.rank == spec.shape.rank, key
        assert spec.shape.is_compatible_with(actual.shape), key


def assert_records_match_elements(loader: DetectionDataset, items: list[dict]) -> None:
    """`records()` describes exactly the elements `as_dataset()` yields, in the same order."""
    records = list(loader.records())
    assert len(records) == len(items)
    for record, item in zip(records, items):
        assert record.image_id == item["image_id"]
        assert (record.height, record.width) == item["image"].shape[:2]
        np.testing.assert_array_equal(record.boxes, item["boxes"])
        np.testing.assert_array_equal(record.classes, item["classes"])
        np.testing.assert_array_equal(record.is_crowd, item["is_crowd"])
        assert record.area.shape == record.classes.shape
