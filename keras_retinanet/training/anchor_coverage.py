"""Which ground-truth boxes get a positive anchor, per object size (a common cause of 0 mAP).

For every image the boxes are resized exactly as the input pipeline resizes them
(`ResizeConfig`), the anchors are made for the padded network input, and the model's
`BoxMatcher` assigns anchors twice: with the IoU bands only (`allow_low_quality_matches`
off) and with low-quality matches on. Each (non-crowd) box is then

* "ok": at least one anchor is positive for it at IoU >= the foreground threshold;
* "low-quality only": none is, but the low-quality rule gives it its best anchor(s) (it
  trains on anchors with IoU below the threshold, e.g. 0.2, and its box regression starts
  far from the object);
* "unmatched": no positive anchor at all (its best IoU is 0, or every anchor it would claim
  is taken by a box with a higher IoU): the detector never learns it.

Boxes are grouped by their size `sqrt(area)` in network-input pixels (`SIZE_BUCKET_EDGES_PX`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import numpy as np
import tensorflow as tf

from keras_retinanet.data.annotation_record import AnnotationRecord
from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.data.resize_and_pad import compute_resized_size
from keras_retinanet.ops import AnchorGenerator, BoxMatcher
from keras_retinanet.ops.box_matcher import MATCH_POSITIVE
from keras_retinanet.ops.iou import pairwise_iou

# Bucket edges of sqrt(box area) in network-input pixels: <16, 16-32, ..., >=512.
SIZE_BUCKET_EDGES_PX = (16, 32, 64, 128, 256, 512)

STATUS_OK = "ok"
STATUS_LOW_QUALITY_ONLY = "low_quality_only"
STATUS_UNMATCHED = "unmatched"


@dataclasses.dataclass(frozen=True)
class BoxCoverage:
    """How one ground-truth box is matched.

    Attributes:
        image_id: the image's id.
        box_yxyx: the box in network-input pixels `(ymin, xmin, ymax, xmax)`.
        size_px: `sqrt(area)` of `box_yxyx`.
        best_iou: its highest IoU with any anchor.
        strict_positives: anchors positive for it with the IoU bands only.
        positives: anchors positive for it with low-quality matches on.
    """

    image_id: int
    box_yxyx: tuple[float, float, float, float]
    size_px: float
    best_iou: float
    strict_positives: int
    positives: int

    @property
    def status(self) -> str:
        """ "ok", "low_quality_only" or "unmatched" (see the module docstring)."""
        if self.strict_positives > 0:
            return STATUS_OK
        return STATUS_LOW_QUALITY_ONLY if self.positives > 0 else STATUS_UNMATCHED


@dataclasses.dataclass(frozen=True)
class SizeBucket:
    """Counts for the boxes of one size range.

    Attributes:
        label: e.g. "16-32".
        boxes: boxes in the range.
        low_quality_only: boxes positive only through the low-quality match.
        unmatched: boxes with no positive anchor at all.
        median_best_iou: median best anchor IoU (NaN without boxes).
    """

    label: str
    boxes: int
    low_quality_only: int
    unmatched: int
    median_best_iou: float

    @property
    def below_threshold(self) -> int:
        """Boxes without an anchor at IoU >= the foreground threshold."""
        return self.low_quality_only + self.unmatched


def _bucket_label(index: int, edges: Sequence[int]) -> str:
    if index == 0:
        return f"<{edges[0]}"
    if index == len(edges):
        return f">={edges[-1]}"
    return f"{edges[index - 1]}-{edges[index]}"


@dataclasses.dataclass(frozen=True)
class AnchorCoverageReport:
    """The coverage of every box, and what it was computed with.

    Attributes:
        boxes: one `BoxCoverage` per non-crowd ground-truth box.
        images: images analysed.
        foreground_iou_threshold: IoU of a positive anchor.
        description: the anchor and resize settings, for the report's header.
    """

    boxes: tuple[BoxCoverage, ...]
    images: int
    foreground_iou_threshold: float
    description: str

    def buckets(self, edges: Sequence[int] = SIZE_BUCKET_EDGES_PX) -> list[SizeBucket]:
        """Per size range: counts of boxes by status (empty ranges included)."""
        groups: list[list[BoxCoverage]] = [[] for _ in range(len(edges) + 1)]
        for box in self.boxes:
            groups[int(np.searchsorted(edges, box.size_px, side="right"))].append(box)
        return [
            SizeBucket(
                label=_bucket_label(index, edges),
                boxes=len(group),
                low_quality_only=sum(b.status == STATUS_LOW_QUALITY_ONLY for b in group),
                unmatched=sum(b.status == STATUS_UNMATCHED for b in group),
                median_best_iou=(
                    float(np.median([b.best_iou for b in group])) if group else math.nan
                ),
            )
            for index, group in enumerate(groups)
        ]

    def format_table(self, edges: Sequence[int] = SIZE_BUCKET_EDGES_PX) -> str:
        """A plain-text table of `buckets()` with a header and a total line."""
        threshold = self.foreground_iou_threshold
        lines = [
            self.description,
            f"{self.images} images, {len(self.boxes)} boxes (crowd regions excluded).",
            "",
            f"{'size (px)':>10} {'boxes':>7} {f'no anchor >= {threshold:g}':>18} "
            f"{'low-quality only':>17} {'unmatched':>10} {'median best IoU':>16}",
        ]
        for bucket in self.buckets(edges):
            if bucket.boxes == 0:
                continue
            lines.append(
                f"{bucket.label:>10} {bucket.boxes:>7} "
                f"{_count(bucket.below_threshold, bucket.boxes):>18} "
                f"{_count(bucket.low_quality_only, bucket.boxes):>17} "
                f"{_count(bucket.unmatched, bucket.boxes):>10} {bucket.median_best_iou:>16.2f}"
            )
        total = len(self.boxes)
        low = sum(b.status == STATUS_LOW_QUALITY_ONLY for b in self.boxes)
        unmatched = sum(b.status == STATUS_UNMATCHED for b in self.boxes)
        lines.append(
            f"{'all':>10} {total:>7} {_count(low + unmatched, total):>18} "
            f"{_count(low, total):>17} {_count(unmatched, total):>10}"
        )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The buckets and the per-box results, JSON-ready."""
        return {
            "description": self.description,
            "images": self.images,
            "foreground_iou_threshold": self.foreground_iou_threshold,
            "buckets": [
                {**dataclasses.asdict(b), "below_threshold": b.below_threshold}
                for b in self.buckets()
            ],
            "boxes": [{**dataclasses.asdict(b), "status": b.status} for b in self.boxes],
        }


