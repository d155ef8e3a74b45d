"""Loader for a COCO-format JSON annotation file plus a folder of images."""

from __future__ import annotations

import collections
import json
import os
from typing import Any

import numpy as np

from keras_retinanet.data._annotation_checks import UNKNOWN_CLASS, DataProblem
from keras_retinanet.data._image_file_dataset import ImageFileDataset
from keras_retinanet.data.detection_dataset import ON_ERROR_RAISE


class CocoJsonDataset(ImageFileDataset):
    """COCO JSON (`images`, `annotations`, `categories`) with an image folder.

    The format most custom datasets are exported in. Mapping to the element contract:

    * categories are sorted by their id; contiguous class `c` is the c-th of them,
      `class_names[c]` its `name`, `category_ids[c]` its `id`;
    * `bbox` `[x, y, width, height]` (absolute pixels, top-left corner) becomes yxyx
      `(y, x, y + height, x + width)`;
    * `iscrowd: 1` annotations are kept with `is_crowd=True`;
    * the records' `area` is the annotations' `area` (COCO's segmentation area; the box
      area where an annotation has none);
    * every entry of `images` is an element, also those without annotations (N = 0), in
      the order of the file; `image_id` is the image's `id`;
    * the image file is `image_dir/<file_name>`; its size must match the JSON's `height`
      and `width` (when given).

    Args:
        annotation_file: Path of the JSON file.
        image_dir: Folder the `file_name`s are relative to.
        on_error: "raise" or "skip" (skips the whole image; see `detection_dataset`).

    Raises:
        FileNotFoundError: If the JSON file or image folder is missing, or (with "raise")
            an image file.
        ValueError: If the JSON is not COCO detection JSON (always), or (with "raise") an
            image or annotation is malformed; the message names the JSON file, the image id
            and file, and the annotation id.
    """

    def __init__(self, annotation_file: str, image_dir: str, on_error: str = ON_ERROR_RAISE):
        annotation_file = os.fspath(annotation_file)
        image_dir = os.fspath(image_dir)
        if not os.path.isfile(annotation_file):
            raise FileNotFoundError(f"COCO annotation file {annotation_file} does not exist")
        if not os.path.isdir(image_dir):
            raise FileNotFoundError(f"image folder {image_dir} does not exist")
        with open(annotation_file, encoding="utf-8") as file:
            try:
                coco = json.load(file)
            except json.JSONDecodeError as error:
                raise ValueError(f"{annotation_file} is not valid JSON: {error}") from None
        for key in ("images", "annotations", "categories"):
            if not isinstance(coco, dict) or not isinstance(coco.get(key), list):
                raise ValueError(f"{annotation_file}: no '{key}' list: not COCO detection JSON")

        categories = sorted(
            (_require(c, ("id", "name"), annotation_file, "category") for c in coco["categories"]),
            key=lambda c: int(c["id"]),
        )
        category_ids = [int(c["id"]) for c in categories]
        for field, values in (("id", category_ids), ("name", [c["name"] for c in categories])):
            repeated = sorted(str(v) for v, n in collections.Counter(values).items() if n > 1)
            if repeated:
                raise ValueError(f"{annotation_file}: category {field}s used twice: {repeated}")
        super().__init__([c["name"] for c in categories], category_ids, on_error)
        self._annotation_file = annotation_file
        self._image_dir = image_dir
        class_of_category = {cid: index for index, cid in enumerate(category_ids)}

        images = [
            _require(i, ("id", "file_name"), annotation_file, "image") for i in coco["images"]
        ]
        image_ids = [int(image["id"]) for image in images]
        repeated = sorted(i for i, n in collections.Counter(image_ids).items() if n > 1)
        if repeated:
            raise ValueError(f"{annotation_file}: image ids used twice: {repeated[:10]}")
        annotations_of_image: dict[int, list[dict[str, Any]]] = {i: [] for i in image_ids}
        for annotation in coco["annotations"]:
            annotation = _require(
                annotation, ("id", "image_id", "category_id", "bbox"), annotation_file, "annotation"
            )
            bbox = annotation["bbox"]
            if not (
                isinstance(bbox, list)
                and len(bbox) == 4
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
            ):
                raise ValueError(
                    f"{annotation_file}: annotation id {annotation['id']}: bbox {bbox!r} is not "
                    "[x, y, width, height]"
                )
            image_id = int(annotation["image_id"])
            if image_id not in annotations_of_image:
                raise ValueError(
                    f"{annotation_file}: annotation id {annotation['id']} refers to image id "
                    f"{image_id}, which is not in 'images'"
                )
            annotations_of_image[image_id].append(annotation)

        records = []
        for image in images:
            image_id = int(image["id"])
            path = os.path.join(image_dir, image["file_name"])
            where = f"{annotation_file}: image id {image_id} ({path})"
            annotations = annotations_of_image[image_id]
            try:
                x, y, w, h = (
                    np.array([a["bbox"] for a in annotations], dtype=np.float64).reshape(-1, 4).T
                )
                classes = np.array(
                    [self._class_id(a, class_of_category) for a in annotations], dtype=np.int32
                )
                records.append(
                    self._index_image(
                        path,
                        image_id,
                        np.stack([y, x, y + h, x + w], axis=1),
                        classes,
                        np.array([bool(a.get("iscrowd", 0)) for a in annotations], dtype=bool),
                        object_names=[f"annotation id {a['id']}" for a in annotations],
                        height=_optional_int(image.get("height")),
                        width=_optional_int(image.get("width")),
                        area=np.array([a.get("area", np.nan) for a in annotations], np.float64),
                    )
                )
            except DataProblem as problem:
                self._reject(where, problem)
        self._set_records(records, annotation_file)

    @property
    def annotation_file(self) -> str:
        """Path of the COCO JSON file."""
        return self._annotation_file

    @property
    def image_dir(self) -> str:
        """Folder the images' `file_name`s are relative to."""
        return self._image_dir

    @staticmethod
    def _class_id(annotation: dict[str, Any], class_of_category: dict[int, int]) -> int:
        category_id = int(annotation["category_id"])
        if category_id not in class_of_category:
            raise DataProblem(
                UNKNOWN_CLASS,
                f"annotation id {annotation['id']}: category_id {category_id} is not in "
                f"'categories' (ids {sorted(class_of_category)})",
            )
        return class_of_category[category_id]


def _require(entry: Any, keys: tuple[str, ...], source: str, kind: str) -> dict[str, Any]:
    """Checks that a JSON entry is an object with the given keys."""
    if not isinstance(entry, dict):
        raise ValueError(f"{source}: {kind} entry {entry!r} is not a JSON object")
    missing = [key for key in keys if key not in entry]
    if missing:
        raise ValueError(
            f"{source}: {kind} {entry.get('id', entry)!r} lacks the key(s) {', '.join(missing)}"
        )
    return entry


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
