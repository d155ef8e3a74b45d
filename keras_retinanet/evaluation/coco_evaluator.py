"""COCO box mAP of batched detections, computed by `pycocotools`.

Matching, interpolation and averaging are pycocotools' own (`COCOeval` with
`iouType="bbox"`); this module only converts batched, padded detections into COCO results and
reads the summary numbers back.
"""

import collections
import contextlib
import copy
import io
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from keras_retinanet.evaluation.coco_ground_truth import BOX_COORDINATES

# Position of each reported metric in `COCOeval.stats` (the 12 numbers `summarize()` prints):
# 0 AP@[.5:.95], 1 AP@.5, 2 AP@.75, 3-5 AP small/medium/large, 6-8 AR with 1/10/100
# detections per image, 9-11 AR@100 small/medium/large.
METRIC_STATS_INDEX = {
    "AP": 0,
    "AP50": 1,
    "AP75": 2,
    "APs": 3,
    "APm": 4,
    "APl": 5,
    "AR100": 8,
}

# pycocotools' value for a metric with no ground truth to score against (e.g. `APs` when no
# evaluated image has a small object).
NO_GROUND_TRUTH = -1.0

# Detection rows whose class is below this are padding (`classes == -1`).
FIRST_VALID_CLASS = 0

_BOX_DETECTIONS_NDIM = 3
_PER_DETECTION_NDIM = 2


def _to_numpy(value: Any) -> np.ndarray:
    """Converts a backend tensor, a NumPy array or a nested list to a NumPy array."""
    return np.asarray(keras.ops.convert_to_numpy(value))


