"""Turns a `DatasetSpec` into the matching dataset loader of `keras_retinanet.data`."""

from __future__ import annotations

import json
import os

from keras_retinanet.data import (
    CocoJsonDataset,
    CsvDataset,
    DetectionDataset,
    ShapesDataset,
    TfdsDataset,
    TFRecordDataset,
    VocXmlDataset,
)
from keras_retinanet.training.train_config import (
    FORMAT_COCO_JSON,
    FORMAT_CSV,
    FORMAT_SHAPES,
    FORMAT_TFDS,
    FORMAT_TFRECORD,
    FORMAT_VOC,
    DatasetSpec,
)


def read_class_names(path: str) -> list[str]:
    """Class names from a text file (one per line) or a JSON list.

    Args:
        path: `.json` holding a list of names, or any other file with one name per line
            (blank lines ignored).

    Returns:
        The names in file order.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Class name file {path} does not exist.")
    with open(path, encoding="utf-8") as file:
        if path.endswith(".json"):
            names = json.load(file)
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"{path} must hold a JSON list of class names.")
            return names
        return [line.strip() for line in file if line.strip()]


def read_label_map(path: str) -> dict[int, str]:
    """A TFRecord label map: a JSON object of category id -> class name (`{"1": "cat"}`)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Label map file {path} does not exist.")
    with open(path, encoding="utf-8") as file:
        mapping = json.load(file)
    if not isinstance(mapping, dict) or not mapping:
        raise ValueError(f'{path} must hold a JSON object such as {{"1": "cat", "2": "dog"}}.')
    try:
        return {int(key): str(name) for key, name in mapping.items()}
    except ValueError:
        raise ValueError(f"{path}: label map keys must be integer category ids.") from None


def build_loader(spec: DatasetSpec) -> DetectionDataset:
    """The loader `spec` describes (see `DatasetSpec` for the fields of each format).

    Args:
        spec: the split's `DatasetSpec`.

    Returns:
        A `DetectionDataset`; nothing is downloaded (TFDS data must be prepared).

    Raises:
        FileNotFoundError / ValueError: from the loader, naming the missing or bad file.
    """
    if spec.format == FORMAT_SHAPES:
        return ShapesDataset(spec.num_images, image_size=spec.image_size, seed=spec.seed)
    if spec.format == FORMAT_COCO_JSON:
        return CocoJsonDataset(spec.path, spec.image_dir, on_error=spec.on_error)
    if spec.format == FORMAT_VOC:
        if spec.classes_file is None:
            return VocXmlDataset(spec.path, spec.split, on_error=spec.on_error)
        names = read_class_names(spec.classes_file)
        return VocXmlDataset(spec.path, spec.split, class_names=names, on_error=spec.on_error)
    if spec.format == FORMAT_CSV:
        return CsvDataset(
            spec.path, spec.classes_file, base_dir=spec.image_dir, on_error=spec.on_error
        )
    if spec.format == FORMAT_TFDS:
        return TfdsDataset(
            spec.path, spec.split, data_dir=spec.tfds_data_dir, on_error=spec.on_error
        )
    if spec.format == FORMAT_TFRECORD:
        return TFRecordDataset(spec.path, read_label_map(spec.classes_file), on_error=spec.on_error)
    raise ValueError(f"Unknown dataset format {spec.format!r}.")
