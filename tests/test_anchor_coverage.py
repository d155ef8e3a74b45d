"""Anchor coverage: golden boxes on a one-level 16 px anchor grid, with the IoUs by hand."""

import math

import numpy as np
import pytest

from keras_retinanet.data import AnnotationRecord
from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.ops import AnchorGenerator
from keras_retinanet.training.anchor_coverage import (
    STATUS_LOW_QUALITY_ONLY,
    STATUS_OK,
    STATUS_UNMATCHED,
    analyze_anchor_coverage,
    describe_anchors,
)

# One level, stride 8, one 16 x 16 anchor per cell: anchor (i, j) is
# [8i - 4, 8j - 4, 8i + 12, 8j + 12] (centre (8i + 4, 8j + 4)).
GENERATOR = AnchorGenerator(strides=[8], sizes=[16.0], scales=[1.0], aspect_ratios=[1.0])
RESIZE = ResizeConfig(mode="letterbox", size=64)


def record(image_id, size, boxes, crowd=None):
    boxes = np.asarray(boxes, np.float32)
    count = boxes.shape[0]
    return AnnotationRecord(
        image_id=image_id,
        file=None,
        height=size,
        width=size,
        boxes=boxes,
        classes=np.zeros([count], np.int32),
        is_crowd=np.asarray(crowd if crowd is not None else [False] * count),
        area=np.ones([count], np.float32),
    )


@pytest.fixture(scope="module")
def report():
    records = [
        # A equals anchor (1, 1): IoU 1. B (12 x 12, same centre) has IoU 144 / 256 = 0.5625
        # with that anchor only, but A (IoU 1) takes it, in the bands and as a low-quality
        # claim: B gets nothing. C (4 x 4) lies inside anchors (3, 3), (3, 4), (4, 3), (4, 4),
        # IoU 16 / 256 = 0.0625 with each: low-quality only, 4 anchors.
        record(1, 64, [[4, 4, 20, 20], [6, 6, 18, 18], [30, 30, 34, 34]]),
        # D covers the image: the 36 anchors inside it tie at 256 / 4096 = 0.0625.
        record(2, 64, [[0, 0, 64, 64]]),
        # 128 px letterboxed to 64: scale 0.5, so [8, 8, 40, 40] becomes A again. The crowd
        # region is not a box to match.
        record(3, 128, [[8, 8, 40, 40], [60, 60, 120, 120]], crowd=[False, True]),
    ]
    return analyze_anchor_coverage(records, GENERATOR, RESIZE, 0.5, 0.4, description="golden")


def test_per_box_results(report):
    got = [
        (b.image_id, b.box_yxyx, b.status, b.strict_positives, b.positives) for b in report.boxes
    ]
    assert got == [
        (1, (4.0, 4.0, 20.0, 20.0), STATUS_OK, 1, 1),
        (1, (6.0, 6.0, 18.0, 18.0), STATUS_UNMATCHED, 0, 0),
        (1, (30.0, 30.0, 34.0, 34.0), STATUS_LOW_QUALITY_ONLY, 0, 4),
        (2, (0.0, 0.0, 64.0, 64.0), STATUS_LOW_QUALITY_ONLY, 0, 36),
        (3, (4.0, 4.0, 20.0, 20.0), STATUS_OK, 1, 1),
    ]
    np.testing.assert_allclose(
        [b.best_iou for b in report.boxes], [1.0, 0.5625, 0.0625, 0.0625, 1.0], rtol=1e-6
    )
    assert [b.size_px for b in report.boxes] == [16.0, 12.0, 4.0, 64.0, 16.0]
    assert report.images == 3


def test_size_buckets(report):
    buckets = {b.label: b for b in report.buckets() if b.boxes}
    assert sorted(buckets) == ["16-32", "64-128", "<16"]
    small = buckets["<16"]  # B (12 px) and C (4 px)
    assert (small.boxes, small.low_quality_only, small.unmatched, small.below_threshold) == (
        2,
        1,
        1,
        2,
    )
    assert math.isclose(small.median_best_iou, (0.5625 + 0.0625) / 2)
    assert (buckets["16-32"].boxes, buckets["16-32"].below_threshold) == (2, 0)
    assert (buckets["64-128"].boxes, buckets["64-128"].low_quality_only) == (1, 1)


def test_table_and_dict(report):
    table = report.format_table()
    assert table.splitlines()[0] == "golden"
    assert "3 images, 5 boxes" in table
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[4:]}
    assert rows["<16"] == ["2", "2", "(100.0%)", "1", "(50.0%)", "1", "(50.0%)", "0.31"]
    assert table.splitlines()[-1].split()[:2] == ["all", "5"]
    as_dict = report.to_dict()
    assert [b["status"] for b in as_dict["boxes"]].count(STATUS_UNMATCHED) == 1
    assert describe_anchors(GENERATOR, RESIZE).startswith("anchors: sizes 16 on strides 8;")
