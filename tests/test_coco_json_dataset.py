"""Tests of the COCO JSON loader: remapping, crowd, empty images, malformed input."""

import json
import logging
import os

import numpy as np
import pytest
from conftest_data import (
    assert_element_spec,
    assert_records_match_elements,
    elements,
    write_image,
)

from keras_retinanet.data import CocoJsonDataset

# Image 10: 64 x 80 (h x w) with two objects, one crowd; image 20: 48 x 48, no annotations;
# image 30: 64 x 64 with one object.
IMAGES = [
    {"id": 10, "file_name": "a.png", "height": 64, "width": 80},
    {"id": 20, "file_name": "sub/b.png", "height": 48, "width": 48},
    {"id": 30, "file_name": "c.png", "height": 64, "width": 64},
]
# Category ids on purpose unsorted and non-contiguous: sorted they are 3, 7, 12.
CATEGORIES = [
    {"id": 12, "name": "zebra"},
    {"id": 3, "name": "cat"},
    {"id": 7, "name": "dog"},
]


def _annotations():
    return [
        # bbox [x, y, w, h] -> yxyx (y, x, y + h, x + w) = (5, 10, 25, 40).
        {"id": 1, "image_id": 10, "category_id": 7, "bbox": [10, 5, 30, 20], "area": 450.5},
        {"id": 2, "image_id": 10, "category_id": 12, "bbox": [0, 0, 80, 64], "iscrowd": 1},
        {"id": 3, "image_id": 30, "category_id": 3, "bbox": [1.5, 2.25, 10.5, 20], "iscrowd": 0},
    ]


def _write(folder, annotations=None, images=None, categories=None):
    pixels = {}
    for image in IMAGES:
        pixels[image["id"]] = write_image(
            os.path.join(folder, "images", image["file_name"]),
            image["height"],
            image["width"],
            seed=image["id"],
        )
    path = os.path.join(folder, "instances.json")
    with open(path, "w") as file:
        json.dump(
            {
                "images": IMAGES if images is None else images,
                "annotations": _annotations() if annotations is None else annotations,
                "categories": CATEGORIES if categories is None else categories,
            },
            file,
        )
    return path, os.path.join(folder, "images"), pixels


def test_reads_boxes_classes_crowd_and_empty_images(tmp_path):
    annotation_file, image_dir, pixels = _write(tmp_path)
    coco = CocoJsonDataset(annotation_file, image_dir)
    assert coco.class_names == ["cat", "dog", "zebra"]
    assert coco.category_ids == [3, 7, 12]
    assert coco.num_classes == 3
    assert len(coco) == 3
    dataset = coco.as_dataset()
    assert_element_spec(dataset)
    items = elements(dataset)
    assert [int(i["image_id"]) for i in items] == [10, 20, 30]

    first, empty, third = items
    np.testing.assert_array_equal(first["image"], pixels[10])
    np.testing.assert_array_equal(first["boxes"], [[5, 10, 25, 40], [0, 0, 64, 80]])
    np.testing.assert_array_equal(first["classes"], [1, 2])  # dog -> 1, zebra -> 2
    np.testing.assert_array_equal(first["is_crowd"], [False, True])

    assert empty["image"].shape == (48, 48, 3)
    assert empty["boxes"].shape == (0, 4) and empty["classes"].shape == (0,)
    assert empty["is_crowd"].shape == (0,)

    np.testing.assert_allclose(third["boxes"], [[2.25, 1.5, 22.25, 12.0]])
    np.testing.assert_array_equal(third["classes"], [0])
    assert_records_match_elements(coco, items)

    records = list(coco.records())
    assert records[0].file == os.path.join(image_dir, "a.png")
    # The JSON's area where given (segmentation area), the box area otherwise.
    np.testing.assert_allclose(records[0].area, [450.5, 64 * 80])
    assert dict(records[1])["boxes"].shape == (0, 4)  # records are mappings too


def test_shuffle_is_seeded(tmp_path):
    annotation_file, image_dir, _ = _write(tmp_path)
    coco = CocoJsonDataset(annotation_file, image_dir)

    def order(seed):
        return [int(i["image_id"]) for i in elements(coco.as_dataset(shuffle=True, seed=seed))]

    assert order(4) == order(4)
    assert sorted(order(4)) == [10, 20, 30]


def test_box_sticking_out_by_rounding_is_clipped(tmp_path):
    annotations = _annotations()
    annotations[0]["bbox"] = [-0.5, 5, 80.9, 20]  # x from -0.5 to 80.4 in an 80 px wide image
    annotation_file, image_dir, _ = _write(tmp_path, annotations)
    first = next(CocoJsonDataset(annotation_file, image_dir).records())
    np.testing.assert_allclose(first.boxes[0], [5, 0, 25, 80])


