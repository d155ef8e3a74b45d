"""Tests of the CSV loader: paths, empty-image rows, class ids, malformed rows."""

import logging
import os

import numpy as np
import pytest
from conftest_data import assert_element_spec, assert_records_match_elements, elements, write_image

from keras_retinanet.data import CsvDataset


def _write(folder, rows=None, classes="dog,5\ncat,2\n"):
    """Images a.png 40 x 60 (h x w), sub/b.png 30 x 30, c.png 20 x 24 (no objects)."""
    pixels = {
        "a.png": write_image(os.path.join(folder, "a.png"), 40, 60, seed=1),
        "sub/b.png": write_image(os.path.join(folder, "sub", "b.png"), 30, 30, seed=2),
        "c.png": write_image(os.path.join(folder, "c.png"), 20, 24, seed=3),
    }
    if rows is None:
        rows = [
            "a.png,10,5,30,25,dog",  # x1, y1, x2, y2 -> yxyx (5, 10, 25, 30)
            "sub/b.png,0,0,30,30,cat",
            "c.png,,,,,",  # no objects
            "a.png,0.5,1.5,59.5,39,cat",  # a.png again, not adjacent
        ]
    annotations = os.path.join(folder, "annotations.csv")
    with open(annotations, "w") as file:
        file.write("\n".join(rows) + "\n")
    classes_csv = os.path.join(folder, "classes.csv")
    with open(classes_csv, "w") as file:
        file.write(classes)
    return annotations, classes_csv, pixels


def test_reads_rows_grouped_per_image(tmp_path):
    annotations, classes_csv, pixels = _write(str(tmp_path))
    loader = CsvDataset(annotations, classes_csv)
    # Classes sorted by their id: cat (2), dog (5).
    assert loader.class_names == ["cat", "dog"]
    assert loader.category_ids == [2, 5]
    assert len(loader) == 3
    dataset = loader.as_dataset()
    assert_element_spec(dataset)
    a, b, c = elements(dataset)
    assert [a["image_id"], b["image_id"], c["image_id"]] == [0, 1, 2]  # first-row order
    np.testing.assert_array_equal(a["image"], pixels["a.png"])
    np.testing.assert_allclose(a["boxes"], [[5, 10, 25, 30], [1.5, 0.5, 39, 59.5]])
    np.testing.assert_array_equal(a["classes"], [1, 0])
    np.testing.assert_array_equal(a["is_crowd"], [False, False])
    np.testing.assert_array_equal(b["image"], pixels["sub/b.png"])
    np.testing.assert_array_equal(b["boxes"], [[0, 0, 30, 30]])
    assert c["image"].shape == (20, 24, 3) and c["boxes"].shape == (0, 4)
    assert_records_match_elements(loader, [a, b, c])
    assert next(loader.records()).file == os.path.join(str(tmp_path), "a.png")


def test_base_dir_and_absolute_paths(tmp_path):
    images = tmp_path / "images"
    absolute = os.path.join(str(images), "c.png")
    rows = ["a.png,1,1,5,5,cat", f"{absolute},,,,,"]
    annotations, classes_csv, _ = _write(str(images), rows)
    moved = tmp_path / "labels.csv"
    os.rename(annotations, moved)
    with pytest.raises(FileNotFoundError, match="labels"):  # resolved next to the CSV
        CsvDataset(str(moved), classes_csv)
    loader = CsvDataset(str(moved), classes_csv, base_dir=str(images))
    assert [r.file for r in loader.records()] == [os.path.join(str(images), "a.png"), absolute]


def test_box_sticking_out_by_rounding_is_clipped(tmp_path):
    annotations, classes_csv, _ = _write(str(tmp_path), ["a.png,-0.6,0,60.8,40.4,cat"])
    record = next(CsvDataset(annotations, classes_csv).records())
    np.testing.assert_allclose(record.boxes, [[0, 0, 40, 60]])


MALFORMED = [
    # (bad row replacing the first row, reason, error type, message text)
    ("a.png,10,5,30,25,bird", "unknown_class", ValueError, "line 1: class name 'bird'"),
    ("a.png,10,5,70,25,dog", "box_outside_image", ValueError, "line 1: box"),
    ("a.png,30,5,10,25,dog", "inverted_box", ValueError, "line 1: box"),
    ("a.png,10,5,10,25,dog", "empty_box", ValueError, "zero area"),
    ("missing.png,10,5,30,25,dog", "missing_image", FileNotFoundError, "missing.png"),
]


@pytest.mark.parametrize("row, reason, error, text", MALFORMED)
def test_malformed_rows_raise_naming_file_and_line(tmp_path, row, reason, error, text):
    annotations, classes_csv, _ = _write(str(tmp_path), [row, "c.png,,,,,"])
    with pytest.raises(error) as raised:
        CsvDataset(annotations, classes_csv)
    assert annotations in str(raised.value) and text in str(raised.value)


@pytest.mark.parametrize("row, reason, error, text", MALFORMED)
def test_malformed_rows_are_skipped_and_counted(tmp_path, caplog, row, reason, error, text):
    annotations, classes_csv, _ = _write(str(tmp_path), [row, "c.png,,,,,"])
    with caplog.at_level(logging.WARNING):
        loader = CsvDataset(annotations, classes_csv, on_error="skip")
    assert loader.skipped == {reason: 1}
    (kept,) = loader.records()
    assert kept.file.endswith("c.png") and kept.image_id == 1  # ids are not renumbered
    assert len(elements(loader.as_dataset())) == 1
    assert any(reason in r.getMessage() and "line 1" in r.getMessage() for r in caplog.records)


def test_unreadable_image_is_reported(tmp_path):
    annotations, classes_csv, _ = _write(str(tmp_path))
    with open(os.path.join(str(tmp_path), "sub", "b.png"), "wb") as file:
        file.write(b"\x89PNG garbage")
    with pytest.raises(ValueError, match=r"line 2 \(image .*b.png\).*cannot read"):
        CsvDataset(annotations, classes_csv)
    assert CsvDataset(annotations, classes_csv, on_error="skip").skipped == {"unreadable_image": 1}


@pytest.mark.parametrize(
    "row, text",
    [
        ("a.png,10,5,30,dog", "line 2: 5 fields"),
        ("a.png,10,five,30,25,dog", "line 2: coordinates"),
        ("a.png,10,5,,25,dog", "line 2: x1, y1, x2, y2 and class_name"),
        (",1,2,3,4,dog", "line 2: empty image path"),
    ],
)
def test_format_errors_always_raise(tmp_path, row, text):
    annotations, classes_csv, _ = _write(str(tmp_path), ["c.png,,,,,", row])
    with pytest.raises(ValueError, match=text):
        CsvDataset(annotations, classes_csv, on_error="skip")


@pytest.mark.parametrize(
    "classes, text",
    [
        ("cat,one\n", "line 1: class id 'one'"),
        ("cat,1\ncat,2\n", "line 2: class name 'cat' or id 2 repeated"),
        ("cat,1\ndog,1\n", "line 2"),
        ("\n", "lists no classes"),
    ],
)
def test_bad_class_files(tmp_path, classes, text):
    annotations, classes_csv, _ = _write(str(tmp_path), classes=classes)
    with pytest.raises(ValueError, match=text):
        CsvDataset(annotations, classes_csv)
