"""Dataset arguments of the tflite scripts: one string names a loader and its files.

Forms:

* `shapes:NUM_IMAGES[:IMAGE_SIZE[:SEED]]`  the generated `ShapesDataset`.
* `coco:ANNOTATIONS.json[:IMAGE_DIR]`      `CocoJsonDataset` (image folder default: the
  `images/` folder beside the JSON, the layout `ShapesDataset.write_coco` writes).
* `voc:ROOT[:IMAGE_SET]`                   `VocXmlDataset` (image set default "val").
* `csv:ANNOTATIONS.csv:CLASSES.csv`        `CsvDataset`.
* `images:FOLDER`                          every .jpg / .jpeg / .png / .bmp of a folder,
  without labels (calibration only).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import PIL.Image

from keras_retinanet.data import CocoJsonDataset, CsvDataset, ShapesDataset, VocXmlDataset
from keras_retinanet.data.detection_dataset import DetectionDataset

SHAPES, COCO, VOC, CSV, IMAGES = "shapes", "coco", "voc", "csv", "images"
KINDS = (SHAPES, COCO, VOC, CSV, IMAGES)
DEFAULT_SHAPES_IMAGE_SIZE = 256
DEFAULT_VOC_IMAGE_SET = "val"
COCO_IMAGE_FOLDER = "images"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
HELP = (
    "shapes:NUM[:SIZE[:SEED]] | coco:ANNOTATIONS.json[:IMAGE_DIR] | voc:ROOT[:IMAGE_SET] | "
    "csv:ANNOTATIONS.csv:CLASSES.csv"
)
CALIBRATION_HELP = HELP + " | images:FOLDER"


def parse_detection_dataset(spec: str) -> DetectionDataset:
    """Builds the labelled loader a spec names (every form but `images:`).

    Args:
        spec: see the module docstring.

    Returns:
        A `DetectionDataset`.

    Raises:
        ValueError: an unknown or malformed spec.
    """
    kind, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    if kind == SHAPES:
        if not 1 <= len(parts) <= 3:
            raise ValueError(f"Expected shapes:NUM[:SIZE[:SEED]]; got {spec!r}.")
        numbers = [int(p) for p in parts]
        size = numbers[1] if len(numbers) > 1 else DEFAULT_SHAPES_IMAGE_SIZE
        seed = numbers[2] if len(numbers) > 2 else 0
        return ShapesDataset(numbers[0], image_size=size, seed=seed)
    if kind == COCO:
        if not 1 <= len(parts) <= 2:
            raise ValueError(f"Expected coco:ANNOTATIONS.json[:IMAGE_DIR]; got {spec!r}.")
        image_dir = (
            parts[1]
            if len(parts) == 2
            else os.path.join(os.path.dirname(os.path.abspath(parts[0])), COCO_IMAGE_FOLDER)
        )
        return CocoJsonDataset(parts[0], image_dir)
    if kind == VOC:
        if not 1 <= len(parts) <= 2:
            raise ValueError(f"Expected voc:ROOT[:IMAGE_SET]; got {spec!r}.")
        image_set = parts[1] if len(parts) == 2 else DEFAULT_VOC_IMAGE_SET
        return VocXmlDataset(parts[0], image_set=image_set)
    if kind == CSV:
        if len(parts) != 2:
            raise ValueError(f"Expected csv:ANNOTATIONS.csv:CLASSES.csv; got {spec!r}.")
        return CsvDataset(parts[0], parts[1])
    raise ValueError(f"Unknown dataset {spec!r}; expected {HELP}.")


def calibration_images(spec: str) -> tuple[Iterator[np.ndarray], list[str] | None]:
    """Images for int8 calibration, and the class names when the data has labels.

    Args:
        spec: any form of the module docstring.

    Returns:
        `(iterator of uint8 [h, w, 3] RGB images, class names or None)`.
    """
    kind, _, folder = spec.partition(":")
    if kind != IMAGES:
        dataset = parse_detection_dataset(spec)
        elements = dataset.as_dataset().as_numpy_iterator()
        return (element["image"] for element in elements), dataset.class_names
    if not os.path.isdir(folder):
        raise ValueError(f"images:{folder} is not a folder.")
    files = sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.lower().endswith(IMAGE_SUFFIXES)
    )
    if not files:
        raise ValueError(f"No image ({', '.join(IMAGE_SUFFIXES)}) in {folder}.")
    return (read_rgb(path) for path in files), None


def read_rgb(path: str) -> np.ndarray:
    """uint8 `[h, w, 3]` RGB pixels of an image file."""
    with PIL.Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
