"""Builds a COCO-format ground-truth dict from per-image box records.

The dict is what `pycocotools.coco.COCO` indexes (its `dataset` attribute) and what
`CocoEvaluator` takes, so evaluation never needs the original annotation JSON: any loader that
yields image ids, sizes and boxes can be scored with the COCO protocol.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

# Number of coordinates per box (`ymin, xmin, ymax, xmax`).
BOX_COORDINATES = 4

# COCOeval treats an annotation id of 0 as "unmatched" (its match arrays are zero-initialised
# and store the matched annotation's id), so annotation ids must start at 1.
FIRST_ANNOTATION_ID = 1


def _as_array(record: Mapping[str, Any], key: str, image_id: int) -> np.ndarray:
    if key not in record:
        raise ValueError(f"Record for image_id={image_id} has no '{key}' field.")
    return np.asarray(record[key])


def build_coco_ground_truth(
    records: Iterable[Mapping[str, Any]],
    class_names: Sequence[str],
    category_ids: Sequence[int],
) -> dict[str, list[dict[str, Any]]]:
    """Builds a COCO ground-truth dict (`images`, `annotations`, `categories`).

    Each record describes one image:

    * `"image_id"`: int, unique over the records.
    * `"height"`, `"width"`: int, size of the ORIGINAL image in pixels.
    * `"boxes"`: float `[N, 4]`, `yxyx` (`ymin, xmin, ymax, xmax`) in absolute pixels of the
      original image, with `ymax >= ymin` and `xmax >= xmin`.
    * `"classes"`: int `[N]`, contiguous 0-based class indices in `[0, len(class_names))`.
    * `"is_crowd"` (optional, default all False): bool `[N]`; crowd regions absorb detections
      during evaluation instead of counting as objects to find.
    * `"area"` (optional, default box height * width): float `[N]`. COCO's own annotations
      carry the segmentation mask's area, which decides the small/medium/large split; pass it
      here to reproduce the official split exactly.

    Args:
        records: Iterable of per-image records as above.
        class_names: `[K]` display names of the contiguous classes.
        category_ids: `[K]` original dataset category id of each contiguous class (for COCO,
            the non-contiguous ids 1..90); `category_ids[c]` becomes the annotations'
            `category_id` for class `c`.

    Returns:
        A dict with
        `"images"`: `[{"id", "height", "width"}]`,
        `"annotations"`: `[{"id", "image_id", "category_id", "bbox", "area", "iscrowd"}]` with
        `bbox` in COCO `xywh` (`xmin, ymin, width, height`) pixels and ids starting at 1,
        `"categories"`: `[{"id", "name"}]`.

    Raises:
        ValueError: On mismatched `class_names` / `category_ids` lengths, duplicate category
            or image ids, boxes not shaped `[N, 4]`, per-object fields of unequal lengths,
            a class outside `[0, K)`, an inverted box, or a non-positive image size.
    """
    if len(class_names) != len(category_ids):
        raise ValueError(
            f"class_names has {len(class_names)} entries but category_ids has "
            f"{len(category_ids)}; they must describe the same classes."
        )
    if len(set(category_ids)) != len(category_ids):
        raise ValueError(f"category_ids must be unique, got {list(category_ids)}.")
    num_classes = len(category_ids)

    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    seen_image_ids: set[int] = set()
    next_annotation_id = FIRST_ANNOTATION_ID

    for record in records:
        if "image_id" not in record:
            raise ValueError("Every record needs an 'image_id' field.")
        image_id = int(record["image_id"])
        if image_id in seen_image_ids:
            raise ValueError(f"Duplicate image_id {image_id} in the records.")
        seen_image_ids.add(image_id)

        height = int(_as_array(record, "height", image_id))
        width = int(_as_array(record, "width", image_id))
        if height <= 0 or width <= 0:
            raise ValueError(
                f"image_id={image_id}: height and width must be positive, got "
                f"height={height}, width={width}."
            )
        images.append({"id": image_id, "height": height, "width": width})

        boxes_yxyx = _as_array(record, "boxes", image_id).astype(np.float64)
        if boxes_yxyx.size == 0:
            boxes_yxyx = boxes_yxyx.reshape(0, BOX_COORDINATES)
        if boxes_yxyx.ndim != 2 or boxes_yxyx.shape[1] != BOX_COORDINATES:
            raise ValueError(
                f"image_id={image_id}: boxes must be shaped [N, {BOX_COORDINATES}], got "
                f"{boxes_yxyx.shape}."
            )
        num_objects = boxes_yxyx.shape[0]

        classes = _as_array(record, "classes", image_id).reshape(-1)
        is_crowd = (
            np.asarray(record["is_crowd"]).reshape(-1).astype(bool)
            if "is_crowd" in record
            else np.zeros([num_objects], dtype=bool)
        )
        ymin, xmin, ymax, xmax = (boxes_yxyx[:, i] for i in range(BOX_COORDINATES))
        box_heights = ymax - ymin
        box_widths = xmax - xmin
        areas = (
            np.asarray(record["area"], dtype=np.float64).reshape(-1)
            if "area" in record
            else box_heights * box_widths
        )
        for name, values in (("classes", classes), ("is_crowd", is_crowd), ("area", areas)):
            if values.shape[0] != num_objects:
                raise ValueError(
                    f"image_id={image_id}: {num_objects} boxes but {values.shape[0]} "
                    f"entries in '{name}'."
                )
        if num_objects == 0:
            continue

        if not np.issubdtype(classes.dtype, np.integer):
            raise ValueError(
                f"image_id={image_id}: classes must be integers, got dtype {classes.dtype}."
            )
        out_of_range = (classes < 0) | (classes >= num_classes)
        if np.any(out_of_range):
            raise ValueError(
                f"image_id={image_id}: classes {classes[out_of_range].tolist()} are outside "
                f"[0, {num_classes})."
            )
        if not np.all(np.isfinite(boxes_yxyx)):
            raise ValueError(f"image_id={image_id}: boxes contain non-finite values.")
        inverted = (box_heights < 0) | (box_widths < 0)
        if np.any(inverted):
            raise ValueError(
                f"image_id={image_id}: inverted boxes (ymax < ymin or xmax < xmin, yxyx): "
                f"{boxes_yxyx[inverted].tolist()}."
            )

        for i in range(num_objects):
            annotations.append(
                {
                    "id": next_annotation_id,
                    "image_id": image_id,
                    "category_id": int(category_ids[int(classes[i])]),
                    "bbox": [
                        float(xmin[i]),
                        float(ymin[i]),
                        float(box_widths[i]),
                        float(box_heights[i]),
                    ],
                    "area": float(areas[i]),
                    "iscrowd": int(is_crowd[i]),
                }
            )
            next_annotation_id += 1

    categories = [
        {"id": int(category_id), "name": str(name)}
        for category_id, name in zip(category_ids, class_names, strict=True)
    ]
    return {"images": images, "annotations": annotations, "categories": categories}
