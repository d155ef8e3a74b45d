"""Validation rules shared by all loaders: the problems a sample can have and the box checks.

Every loader reports a bad sample as a `DataProblem` with one of the reason names below;
`DetectionDataset` then raises or skips it according to the user's `on_error`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Reasons a sample is rejected (the keys of `DetectionDataset.skipped`).
MISSING_IMAGE = "missing_image"
UNREADABLE_IMAGE = "unreadable_image"
IMAGE_SIZE_MISMATCH = "image_size_mismatch"
BOX_OUTSIDE_IMAGE = "box_outside_image"
INVERTED_BOX = "inverted_box"
EMPTY_BOX = "empty_box"
UNKNOWN_CLASS = "unknown_class"
MALFORMED_RECORD = "malformed_record"

# A box may stick out of the image by this much (rounding in the annotation tool); it is
# clipped to the image. Anything further out is an error.
BOX_CLIP_TOLERANCE_PX = 1.0


class DataProblem(Exception):
    """A sample that cannot be used as it is.

    Args:
        reason: One of the reason names of this module.
        message: What is wrong, naming the object (annotation id, line, object index) but
            not the file: the caller prefixes where the sample comes from.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def validate_objects(
    boxes_yxyx: np.ndarray,
    classes: np.ndarray,
    height: int,
    width: int,
    num_classes: int,
    object_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Checks the objects of one image and clips boxes that stick out by rounding.

    Rules, in this order, for each object: the class id is in `[0, num_classes)`; the
    coordinates are finite; the box is not inverted (`ymax < ymin` or `xmax < xmin`); no side
    lies more than `BOX_CLIP_TOLERANCE_PX` outside the image; after clipping to the image the
    box has a positive height and width.

    Args:
        boxes_yxyx: float `[N, 4]`, yxyx absolute pixels.
        classes: int `[N]`, contiguous class ids.
        height: Image height in pixels.
        width: Image width in pixels.
        num_classes: Number of classes K.
        object_names: N names used in messages (e.g. "annotation id 12", "line 7"); by
            default "object <k>".

    Returns:
        float32 `[N, 4]`: the boxes clipped to `[0, height] x [0, width]`.

    Raises:
        DataProblem: For the first object that breaks a rule.
    """
    boxes = np.asarray(boxes_yxyx, dtype=np.float64).reshape(-1, 4)
    classes = np.asarray(classes).reshape(-1)
    if boxes.shape[0] != classes.shape[0]:
        raise DataProblem(
            MALFORMED_RECORD, f"{boxes.shape[0]} boxes but {classes.shape[0]} class labels"
        )

    def name(index: int) -> str:
        return object_names[index] if object_names is not None else f"object {index}"

    bad_class = np.flatnonzero((classes < 0) | (classes >= num_classes))
    if bad_class.size:
        k = int(bad_class[0])
        raise DataProblem(
            UNKNOWN_CLASS,
            f"{name(k)}: class id {int(classes[k])} is not in [0, {num_classes})",
        )
    bad_value = np.flatnonzero(~np.all(np.isfinite(boxes), axis=1))
    if bad_value.size:
        k = int(bad_value[0])
        raise DataProblem(MALFORMED_RECORD, f"{name(k)}: box {_fmt(boxes[k])} is not finite")
    inverted = np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
    if inverted.size:
        k = int(inverted[0])
        raise DataProblem(
            INVERTED_BOX, f"{name(k)}: box {_fmt(boxes[k])} (ymin, xmin, ymax, xmax) is inverted"
        )
    limits = np.array([height, width, height, width], dtype=np.float64)
    overshoot = np.maximum(-boxes, boxes - limits)  # > 0 where a side lies outside
    outside = np.flatnonzero(np.max(overshoot, axis=1, initial=0.0) > BOX_CLIP_TOLERANCE_PX)
    if outside.size:
        k = int(outside[0])
        raise DataProblem(
            BOX_OUTSIDE_IMAGE,
            f"{name(k)}: box {_fmt(boxes[k])} (ymin, xmin, ymax, xmax) lies "
            f"{float(np.max(overshoot[k])):.2f} px outside the {height}x{width} image "
            f"(tolerance {BOX_CLIP_TOLERANCE_PX:g} px)",
        )
    clipped = np.clip(boxes, 0.0, limits)
    empty = np.flatnonzero((clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1]))
    if empty.size:
        k = int(empty[0])
        raise DataProblem(
            EMPTY_BOX,
            f"{name(k)}: box {_fmt(boxes[k])} (ymin, xmin, ymax, xmax) has zero area "
            f"inside the {height}x{width} image",
        )
    return clipped.astype(np.float32)


def _fmt(box: np.ndarray) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in box) + ")"


def box_areas(boxes_yxyx: np.ndarray) -> np.ndarray:
    """float32 `[N]` areas of yxyx boxes `[N, 4]`."""
    boxes = np.asarray(boxes_yxyx, dtype=np.float32).reshape(-1, 4)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def object_areas(areas: np.ndarray | None, boxes_yxyx: np.ndarray) -> np.ndarray:
    """float32 `[N]`: the given areas, or the box areas where none are given.

    Args:
        areas: `[N]` areas from the annotations, None or empty when the source has none;
            NaN entries (an annotation without area) fall back to the box area.
        boxes_yxyx: `[N, 4]` yxyx boxes.

    Raises:
        DataProblem: If `areas` is non-empty and not N long.
    """
    fallback = box_areas(boxes_yxyx)
    if areas is None or np.size(areas) == 0:
        return fallback
    areas = np.asarray(areas, dtype=np.float32).reshape(-1)
    if areas.shape != fallback.shape:
        raise DataProblem(
            MALFORMED_RECORD, f"{areas.size} object areas for {fallback.size} objects"
        )
    return np.where(np.isnan(areas), fallback, areas)
