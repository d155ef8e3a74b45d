"""Tests of the Pascal VOC XML loader: 1-based coordinates, difficult, ids, malformed input."""

import logging
import os

import numpy as np
import pytest
from conftest_data import assert_element_spec, assert_records_match_elements, elements, write_image

from keras_retinanet.data import VocXmlDataset
from keras_retinanet.data.voc_xml_dataset import VOC_CLASS_NAMES


def _object_xml(name, xmin, ymin, xmax, ymax, difficult=None):
    difficult_tag = "" if difficult is None else f"<difficult>{difficult}</difficult>"
    return (
        f"<object><name>{name}</name><pose>Left</pose><truncated>0</truncated>{difficult_tag}"
        f"<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
        "</bndbox></object>"
    )


def _write_annotation(root, name, filename, height, width, objects):
    size = f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
    filename_tag = f"<filename>{filename}</filename>" if filename else ""
    xml = f"<annotation><folder>VOC2007</folder>{filename_tag}{size}{''.join(objects)}</annotation>"
    with open(os.path.join(root, "Annotations", f"{name}.xml"), "w") as file:
        file.write(xml)


def _write_voc(root, ids=("000005", "2008_000008", "000012"), objects=None):
    """Writes a VOC folder; image 0 is 60 x 80 (h x w), 1 is 50 x 50, 2 is 40 x 64."""
    os.makedirs(os.path.join(root, "Annotations"), exist_ok=True)
    os.makedirs(os.path.join(root, "ImageSets", "Main"), exist_ok=True)
    sizes = [(60, 80), (50, 50), (40, 64)]
    default_objects = [
        [
            # 1-based inclusive pixels 10..30 x 20..40 -> continuous [9, 30] x [19, 40].
            _object_xml("dog", 10, 20, 30, 40, difficult=0),
            # The whole 80 x 60 image: 1..80 x 1..60 -> (0, 0, 60, 80).
            _object_xml("person", 1, 1, 80, 60, difficult=1),
        ],
        [],  # an image without objects
        [_object_xml("cat", 5.5, 3, 12, 7)],  # float coordinates, no <difficult> tag
    ]
    objects = default_objects if objects is None else objects
    for name, (height, width), image_objects in zip(ids, sizes, objects):
        write_image(os.path.join(root, "JPEGImages", f"{name}.jpg"), height, width)
        _write_annotation(root, name, f"{name}.jpg", height, width, image_objects)
    with open(os.path.join(root, "ImageSets", "Main", "trainval.txt"), "w") as file:
        file.write("\n".join(ids) + "\n")
    return root


def test_reads_voc_with_one_based_coordinates(tmp_path):
    root = _write_voc(str(tmp_path))
    voc = VocXmlDataset(root)
    assert voc.class_names == list(VOC_CLASS_NAMES)
    assert voc.category_ids == list(range(1, 21))
    assert len(voc) == 3
    dataset = voc.as_dataset()
    assert_element_spec(dataset)
    first, empty, third = elements(dataset)
    # "000005" -> 5, "2008_000008" -> 2008000008.
    assert [first["image_id"], empty["image_id"], third["image_id"]] == [5, 2008000008, 12]
    assert first["image"].shape == (60, 80, 3)
    np.testing.assert_array_equal(first["boxes"], [[19, 9, 40, 30], [0, 0, 60, 80]])
    dog, person, cat = (VOC_CLASS_NAMES.index(n) for n in ("dog", "person", "cat"))
    np.testing.assert_array_equal(first["classes"], [dog, person])
    np.testing.assert_array_equal(first["is_crowd"], [False, True])  # difficult -> crowd
    assert empty["boxes"].shape == (0, 4)
    np.testing.assert_allclose(third["boxes"], [[2, 4.5, 7, 12]])
    np.testing.assert_array_equal(third["classes"], [cat])
    np.testing.assert_array_equal(third["is_crowd"], [False])
    assert_records_match_elements(voc, [first, empty, third])
    assert next(voc.records()).file == os.path.join(root, "JPEGImages", "000005.jpg")


def test_non_numeric_ids_use_positions(tmp_path):
    root = _write_voc(str(tmp_path), ids=("beach", "city", "forest"))
    assert [r.image_id for r in VocXmlDataset(root).records()] == [0, 1, 2]


