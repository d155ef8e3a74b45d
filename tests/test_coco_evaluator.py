"""Tests for `CocoEvaluator` against pycocotools on hand-made detections with known AP.

COCO facts the expected values rest on:
* AP averages, over the 10 IoU thresholds 0.50, 0.55, ..., 0.95, the precision at the 101
  recall points 0.00, 0.01, ..., 1.00, where precision at recall r is the best precision
  reached at any recall >= r (0 if recall r is never reached).
* A detection matches a ground-truth box when IoU >= threshold.
* Areas: small <= 32^2 = 1024, medium 1024..9216 (= 96^2), large >= 9216.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_retinanet.evaluation import CocoEvaluator, build_coco_ground_truth
from keras_retinanet.evaluation.coco_evaluator import NO_GROUND_TRUTH

IMAGE_SIZE = 640
CLASS_NAMES = ["cat", "dog"]
CATEGORY_IDS = [17, 18]
PADDING_CLASS = -1
METRIC_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"]


def _image(image_id, boxes, classes, is_crowd=None, area=None):
    record = {
        "image_id": image_id,
        "height": IMAGE_SIZE,
        "width": IMAGE_SIZE,
        "boxes": np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        "classes": np.asarray(classes, dtype=np.int64),
    }
    if is_crowd is not None:
        record["is_crowd"] = np.asarray(is_crowd, dtype=bool)
    if area is not None:
        record["area"] = np.asarray(area, dtype=np.float64)
    return record


def _evaluator(records, **kwargs):
    ground_truth = build_coco_ground_truth(records, CLASS_NAMES, CATEGORY_IDS)
    return CocoEvaluator(ground_truth, CATEGORY_IDS, **kwargs)


def _add(evaluator, image_id, boxes, scores, classes):
    """Adds one image's detections as a batch of 1 (no padding)."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(1, -1, 4)
    num = boxes.shape[1]
    evaluator.update_state(
        image_ids=np.array([image_id]),
        boxes=boxes,
        scores=np.asarray(scores, dtype=np.float32).reshape(1, num),
        classes=np.asarray(classes, dtype=np.int32).reshape(1, num),
        num_detections=np.array([num]),
    )


# A 100 x 100 box (area 10000 > 9216: large).
GT_BOX = [100.0, 100.0, 200.0, 200.0]


def test_perfect_detections_score_one_and_padding_rows_are_ignored():
    records = [
        _image(1, [[10, 10, 30, 30], [100, 100, 160, 160]], [0, 1]),  # small 400, medium 3600.
        _image(2, [GT_BOX], [0]),  # large.
    ]
    evaluator = _evaluator(records)
    # Batch of 2 images, D = 4 rows. Image 1: 2 real rows, then a class -1 row and a row past
    # num_detections, both high-scoring boxes on nothing; they would be false positives
    # ranked above the true positives if they were read. Image 2: 1 real row.
    junk = [400.0, 400.0, 500.0, 500.0]
    evaluator.update_state(
        image_ids=np.array([1, 2]),
        boxes=np.array(
            [
                [[10, 10, 30, 30], [100, 100, 160, 160], junk, junk],
                [GT_BOX, junk, junk, junk],
            ],
            dtype=np.float32,
        ),
        scores=np.array([[0.8, 0.7, 0.99, 0.99], [0.6, 0.99, 0.99, 0.99]], dtype=np.float32),
        classes=np.array([[0, 1, PADDING_CLASS, 0], [0, 1, 1, 1]], dtype=np.int32),
        num_detections=np.array([3, 1]),
    )
    metrics = evaluator.result()
    assert set(metrics) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert metrics[name] == pytest.approx(1.0, abs=1e-6), name