def _count(part: int, total: int) -> str:
    return f"{part} ({100.0 * part / total:.1f}%)" if total else "0"


def _network_boxes(
    record: AnnotationRecord, resize: ResizeConfig
) -> tuple[np.ndarray, tuple[int, int]]:
    """The record's non-crowd boxes resized like the pipeline does, and the padded size."""
    original = tf.constant([record.height, record.width], tf.int32)
    resized = compute_resized_size(original, resize.target_scale(original))
    padded = resize.padded_size(resized).numpy()
    scale_yx = resized.numpy().astype(np.float64) / np.array([record.height, record.width])
    boxes = np.asarray(record.boxes, np.float64)[~np.asarray(record.is_crowd, bool)]
    boxes = boxes * np.tile(scale_yx, 2)
    boxes = np.minimum(np.maximum(boxes, 0.0), np.tile(resized.numpy(), 2))
    return boxes.astype(np.float32), (int(padded[0]), int(padded[1]))


def _positives_per_box(matcher: BoxMatcher, iou: tf.Tensor, num_boxes: int) -> np.ndarray:
    matched, labels = matcher(iou, tf.ones([num_boxes], tf.bool))
    positive = tf.equal(labels, MATCH_POSITIVE)
    counts = tf.math.bincount(
        tf.boolean_mask(matched, positive), minlength=num_boxes, maxlength=num_boxes
    )
    return counts.numpy()


def analyze_anchor_coverage(
    records: Iterable[AnnotationRecord],
    anchor_generator: AnchorGenerator,
    resize: ResizeConfig,
    foreground_iou_threshold: float = 0.5,
    background_iou_threshold: float = 0.4,
    description: str = "",
) -> AnchorCoverageReport:
    """Matches every record's boxes against the anchors (see the module docstring).

    Args:
        records: per-image ground truth (`DetectionDataset.records()`), boxes in original
            pixels.
        anchor_generator: the model's anchors.
        resize: the pipeline's resize.
        foreground_iou_threshold: IoU of a positive anchor.
        background_iou_threshold: IoU under which an anchor is negative.
        description: header line of the report.

    Returns:
        The `AnchorCoverageReport`.
    """
    strict = BoxMatcher(foreground_iou_threshold, background_iou_threshold, False)
    with_low_quality = BoxMatcher(foreground_iou_threshold, background_iou_threshold, True)
    anchors_by_size: dict[tuple[int, int], tf.Tensor] = {}
    results: list[BoxCoverage] = []
    images = 0
    for record in records:
        images += 1
        boxes, padded_size = _network_boxes(record, resize)
        if boxes.shape[0] == 0:
            continue
        if padded_size not in anchors_by_size:
            anchors_by_size[padded_size] = anchor_generator(*padded_size)
        iou = pairwise_iou(anchors_by_size[padded_size], tf.constant(boxes))  # [A, N]
        best = tf.reduce_max(iou, axis=0).numpy()
        strict_counts = _positives_per_box(strict, iou, boxes.shape[0])
        counts = _positives_per_box(with_low_quality, iou, boxes.shape[0])
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        for index, box in enumerate(boxes):
            results.append(
                BoxCoverage(
                    image_id=int(record.image_id),
                    box_yxyx=tuple(float(v) for v in box),
                    size_px=float(math.sqrt(max(float(areas[index]), 0.0))),
                    best_iou=float(best[index]),
                    strict_positives=int(strict_counts[index]),
                    positives=int(counts[index]),
                )
            )
    return AnchorCoverageReport(
        boxes=tuple(results),
        images=images,
        foreground_iou_threshold=foreground_iou_threshold,
        description=description,
    )


def describe_anchors(anchor_generator: AnchorGenerator, resize: ResizeConfig) -> str:
    """One line naming the anchor sizes, scales, ratios and the resize."""
    sizes = ", ".join(f"{s:g}" for s in anchor_generator.sizes)
    scales = ", ".join(f"{s:.3g}" for s in anchor_generator.scales)
    ratios = ", ".join(f"{r:g}" for r in anchor_generator.aspect_ratios)
    if resize.fixed_output_size is not None and resize.mode != "shorter_side":
        resize_text = f"{resize.mode} {resize.size}"
    else:
        resize_text = f"shorter side {resize.shorter_side}, longer <= {resize.max_longer_side}"
    return (
        f"anchors: sizes {sizes} on strides {', '.join(map(str, anchor_generator.strides))}; "
        f"scales {scales}; ratios (h/w) {ratios}; resize: {resize_text}"
    )
