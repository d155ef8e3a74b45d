"""Common part of the loaders that index image files with their annotations up front.

COCO JSON, VOC XML and CSV loaders parse their annotation files at construction, validate
every image (file present, header readable, size consistent, boxes and classes valid) and
keep a list of `AnnotationRecord`s. The tf.data pipeline is built from that list: a
(shuffled) index, then a parallel map that reads and decodes the file and slices the
image's boxes out of flat arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf

from keras_retinanet.data._annotation_checks import (
    IMAGE_SIZE_MISMATCH,
    DataProblem,
    object_areas,
    validate_objects,
)
from keras_retinanet.data._image_codec import decode_rgb_image, read_image_file_size
from keras_retinanet.data.annotation_record import AnnotationRecord
from keras_retinanet.data.detection_dataset import DetectionDataset

logger = logging.getLogger(__name__)


class ImageFileDataset(DetectionDataset):
    """A `DetectionDataset` over image files indexed at construction.

    Subclasses parse their format, call `_index_image()` for each image inside a
    `try: ... except DataProblem` that hands the problem to `_reject()`, then call
    `_set_records()` once.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        category_ids: Sequence[int] | None,
        on_error: str,
    ) -> None:
        super().__init__(class_names, category_ids, on_error)
        self._records: list[AnnotationRecord] = []

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> Iterator[AnnotationRecord]:
        return iter(self._records)

    def as_dataset(self, shuffle: bool = False, seed: int | None = None) -> tf.data.Dataset:
        records = self._records
        paths = tf.constant([r.file for r in records] or [""], dtype=tf.string)
        image_ids = tf.constant([r.image_id for r in records] or [0], dtype=tf.int64)
        sizes = tf.constant([[r.height, r.width] for r in records] or [[0, 0]], dtype=tf.int32)
        row_splits = tf.constant(np.cumsum([0] + [r.num_objects for r in records]), dtype=tf.int64)
        flat_boxes = tf.constant(_concat([r.boxes for r in records], (0, 4), np.float32))
        flat_classes = tf.constant(_concat([r.classes for r in records], (0,), np.int32))
        flat_crowd = tf.constant(_concat([r.is_crowd for r in records], (0,), np.bool_))

        def load(index: tf.Tensor) -> dict[str, tf.Tensor]:
            path = paths[index]
            image = decode_rgb_image(tf.io.read_file(path))
            size_ok = tf.reduce_all(tf.equal(tf.shape(image)[:2], sizes[index]))
            check = tf.debugging.Assert(
                size_ok,
                ["decoded image size differs from its header:", path, tf.shape(image)],
            )
            with tf.control_dependencies([check]):
                image = tf.identity(image)
            start, stop = row_splits[index], row_splits[index + 1]
            return {
                "image": image,
                "boxes": flat_boxes[start:stop],
                "classes": flat_classes[start:stop],
                "is_crowd": flat_crowd[start:stop],
                "image_id": image_ids[index],
            }

        indices = self._image_indices(len(records), shuffle, seed)
        return indices.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def _index_image(
        self,
        path: str,
        image_id: int,
        boxes_yxyx: np.ndarray,
        classes: np.ndarray,
        is_crowd: np.ndarray,
        object_names: Sequence[str] | None = None,
        height: int | None = None,
        width: int | None = None,
        area: np.ndarray | None = None,
    ) -> AnnotationRecord:
        """Validates one image and its objects.

        Args:
            path: Image file path.
            image_id: The image id.
            boxes_yxyx: float `[N, 4]` yxyx absolute pixels.
            classes: int `[N]` contiguous class ids.
            is_crowd: bool `[N]`.
            object_names: N names of the objects for messages.
            height: Height the annotations state, or None to take it from the file.
            width: Width the annotations state, or None to take it from the file.
            area: float `[N]` object areas from the annotations (NaN: none given), or None
                for the box areas.

        Returns:
            The validated record, boxes clipped to the image.

        Raises:
            DataProblem: If the image or one of its objects is unusable.
        """
        file_height, file_width = read_image_file_size(path)
        if (height is not None and height != file_height) or (
            width is not None and width != file_width
        ):
            raise DataProblem(
                IMAGE_SIZE_MISMATCH,
                f"annotations give the image size as {height}x{width} (height x width) but "
                f"{path} is {file_height}x{file_width}",
            )
        boxes = validate_objects(
            boxes_yxyx, classes, file_height, file_width, self.num_classes, object_names
        )
        return AnnotationRecord(
            image_id=int(image_id),
            file=path,
            height=file_height,
            width=file_width,
            boxes=boxes,
            classes=np.asarray(classes, dtype=np.int32).reshape(-1),
            is_crowd=np.asarray(is_crowd, dtype=np.bool_).reshape(-1),
            area=object_areas(area, boxes),
        )

    def _set_records(self, records: list[AnnotationRecord], source: str) -> None:
        """Stores the validated records and logs what was skipped.

        Args:
            records: The records kept, in the loader's order.
            source: The annotation file or folder, for messages.

        Raises:
            ValueError: If two records share an image id.
        """
        seen: dict[int, str | None] = {}
        for record in records:
            if record.image_id in seen:
                raise ValueError(
                    f"{source}: image id {record.image_id} is used by both "
                    f"{seen[record.image_id]} and {record.file}"
                )
            seen[record.image_id] = record.file
        self._records = records
        if self.skipped:
            logger.warning("%s (%d images kept from %s)", self.skip_report(), len(records), source)


def _concat(arrays: list[np.ndarray], empty_shape: tuple[int, ...], dtype: type) -> np.ndarray:
    if not arrays:
        return np.zeros(empty_shape, dtype=dtype)
    return np.concatenate(arrays).astype(dtype, copy=False)
