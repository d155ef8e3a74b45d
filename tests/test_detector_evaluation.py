"""`evaluate_detector_on_elements`: COCO mAP of a one-image detector on loader elements."""

import numpy as np
import pytest

from keras_retinanet.export.detector_evaluation import evaluate_detector_on_elements

# One 200x200 image with one 100x100 box (area 10,000 > 96^2: "large" by box area).
BOX = np.array([[50.0, 50.0, 150.0, 150.0]], np.float32)


def _element(**extra):
    return {
        "image": np.zeros([200, 200, 3], np.uint8),
        "boxes": BOX,
        "classes": np.array([0], np.int32),
        "is_crowd": np.array([False]),
        "image_id": 7,
        **extra,
    }


def _perfect(image):
    return {
        "boxes": BOX[np.newaxis],
        "scores": np.array([[0.9]], np.float32),
        "classes": np.array([[0]], np.int32),
        "num_detections": np.array([1]),
    }


def _shifted(image):
    # IoU with BOX: overlap 100 x 80 = 8,000 over union 12,000 = 0.667 (>= 0.5, < 0.75).
    result = _perfect(image)
    result["boxes"] = (BOX + np.array([0.0, 20.0, 0.0, 20.0], np.float32))[np.newaxis]
    return result


def test_perfect_detection_scores_one_with_box_areas():
    metrics = evaluate_detector_on_elements(_perfect, [_element()], ["shape"])
    assert metrics["AP"] == pytest.approx(1.0)
    assert metrics["APl"] == pytest.approx(1.0)
    assert metrics["APs"] == metrics["APm"] == -1.0


def test_element_area_decides_the_size_split_like_training_evaluation():
    # A shape that covers 500 px^2 of its 100x100 box is a "small" object, as in COCO
    # (mask area) and in the evaluation callback of training.
    metrics = evaluate_detector_on_elements(
        _perfect, [_element(area=np.array([500.0], np.float32))], ["shape"]
    )
    assert metrics["APs"] == pytest.approx(1.0)
    assert metrics["APl"] == -1.0


def test_iou_067_counts_at_050_only():
    metrics = evaluate_detector_on_elements(_shifted, [_element()], ["shape"])
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP75"] == pytest.approx(0.0)