class CocoEvaluator:
    """Accumulates detections over a dataset and scores them with COCO box mAP.

    Typical use:

    ```python
    evaluator = CocoEvaluator(ground_truth, category_ids)
    for batch in dataset:
        evaluator.update_state(image_ids, boxes_yxyx, scores, classes, num_detections)
    metrics = evaluator.result()  # {"AP": ..., "AP50": ..., ..., "AR100": ...}
    ```

    Only the images passed to `update_state` (with or without detections) are evaluated, so a
    subset of a large validation set gives that subset's mAP; before any update, every
    ground-truth image is evaluated (and every metric with ground truth is 0). A metric whose
    area range has no ground truth among the evaluated images is `NO_GROUND_TRUTH` (-1.0), as
    in pycocotools.

    Args:
        ground_truth: COCO-format dict with `images`, `annotations` and `categories` (e.g. from
            `build_coco_ground_truth`, or a loaded `instances_val2017.json`). Copied, not
            modified.
        category_ids: `[K]` original category id of each contiguous class index; detections of
            class `c` are reported as `category_ids[c]`. Every id must be a category of
            `ground_truth`; mAP is averaged over these categories.
        verbose: If True, pycocotools' progress messages and summary table are printed;
            otherwise they are captured (the table stays available from `summary_text()`).
    """

    def __init__(
        self,
        ground_truth: Mapping[str, Any],
        category_ids: Sequence[int],
        verbose: bool = False,
    ) -> None:
        for key in ("images", "annotations", "categories"):
            if key not in ground_truth:
                raise ValueError(f"ground_truth has no '{key}' list.")
        self._category_ids = np.asarray([int(c) for c in category_ids], dtype=np.int64)
        if self._category_ids.size == 0:
            raise ValueError("category_ids must name at least one category.")
        if len(set(self._category_ids.tolist())) != self._category_ids.size:
            raise ValueError(f"category_ids must be unique, got {self._category_ids.tolist()}.")
        known_categories = {int(c["id"]) for c in ground_truth["categories"]}
        unknown = sorted(set(self._category_ids.tolist()) - known_categories)
        if unknown:
            raise ValueError(f"category_ids {unknown} are not categories of the ground truth.")
        self.verbose = verbose

        self._coco_gt = COCO()
        self._coco_gt.dataset = copy.deepcopy(dict(ground_truth))
        with self._pycocotools_output():
            self._coco_gt.createIndex()
        self._ground_truth_image_ids = frozenset(int(i) for i in self._coco_gt.getImgIds())
        self.reset_state()

    @property
    def num_classes(self) -> int:
        """Number of contiguous classes (`len(category_ids)`)."""
        return int(self._category_ids.size)

    def reset_state(self) -> None:
        """Forgets every detection and evaluated image."""
        self._seen_image_ids: set[int] = set()
        self._image_id_chunks: list[np.ndarray] = []
        self._boxes_xywh_chunks: list[np.ndarray] = []
        self._score_chunks: list[np.ndarray] = []
        self._category_id_chunks: list[np.ndarray] = []
        self._metrics: dict[str, float] | None = None
        self._summary_text = ""

    def update_state(
        self,
        image_ids: Any,
        boxes: Any,
        scores: Any,
        classes: Any,
        num_detections: Any = None,
    ) -> None:
        """Adds one batch of detections.

        Rows `d >= num_detections[b]` and rows with `classes[b, d] < 0` (padding) are skipped.
        Every image of the batch counts as evaluated, even with no detection.

        Args:
            image_ids: int `[B]`, ids of ground-truth images; each image may be added once
                between resets.
            boxes: float `[B, D, 4]`, `yxyx` (`ymin, xmin, ymax, xmax`) in absolute pixels of
                the ORIGINAL image (see `rescale_detections`).
            scores: float `[B, D]`, detection confidences.
            classes: `[B, D]`, contiguous 0-based class indices, -1 for padding; ints, or
                floats holding integers (as TFLite's detection post-process emits).
            num_detections: int `[B]`, number of valid leading rows per image; None means all
                `D` rows (still filtered by class).

        Raises:
            ValueError: On inconsistent shapes, `num_detections` outside `[0, D]`, a class
                `>= K`, an image id that is not in the ground truth, or an image added twice.
        """
        image_ids_b = _to_numpy(image_ids).reshape(-1).astype(np.int64)
        boxes_yxyx = _to_numpy(boxes).astype(np.float64)
        scores_bd = _to_numpy(scores).astype(np.float64)
        classes_bd = _to_numpy(classes)
        batch_size = image_ids_b.shape[0]

        if boxes_yxyx.ndim != _BOX_DETECTIONS_NDIM or boxes_yxyx.shape[-1] != BOX_COORDINATES:
            raise ValueError(f"boxes must be shaped [B, D, 4], got {boxes_yxyx.shape}.")
        if boxes_yxyx.shape[0] != batch_size:
            raise ValueError(
                f"boxes has batch size {boxes_yxyx.shape[0]} but {batch_size} image_ids."
            )
        max_detections = boxes_yxyx.shape[1]
        expected = (batch_size, max_detections)
        for name, values in (("scores", scores_bd), ("classes", classes_bd)):
            if values.shape != expected:
                raise ValueError(f"{name} must be shaped [B, D] = {expected}, got {values.shape}.")
        if np.issubdtype(classes_bd.dtype, np.floating):
            classes_bd = np.rint(classes_bd)
        classes_bd = classes_bd.astype(np.int64)

        if num_detections is None:
            num_valid = np.full([batch_size], max_detections, dtype=np.int64)
        else:
            num_valid = _to_numpy(num_detections).reshape(-1).astype(np.int64)
            if num_valid.shape != (batch_size,):
                raise ValueError(
                    f"num_detections must be shaped [B] = [{batch_size}], got {num_valid.shape}."
                )
            if np.any((num_valid < 0) | (num_valid > max_detections)):
                raise ValueError(
                    f"num_detections must lie in [0, {max_detections}], got {num_valid.tolist()}."
                )

        unknown = sorted(set(image_ids_b.tolist()) - self._ground_truth_image_ids)
        if unknown:
            raise ValueError(f"image_ids {unknown} are not images of the ground truth.")
        batch_id_list = image_ids_b.tolist()
        counts = collections.Counter(batch_id_list)
        repeated = sorted({i for i in batch_id_list if i in self._seen_image_ids or counts[i] > 1})
        if repeated:
            raise ValueError(
                f"image_ids {repeated} were already added since the last reset_state(); "
                "evaluating an image twice would count its detections twice."
            )

        valid = (np.arange(max_detections)[None, :] < num_valid[:, None]) & (
            classes_bd >= FIRST_VALID_CLASS
        )
        too_large = classes_bd[valid] >= self.num_classes
        if np.any(too_large):
            raise ValueError(
                f"classes {sorted(set(classes_bd[valid][too_large].tolist()))} are outside "
                f"[0, {self.num_classes})."
            )

        self._seen_image_ids.update(batch_id_list)
        self._metrics = None
        kept_yxyx = boxes_yxyx[valid]
        ymin, xmin, ymax, xmax = (kept_yxyx[:, i] for i in range(BOX_COORDINATES))
        self._image_id_chunks.append(np.broadcast_to(image_ids_b[:, None], valid.shape)[valid])
        self._boxes_xywh_chunks.append(np.stack([xmin, ymin, xmax - xmin, ymax - ymin], axis=-1))
        self._score_chunks.append(scores_bd[valid])
        self._category_id_chunks.append(self._category_ids[classes_bd[valid]])

    def detections(self) -> list[dict[str, Any]]:
        """Returns the accumulated detections in COCO results format.

        Returns:
            `[{"image_id": int, "category_id": int (original id), "bbox": [x, y, w, h]
            (pixels of the original image), "score": float}]`.
        """
        if not self._image_id_chunks:
            return []
        image_ids = np.concatenate(self._image_id_chunks).tolist()
        boxes_xywh = np.concatenate(self._boxes_xywh_chunks).tolist()
        scores = np.concatenate(self._score_chunks).tolist()
        category_ids = np.concatenate(self._category_id_chunks).tolist()
        return [
            {"image_id": image_id, "category_id": category_id, "bbox": box, "score": score}
            for image_id, category_id, box, score in zip(
                image_ids, category_ids, boxes_xywh, scores, strict=True
            )
        ]

    def result(self) -> dict[str, float]:
        """Runs COCOeval over the evaluated images and returns the summary metrics.

        Returns:
            `{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"}` as Python floats in [0, 1],
            or `NO_GROUND_TRUTH` (-1.0) for a metric without ground truth. With no detection,
            every metric that has ground truth is 0.0.
        """
        if self._metrics is not None:
            return dict(self._metrics)
        results = self.detections()
        image_ids = sorted(self._seen_image_ids or self._ground_truth_image_ids)
        with self._pycocotools_output():
            coco_dt = self._coco_gt.loadRes(results) if results else self._empty_results()
            coco_eval = COCOeval(self._coco_gt, coco_dt, iouType="bbox")
            coco_eval.params.imgIds = image_ids
            coco_eval.params.catIds = sorted(self._category_ids.tolist())
            coco_eval.evaluate()
            coco_eval.accumulate()
        summary = io.StringIO()
        with contextlib.redirect_stdout(summary):
            coco_eval.summarize()
        self._summary_text = summary.getvalue()
        if self.verbose:
            sys.stdout.write(self._summary_text)
        self._metrics = {
            name: float(coco_eval.stats[index]) for name, index in METRIC_STATS_INDEX.items()
        }
        return dict(self._metrics)

    def summary_text(self) -> str:
        """Returns pycocotools' 12-line summary table of the current state (runs `result()`)."""
        self.result()
        return self._summary_text

    def write_results_json(self, path: str | os.PathLike) -> None:
        """Writes the accumulated detections as a COCO results JSON file.

        The file is a list of `{"image_id", "category_id", "bbox" (xywh pixels), "score"}`, the
        format `COCO.loadRes` and the COCO evaluation server read. Parent folders are created.

        Args:
            path: Destination file.
        """
        directory = os.path.dirname(os.fspath(path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.detections(), file)

    def _empty_results(self) -> COCO:
        """A results COCO object with no detection (`COCO.loadRes` fails on an empty list)."""
        coco_dt = COCO()
        coco_dt.dataset = {
            "images": list(self._coco_gt.dataset["images"]),
            "categories": copy.deepcopy(self._coco_gt.dataset["categories"]),
            "annotations": [],
        }
        coco_dt.createIndex()
        return coco_dt

    def _pycocotools_output(self) -> contextlib.AbstractContextManager:
        """Lets pycocotools print when verbose; swallows its progress messages otherwise."""
        if self.verbose:
            return contextlib.nullcontext()
        return contextlib.redirect_stdout(io.StringIO())
