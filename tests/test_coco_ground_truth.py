"""Tests for `build_coco_ground_truth`."""

import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO

from keras_retinanet.evaluation import build_coco_ground_truth

CLASS_NAMES = ["person", "car", "dog"]
CATEGORY_IDS = [1, 3, 18]  # Non-contiguous, like COCO's.


def _record(image_id=7, boxes=None, classes=None, **extra):
    record = {
        "image_id": image_id,
        "height": 480,
        "width": 640,
        "boxes": np.asarray(
            boxes if boxes is not None else [[10.0, 20.0, 50.0, 80.0], [0.0, 0.0, 100.0, 200.0]],
            dtype=np.float32,
        ),
        "classes": np.asarray(classes if classes is not None else [2, 0], dtype=np.int64),
    }
    record.update(extra)
    return record


def test_converts_boxes_classes_and_images():
    ground_truth = build_coco_ground_truth(
        [_record(is_crowd=np.array([False, True]))], CLASS_NAMES, CATEGORY_IDS
    )

    assert ground_truth["images"] == [{"id": 7, "height": 480, "width": 640}]
    assert ground_truth["categories"] == [
        {"id": 1, "name": "person"},
        {"id": 3, "name": "car"},
        {"id": 18, "name": "dog"},
    ]
    first, second = ground_truth["annotations"]
    # yxyx [10, 20, 50, 80] -> xywh [x=20, y=10, w=80-20=60, h=50-10=40], area 60 * 40 = 2400.
    assert first["bbox"] == [20.0, 10.0, 60.0, 40.0]
    assert first["area"] == 2400.0
    assert first["category_id"] == 18  # Class 2 -> CATEGORY_IDS[2].
    assert first["iscrowd"] == 0
    # yxyx [0, 0, 100, 200] -> xywh [0, 0, 200, 100], area 20000, class 0 -> id 1, crowd.
    assert second["bbox"] == [0.0, 0.0, 200.0, 100.0]
    assert second["area"] == 20000.0
    assert second["category_id"] == 1
    assert second["iscrowd"] == 1
    assert all(a["image_id"] == 7 for a in ground_truth["annotations"])


def test_annotation_ids_are_unique_and_start_at_one():
    # COCOeval reads a matched-annotation id of 0 as "unmatched", so ids must start at 1.
    ground_truth = build_coco_ground_truth(
        [_record(image_id=1), _record(image_id=2, boxes=np.zeros([0, 4]), classes=[]), _record(3)],
        CLASS_NAMES,
        CATEGORY_IDS,
    )
    assert [a["id"] for a in ground_truth["annotations"]] == [1, 2, 3, 4]
    assert [a["image_id"] for a in ground_truth["annotations"]] == [1, 1, 3, 3]
    assert [image["id"] for image in ground_truth["images"]] == [1, 2, 3]


def test_is_crowd_defaults_to_false_and_area_can_be_given():
    ground_truth = build_coco_ground_truth(
        [_record(area=np.array([123.0, 456.0]))], CLASS_NAMES, CATEGORY_IDS
    )
    assert [a["iscrowd"] for a in ground_truth["annotations"]] == [0, 0]
    assert [a["area"] for a in ground_truth["annotations"]] == [123.0, 456.0]


def test_result_is_indexable_by_pycocotools():
    ground_truth = build_coco_ground_truth(
        [_record(image_id=1), _record(image_id=2)], CLASS_NAMES, CATEGORY_IDS
    )
    coco = COCO()
    coco.dataset = ground_truth
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    assert coco.getImgIds() == [1, 2]
    assert coco.getCatIds() == CATEGORY_IDS
    assert len(coco.getAnnIds(imgIds=[2], catIds=[18])) == 1


@pytest.mark.parametrize(
    "record, message",
    [
        (_record(classes=[3, 0]), "outside"),
        (_record(classes=[-1, 0]), "outside"),
        ({**_record(), "classes": np.array([0.0, 1.0])}, "integers"),
        (_record(boxes=[[50.0, 20.0, 10.0, 80.0], [0.0, 0.0, 1.0, 1.0]]), "inverted"),
        (_record(boxes=[[10.0, 90.0, 50.0, 80.0], [0.0, 0.0, 1.0, 1.0]]), "inverted"),
        (_record(classes=[0]), "entries in 'classes'"),
        (_record(is_crowd=[True]), "entries in 'is_crowd'"),
        (_record(area=[1.0, 2.0, 3.0]), "entries in 'area'"),
        (_record(boxes=[[1.0, 2.0, 3.0]], classes=[0]), r"\[N, 4\]"),
        (_record(boxes=[[np.nan, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0]]), "non-finite"),
        (_record(height=0), "positive"),
        ({"height": 1, "width": 1, "boxes": [], "classes": []}, "image_id"),
        ({"image_id": 1, "height": 1, "width": 1, "classes": []}, "'boxes'"),
    ],
)
def test_rejects_invalid_records(record, message):
    with pytest.raises(ValueError, match=message):
        build_coco_ground_truth([record], CLASS_NAMES, CATEGORY_IDS)


def test_rejects_duplicate_image_ids():
    with pytest.raises(ValueError, match="Duplicate image_id 5"):
        build_coco_ground_truth([_record(5), _record(5)], CLASS_NAMES, CATEGORY_IDS)


def test_rejects_inconsistent_categories():
    with pytest.raises(ValueError, match="same classes"):
        build_coco_ground_truth([_record()], CLASS_NAMES, CATEGORY_IDS[:2])
    with pytest.raises(ValueError, match="unique"):
        build_coco_ground_truth([_record()], CLASS_NAMES, [1, 1, 2])
