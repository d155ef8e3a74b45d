"""How many positive anchors a variant's anchors give per image, and which boxes miss out."""

from __future__ import annotations

import itertools

from keras_retinanet.ablation.ablation_variant import AblationVariant
from keras_retinanet.ablation.variant_model import variant_anchor_generator
from keras_retinanet.data import DetectionDataset
from keras_retinanet.training.anchor_coverage import STATUS_OK, analyze_anchor_coverage
from keras_retinanet.training.train_config import TrainConfig

# Training images the anchors table counts positives on.
DEFAULT_IMAGES = 64
POSITIVES_PER_IMAGE = "positives_per_image"
BOXES_BELOW_THRESHOLD = "boxes_below_threshold"


def anchor_statistics(
    base: TrainConfig,
    variant: AblationVariant,
    loader: DetectionDataset,
    max_images: int = DEFAULT_IMAGES,
) -> dict[str, float]:
    """Positives per image and the share of boxes without an anchor at the IoU threshold.

    Uses the library's anchor coverage analysis (boxes resized like the input pipeline,
    low-quality matches as configured) on the first `max_images` images, without training.

    Args:
        base: the base config (resize, anchor base sizes, IoU thresholds).
        variant: gives the scales and aspect ratios.
        loader: the images (usually the training split).
        max_images: images analysed.

    Returns:
        `{"positives_per_image": mean positive anchors per image, "boxes_below_threshold":
        fraction of boxes with no anchor at IoU >= the foreground threshold}`.
    """
    model = base.model
    report = analyze_anchor_coverage(
        itertools.islice(loader.records(), max_images),
        variant_anchor_generator(model, variant),
        base.data.resize,
        foreground_iou_threshold=model.foreground_iou_threshold,
        background_iou_threshold=model.background_iou_threshold,
    )
    boxes = report.boxes
    positives = sum(
        box.positives if model.allow_low_quality_matches else box.strict_positives for box in boxes
    )
    below = sum(box.status != STATUS_OK for box in boxes)
    return {
        POSITIVES_PER_IMAGE: positives / max(report.images, 1),
        BOXES_BELOW_THRESHOLD: below / max(len(boxes), 1),
    }