@pytest.mark.parametrize(
    "shift, expected_ap",
    [
        # Shift x by 27: IoU = (100 - 27) * 100 / (2 * 10000 - 7300) = 7300 / 12700 = 0.575.
        # TP at thresholds 0.50 and 0.55 (AP there = 1), FP with the ground truth missed at
        # the other 8 (AP there = 0): AP = (1 + 1 + 8 * 0) / 10 = 0.2.
        (27.0, 0.2),
        # Shift x by 25: IoU = 7500 / 12500 = 0.6 exactly, and the 0.60 threshold is exactly
        # 0.6 too; COCO matches at IoU >= threshold, so this is a TP at 0.50, 0.55 AND 0.60:
        # AP = 3 / 10 = 0.3 (not 0.2).
        (25.0, 0.3),
    ],
)
def test_partial_overlap_counts_only_at_low_iou_thresholds(shift, expected_ap):
    evaluator = _evaluator([_image(1, [GT_BOX], [0])])
    y0, x0, y1, x1 = GT_BOX
    _add(evaluator, 1, [[y0, x0 + shift, y1, x1 + shift]], [0.9], [0])
    metrics = evaluator.result()
    assert metrics["AP"] == pytest.approx(expected_ap, abs=1e-6)
    assert metrics["AP50"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["AP75"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["APl"] == pytest.approx(expected_ap, abs=1e-6)
    # AR100 = mean recall over the 10 thresholds, the same fractions as AP here.
    assert metrics["AR100"] == pytest.approx(expected_ap, abs=1e-6)
    # No small or medium ground truth: pycocotools reports -1 for those ranges.
    assert metrics["APs"] == NO_GROUND_TRUTH
    assert metrics["APm"] == NO_GROUND_TRUTH


def test_false_positive_ranked_above_a_true_positive_lowers_precision():
    other_box = [300.0, 300.0, 400.0, 400.0]
    evaluator = _evaluator([_image(1, [GT_BOX, other_box], [0, 0])])
    # Ranked by score: TP (0.95), FP on empty ground (0.9), TP (0.8); 2 ground-truth boxes.
    #   recall    = [1/2, 1/2, 2/2], precision = [1/1, 1/2, 2/3]
    #   envelope (max precision at any recall >= r) = [1, 2/3, 2/3]
    #   recall points 0.00 .. 0.50 (51 points) -> 1; 0.51 .. 1.00 (50 points) -> 2/3
    #   AP = (51 * 1 + 50 * 2/3) / 101 = 84.333 / 101 = 0.834983
    # Every TP has IoU 1, so this holds at all 10 thresholds and AP = AP50 = AP75.
    _add(
        evaluator,
        1,
        [GT_BOX, [500.0, 500.0, 600.0, 600.0], other_box],
        [0.95, 0.9, 0.8],
        [0, 0, 0],
    )
    expected = (51 * 1.0 + 50 * 2.0 / 3.0) / 101
    metrics = evaluator.result()
    assert expected == pytest.approx(0.834983, abs=1e-6)
    for name in ("AP", "AP50", "AP75", "APl"):
        assert metrics[name] == pytest.approx(expected, abs=1e-6), name
    assert metrics["AR100"] == pytest.approx(1.0, abs=1e-6)


def test_crowd_region_absorbs_detections_without_false_positives():
    crowd_box = [300.0, 300.0, 600.0, 600.0]
    inside_crowd = [350.0, 350.0, 450.0, 450.0]
    # The detection inside the crowd region outranks the true positive. Against a crowd box
    # COCO's IoU is intersection / detection area = 1, so it matches the crowd and is ignored:
    # the only counted detection is the TP, AP = 1.
    with_crowd = _evaluator([_image(1, [GT_BOX, crowd_box], [0, 0], is_crowd=[False, True])])
    _add(with_crowd, 1, [inside_crowd, GT_BOX], [0.95, 0.9], [0, 0])
    assert with_crowd.result()["AP"] == pytest.approx(1.0, abs=1e-6)

    # Control: without the crowd annotation the same detection is a FP ranked first:
    # recall [0, 1], precision [0, 1/2] -> envelope [1/2, 1/2] -> AP = 0.5 at every threshold.
    without_crowd = _evaluator([_image(1, [GT_BOX], [0])])
    _add(without_crowd, 1, [inside_crowd, GT_BOX], [0.95, 0.9], [0, 0])
    assert without_crowd.result()["AP"] == pytest.approx(0.5, abs=1e-6)


def test_results_json_uses_original_category_ids_and_xywh(tmp_path):
    evaluator = _evaluator([_image(5, [GT_BOX], [1]), _image(6, [[10, 20, 50, 80]], [0])])
    evaluator.update_state(
        image_ids=np.array([5, 6]),
        boxes=np.array([[GT_BOX, GT_BOX], [[10, 20, 50, 80], GT_BOX]], dtype=np.float32),
        scores=np.array([[0.875, 0.5], [0.75, 0.25]], dtype=np.float32),  # Exact in float32.
        classes=np.array([[1, PADDING_CLASS], [0, 1]], dtype=np.int32),
        num_detections=np.array([2, 1]),
    )
    path = tmp_path / "nested" / "detections.json"
    evaluator.write_results_json(path)
    with open(path, encoding="utf-8") as file:
        results = json.load(file)
    # Class 1 -> category 18, class 0 -> category 17; yxyx [100, 100, 200, 200] -> xywh
    # [100, 100, 100, 100]; yxyx [10, 20, 50, 80] -> xywh [20, 10, 60, 40].
    assert results == [
        {"image_id": 5, "category_id": 18, "bbox": [100.0, 100.0, 100.0, 100.0], "score": 0.875},
        {"image_id": 6, "category_id": 17, "bbox": [20.0, 10.0, 60.0, 40.0], "score": 0.75},
    ]
    # Boxes matched to the right original category: perfect score.
    assert evaluator.result()["AP"] == pytest.approx(1.0, abs=1e-6)


def test_wrong_class_is_not_a_match():
    evaluator = _evaluator([_image(1, [GT_BOX], [0])])
    _add(evaluator, 1, [GT_BOX], [0.9], [1])  # Right box, class 1 instead of 0.
    assert evaluator.result()["AP"] == pytest.approx(0.0, abs=1e-6)


def test_ap_is_the_mean_over_categories():
    # Class 0 detected perfectly (AP 1); class 1 with IoU 0.575 (AP 0.2, as above).
    evaluator = _evaluator([_image(1, [GT_BOX, [300, 300, 400, 400]], [0, 1])])
    _add(evaluator, 1, [GT_BOX, [300, 327, 400, 427]], [0.9, 0.9], [0, 1])
    assert evaluator.result()["AP"] == pytest.approx((1.0 + 0.2) / 2, abs=1e-6)


def test_small_medium_large_split():
    small = [10.0, 10.0, 30.0, 30.0]  # 20 x 20 = 400 <= 1024.
    medium = [100.0, 100.0, 150.0, 150.0]  # 50 x 50 = 2500.
    large = [300.0, 300.0, 500.0, 500.0]  # 200 x 200 = 40000 >= 9216.
    evaluator = _evaluator([_image(1, [small, medium, large], [0, 0, 0])])
    _add(evaluator, 1, [small, large], [0.9, 0.8], [0, 0])  # The medium object is missed.
    metrics = evaluator.result()
    assert metrics["APs"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["APm"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["APl"] == pytest.approx(1.0, abs=1e-6)
    # All areas: recall [1/3, 2/3] at precision 1, so precision is 1 at the 67 recall points
    # 0.00 .. 0.66 and 0 at 0.67 .. 1.00: AP = 67 / 101 = 0.663366; AR100 = 2/3.
    assert metrics["AP"] == pytest.approx(67 / 101, abs=1e-6)
    assert metrics["AR100"] == pytest.approx(2 / 3, abs=1e-6)


def test_given_area_decides_the_split():
    # A 200 x 200 box whose (mask) area is given as 500: COCO files it as small.
    evaluator = _evaluator([_image(1, [[300, 300, 500, 500]], [0], area=[500.0])])
    _add(evaluator, 1, [[300, 300, 500, 500]], [0.9], [0])
    metrics = evaluator.result()
    assert metrics["APs"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["APl"] == NO_GROUND_TRUTH


def test_empty_predictions_give_zeros(tmp_path):
    small, medium = [10, 10, 30, 30], [100, 100, 150, 150]
    evaluator = _evaluator([_image(1, [small, medium, GT_BOX], [0, 1, 0]), _image(2, [], [])])
    zeros = {name: 0.0 for name in METRIC_NAMES}
    # Before any update every ground-truth image is evaluated, with no detection.
    assert evaluator.result() == zeros
    evaluator.update_state(
        image_ids=np.array([1, 2]),
        boxes=np.zeros([2, 3, 4], dtype=np.float32),
        scores=np.zeros([2, 3], dtype=np.float32),
        classes=np.full([2, 3], PADDING_CLASS, dtype=np.int32),
        num_detections=np.array([0, 0]),
    )
    assert evaluator.result() == zeros
    assert "Average Precision" in evaluator.summary_text()
    path = tmp_path / "empty.json"
    evaluator.write_results_json(path)
    assert json.loads(path.read_text()) == []


def test_only_images_passed_to_update_state_are_evaluated():
    evaluator = _evaluator([_image(1, [GT_BOX], [0]), _image(2, [GT_BOX], [0])])
    _add(evaluator, 1, [GT_BOX], [0.9], [0])
    # Image 2 is never seen, so its object is not a miss.
    assert evaluator.result()["AP"] == pytest.approx(1.0, abs=1e-6)
    _add(evaluator, 2, np.zeros([0, 4]), [], [])
    # Now it is seen with no detection: recall 1/2 at precision 1 -> 51 / 101.
    assert evaluator.result()["AP"] == pytest.approx(51 / 101, abs=1e-6)


def test_reset_state_forgets_detections():
    evaluator = _evaluator([_image(1, [GT_BOX], [0])])
    _add(evaluator, 1, [GT_BOX], [0.9], [0])
    assert evaluator.result()["AP"] == pytest.approx(1.0, abs=1e-6)
    evaluator.reset_state()
    assert evaluator.detections() == []
    assert evaluator.result()["AP"] == 0.0
    _add(evaluator, 1, [GT_BOX], [0.9], [0])  # The same image may be added again.
    assert evaluator.result()["AP"] == pytest.approx(1.0, abs=1e-6)


def test_accepts_tensors_and_float_classes():
    evaluator = _evaluator([_image(1, [GT_BOX], [1])])
    evaluator.update_state(
        image_ids=tf.constant([1], dtype=tf.int64),
        boxes=tf.constant([[GT_BOX, GT_BOX]], dtype=tf.float32),
        scores=tf.constant([[0.9, 0.1]]),
        # TFLite's post-process emits classes as float32.
        classes=tf.constant([[1.0, -1.0]]),
        num_detections=tf.constant([1.0]),
    )
    assert evaluator.result()["AP"] == pytest.approx(1.0, abs=1e-6)
    assert evaluator.detections()[0]["category_id"] == 18


def test_pycocotools_is_silent_unless_verbose(capsys):
    evaluator = _evaluator([_image(1, [GT_BOX], [0])])
    _add(evaluator, 1, [GT_BOX], [0.9], [0])
    evaluator.result()
    assert capsys.readouterr().out == ""
    summary = evaluator.summary_text()
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000" in (
        summary
    )

    loud = _evaluator([_image(1, [GT_BOX], [0])], verbose=True)
    _add(loud, 1, [GT_BOX], [0.9], [0])
    loud.result()
    assert "Average Precision" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_ids": np.array([99])}, "not images of the ground truth"),
        ({"classes": np.array([[2]])}, "outside"),
        ({"num_detections": np.array([2])}, "num_detections"),
        ({"boxes": np.zeros([1, 1, 3])}, r"\[B, D, 4\]"),
        ({"scores": np.zeros([1, 2])}, "scores"),
        ({"image_ids": np.array([1, 1])}, "batch size"),
    ],
)
def test_update_state_rejects_invalid_input(kwargs, message):
    evaluator = _evaluator([_image(1, [GT_BOX], [0])])
    arguments = {
        "image_ids": np.array([1]),
        "boxes": np.array([[GT_BOX]], dtype=np.float32),
        "scores": np.array([[0.9]], dtype=np.float32),
        "classes": np.array([[0]], dtype=np.int32),
        "num_detections": np.array([1]),
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        evaluator.update_state(**arguments)


def test_update_state_rejects_an_image_added_twice():
    evaluator = _evaluator([_image(1, [GT_BOX], [0])])
    _add(evaluator, 1, [GT_BOX], [0.9], [0])
    with pytest.raises(ValueError, match="already added"):
        _add(evaluator, 1, [GT_BOX], [0.9], [0])


def test_rejects_category_ids_missing_from_ground_truth():
    ground_truth = build_coco_ground_truth([_image(1, [GT_BOX], [0])], CLASS_NAMES, CATEGORY_IDS)
    with pytest.raises(ValueError, match=r"\[99\]"):
        CocoEvaluator(ground_truth, [17, 99])
