"""The per-image ground-truth record every loader can list without decoding pixels."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class AnnotationRecord(Mapping):
    """Ground truth of one image, as returned by `DetectionDataset.records()`.

    The boxes, classes and crowd flags are those of the matching `as_dataset()` element,
    after validation and clipping. A record is also a read-only mapping of its field names
    (`record["boxes"]`, `dict(record)`), the form the COCO ground-truth builder takes.

    Attributes:
        image_id: The image's id (the same int64 as the element's `image_id`).
        file: Path of the image file, or None where the image is not a file of its own
            (generated images, TFRecord and TFDS examples).
        height: Image height in pixels.
        width: Image width in pixels.
        boxes: float32 `[N, 4]`, yxyx `(ymin, xmin, ymax, xmax)` in absolute pixels of the
            image's own coordinates (continuous: pixel `(r, c)` covers `[r, r + 1) x
            [c, c + 1)`, so a box around the whole image is `(0, 0, height, width)`).
        classes: int32 `[N]`, contiguous 0-based class ids.
        is_crowd: bool `[N]`, True for regions to ignore in matching (COCO `iscrowd`,
            VOC `difficult`).
        area: float32 `[N]`, the object areas COCO evaluation sorts into small / medium /
            large: the dataset's own area where the format has one (COCO's segmentation
            area, TFRecord `image/object/area`, the shapes' visible pixel count), otherwise
            the box area.
    """

    image_id: int
    file: str | None
    height: int
    width: int
    boxes: np.ndarray
    classes: np.ndarray
    is_crowd: np.ndarray
    area: np.ndarray

    @property
    def num_objects(self) -> int:
        """Number of objects N (crowd regions included)."""
        return int(self.classes.shape[0])

    def __getitem__(self, key: str) -> Any:
        if key not in _FIELD_NAMES:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELD_NAMES)

    def __len__(self) -> int:
        return len(_FIELD_NAMES)

    # Records hold arrays: compare them field by field, not with `==`.
    __eq__ = object.__eq__
    __hash__ = object.__hash__


_FIELD_NAMES = tuple(field.name for field in dataclasses.fields(AnnotationRecord))