def test_custom_class_names_and_image_set(tmp_path):
    root = _write_voc(str(tmp_path), objects=[[_object_xml("dog", 1, 1, 5, 5)], [], []])
    with open(os.path.join(root, "ImageSets", "Main", "val.txt"), "w") as file:
        file.write("000005\n")
    voc = VocXmlDataset(root, image_set="val", class_names=["cat", "dog"])
    assert voc.class_names == ["cat", "dog"] and voc.category_ids == [1, 2]
    (record,) = voc.records()
    np.testing.assert_array_equal(record.classes, [1])
    np.testing.assert_array_equal(record.boxes, [[0, 0, 5, 5]])


def test_zero_based_writer_box_is_clipped(tmp_path):
    # Some tools write xmin = 0: one pixel left of VOC's first pixel, clipped to 0.
    root = _write_voc(str(tmp_path), objects=[[_object_xml("dog", 0, 0, 80, 60)], [], []])
    np.testing.assert_array_equal(next(VocXmlDataset(root).records()).boxes, [[0, 0, 60, 80]])


def _remove_image(root):
    os.remove(os.path.join(root, "JPEGImages", "000005.jpg"))


def _objects(*first_image_objects):
    return [list(first_image_objects), [], []]


MALFORMED = [
    # (objects of the first image, file mutation, reason, error type, message text)
    (_objects(_object_xml("unicorn", 1, 1, 5, 5)), None, "unknown_class", ValueError, "unicorn"),
    (_objects(_object_xml("dog", 1, 1, 90, 5)), None, "box_outside_image", ValueError, "object 0"),
    (_objects(_object_xml("dog", 10, 1, 5, 5)), None, "inverted_box", ValueError, "inverted"),
    (None, _remove_image, "missing_image", FileNotFoundError, "000005.jpg"),
]


@pytest.mark.parametrize("objects, mutate, reason, error, text", MALFORMED)
def test_malformed_input_raises_naming_the_xml(tmp_path, objects, mutate, reason, error, text):
    root = _write_voc(str(tmp_path), objects=objects)
    if mutate:
        mutate(root)
    with pytest.raises(error) as raised:
        VocXmlDataset(root)
    assert "000005.xml" in str(raised.value) and text in str(raised.value)


@pytest.mark.parametrize("objects, mutate, reason, error, text", MALFORMED)
def test_malformed_input_is_skipped_and_counted(
    tmp_path, caplog, objects, mutate, reason, error, text
):
    root = _write_voc(str(tmp_path), objects=objects)
    if mutate:
        mutate(root)
    with caplog.at_level(logging.WARNING):
        voc = VocXmlDataset(root, on_error="skip")
    assert voc.skipped == {reason: 1}
    assert [r.image_id for r in voc.records()] == [2008000008, 12]
    assert len(elements(voc.as_dataset())) == 2
    assert any("000005.xml" in r.getMessage() for r in caplog.records)


def test_size_in_xml_must_match_the_image(tmp_path):
    root = _write_voc(str(tmp_path))
    _write_annotation(root, "000012", "000012.jpg", 41, 64, [])
    with pytest.raises(ValueError, match=r"000012\.xml.*41x64"):
        VocXmlDataset(root)


def test_missing_size_is_read_from_the_image(tmp_path):
    root = _write_voc(str(tmp_path))
    _write_annotation(root, "000012", None, 0, 0, [_object_xml("cat", 1, 1, 64, 40)])
    record = list(VocXmlDataset(root).records())[2]
    assert (record.height, record.width) == (40, 64)
    assert record.file.endswith("000012.jpg")  # <id>.jpg without a <filename>


def test_file_level_errors_always_raise(tmp_path):
    root = _write_voc(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"test\.txt"):
        VocXmlDataset(root, image_set="test")
    with open(os.path.join(root, "Annotations", "000012.xml"), "w") as file:
        file.write("<annotation><object>")
    with pytest.raises(ValueError, match=r"000012\.xml is not well-formed"):
        VocXmlDataset(root, on_error="skip")
    os.remove(os.path.join(root, "Annotations", "000012.xml"))
    with pytest.raises(FileNotFoundError, match=r"trainval\.txt line 3.*000012\.xml"):
        VocXmlDataset(root, on_error="skip")