def _bad_bbox(bbox):
    def mutate(annotations, folder):
        annotations[0]["bbox"] = bbox

    return mutate


def _unknown_category(annotations, folder):
    annotations[0]["category_id"] = 99


def _missing_image(annotations, folder):
    os.remove(os.path.join(folder, "images", "a.png"))


def _unreadable_image(annotations, folder):
    with open(os.path.join(folder, "images", "a.png"), "w") as file:
        file.write("not an image")


MALFORMED = [
    # (mutation, reason, error type, text the message must contain)
    (_bad_bbox([10, 5, 75, 20]), "box_outside_image", ValueError, "annotation id 1"),
    (_bad_bbox([10, 5, -3, 20]), "inverted_box", ValueError, "annotation id 1"),
    (_bad_bbox([10, 5, 0, 20]), "empty_box", ValueError, "zero area"),
    (_unknown_category, "unknown_class", ValueError, "category_id 99"),
    (_missing_image, "missing_image", FileNotFoundError, "a.png"),
    (_unreadable_image, "unreadable_image", ValueError, "a.png"),
]


@pytest.mark.parametrize("mutate, reason, error, text", MALFORMED)
def test_malformed_input_raises_naming_file_and_record(tmp_path, mutate, reason, error, text):
    annotations = _annotations()
    annotation_file, image_dir, _ = _write(tmp_path)
    mutate(annotations, str(tmp_path))
    with open(annotation_file, "w") as file:
        json.dump({"images": IMAGES, "annotations": annotations, "categories": CATEGORIES}, file)
    with pytest.raises(error) as raised:
        CocoJsonDataset(annotation_file, image_dir)
    message = str(raised.value)
    assert annotation_file in message and "image id 10" in message and text in message


@pytest.mark.parametrize("mutate, reason, error, text", MALFORMED)
def test_malformed_input_is_skipped_counted_and_logged(
    tmp_path, caplog, mutate, reason, error, text
):
    annotations = _annotations()
    annotation_file, image_dir, _ = _write(tmp_path)
    mutate(annotations, str(tmp_path))
    with open(annotation_file, "w") as file:
        json.dump({"images": IMAGES, "annotations": annotations, "categories": CATEGORIES}, file)
    with caplog.at_level(logging.WARNING):
        coco = CocoJsonDataset(annotation_file, image_dir, on_error="skip")
    # The whole image 10 is skipped, the others are kept.
    assert coco.skipped == {reason: 1}
    assert len(coco) == 2
    assert [r.image_id for r in coco.records()] == [20, 30]
    assert [int(i["image_id"]) for i in elements(coco.as_dataset())] == [20, 30]
    (where,) = coco.skipped_records
    assert "image id 10" in where
    assert any(reason in r.getMessage() and "image id 10" in r.getMessage() for r in caplog.records)
    assert "skipped 1 images" in coco.skip_report()


def test_image_size_disagreeing_with_json_is_an_error(tmp_path):
    images = [dict(image) for image in IMAGES]
    images[2]["height"] = 100
    annotation_file, image_dir, _ = _write(tmp_path, images=images)
    with pytest.raises(ValueError, match=r"image id 30.*100x64"):
        CocoJsonDataset(annotation_file, image_dir)
    skipping = CocoJsonDataset(annotation_file, image_dir, on_error="skip")
    assert skipping.skipped == {"image_size_mismatch": 1}


def test_structural_errors_raise_even_when_skipping(tmp_path):
    annotations = _annotations()
    annotations[2]["image_id"] = 999
    annotation_file, image_dir, _ = _write(tmp_path, annotations)
    with pytest.raises(ValueError, match="annotation id 3 refers to image id 999"):
        CocoJsonDataset(annotation_file, image_dir, on_error="skip")

    annotations = _annotations()
    annotations[0]["bbox"] = [1, 2, 3]
    annotation_file, image_dir, _ = _write(tmp_path, annotations)
    with pytest.raises(ValueError, match="annotation id 1: bbox"):
        CocoJsonDataset(annotation_file, image_dir, on_error="skip")

    with open(annotation_file, "w") as file:
        file.write("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        CocoJsonDataset(annotation_file, image_dir, on_error="skip")

    with open(annotation_file, "w") as file:
        json.dump({"images": [], "annotations": []}, file)
    with pytest.raises(ValueError, match="'categories'"):
        CocoJsonDataset(annotation_file, image_dir)


def test_missing_files_and_bad_arguments(tmp_path):
    annotation_file, image_dir, _ = _write(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nothing\.json"):
        CocoJsonDataset(str(tmp_path / "nothing.json"), image_dir)
    with pytest.raises(FileNotFoundError, match="no_dir"):
        CocoJsonDataset(annotation_file, str(tmp_path / "no_dir"))
    with pytest.raises(ValueError, match="on_error"):
        CocoJsonDataset(annotation_file, image_dir, on_error="ignore")
