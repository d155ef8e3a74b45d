"""Tests of the TFRecord loader and writer (TF OD API / Model Garden tf.Example format)."""

import importlib.util
import io
import logging

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf
from conftest_data import assert_element_spec, assert_records_match_elements, elements

from keras_retinanet.data import ShapesDataset, TFRecordDataset, write_tfrecord

# Normalised coordinates pass through float32: boxes come back within this many pixels.
NORMALISED_ROUND_TRIP_ATOL_PX = 1e-3
LABEL_MAP = {1: "person", 3: "car", 90: "toothbrush"}  # COCO-like ids with gaps


def _png(height, width, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue(), pixels


def _example(encoded, source_id=b"", size=None, boxes=(), labels=(), is_crowd=None, area=None):
    """A tf.Example like `create_coco_tf_record` writes; boxes as normalised yxyx."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        "image/source_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[source_id])),
    }
    if size is not None:
        feature["image/height"], feature["image/width"] = ints([size[0]]), ints([size[1]])
    if len(labels):  # the Model Garden writer omits object features of empty images
        for column, key in enumerate(("ymin", "xmin", "ymax", "xmax")):
            feature[f"image/object/bbox/{key}"] = floats(boxes[:, column])
        feature["image/object/class/label"] = ints(labels)
    if is_crowd is not None:
        feature["image/object/is_crowd"] = ints(is_crowd)
    if area is not None:
        feature["image/object/area"] = floats(area)
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write_records(path, serialized):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in serialized:
            writer.write(record)
    return str(path)


def test_round_trip_of_any_dataset(tmp_path):
    shapes = ShapesDataset(4, image_size=80, seed=6, min_size=8, max_size=60)
    (path,) = write_tfrecord(shapes, str(tmp_path / "shapes.tfrecord"))
    label_map = dict(zip(shapes.category_ids, shapes.class_names))
    loader = TFRecordDataset(path, label_map)
    assert loader.class_names == shapes.class_names
    assert loader.category_ids == shapes.category_ids
    assert len(loader) == 4
    dataset = loader.as_dataset()
    assert_element_spec(dataset)
    ours, theirs = elements(shapes.as_dataset()), elements(dataset)
    assert len(theirs) == 4
    for a, b in zip(ours, theirs):
        assert a["image_id"] == b["image_id"]
        np.testing.assert_array_equal(a["image"], b["image"])  # PNG: bit-exact
        np.testing.assert_allclose(a["boxes"], b["boxes"], atol=NORMALISED_ROUND_TRIP_ATOL_PX)
        np.testing.assert_array_equal(a["classes"], b["classes"])
        np.testing.assert_array_equal(a["is_crowd"], b["is_crowd"])
    assert_records_match_elements(loader, theirs)


def test_sharded_jpeg_writing(tmp_path):
    shapes = ShapesDataset(5, image_size=64, seed=1, min_size=8, max_size=40)
    paths = write_tfrecord(shapes, str(tmp_path / "s"), num_shards=2, image_format="jpeg")
    assert [p.rsplit("/", 1)[1] for p in paths] == ["s-00000-of-00002", "s-00001-of-00002"]
    loader = TFRecordDataset(str(tmp_path / "s-*"), dict(zip(shapes.category_ids, "abcde")))
    assert len(loader) == 5
    assert sorted(int(i["image_id"]) for i in elements(loader.as_dataset())) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="image_format"):
        write_tfrecord(shapes, str(tmp_path / "x"), image_format="gif")


def test_reads_model_garden_style_examples(tmp_path):
    encoded, pixels = _png(40, 50)
    path = _write_records(
        tmp_path / "coco.tfrecord",
        [
            _example(
                encoded,
                b"397133",
                size=(40, 50),
                boxes=[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]],
                labels=[90, 3],
                is_crowd=[0, 1],
                area=[123.5, 2000.0],
            ),
            _example(encoded, b"42", boxes=[[0.25, 0.5, 0.75, 1.0]], labels=[1]),  # no size
            _example(encoded, b"7", size=(40, 50)),  # no objects: no object features at all
            _example(encoded, b"img_a.jpg", size=(40, 50)),  # a file name as source id
            _example(encoded, b"", size=(40, 50)),  # no source id
        ],
    )
    loader = TFRecordDataset(path, LABEL_MAP)
    assert loader.class_names == ["person", "car", "toothbrush"]
    assert loader.category_ids == [1, 3, 90]
    items = elements(loader.as_dataset())
    first, second, empty, named, unnamed = items
    np.testing.assert_array_equal(first["image"], pixels)
    assert first["image_id"] == 397133
    # Normalised yxyx times (40, 50, 40, 50).
    np.testing.assert_allclose(first["boxes"], [[4, 10, 20, 30], [0, 0, 40, 50]], atol=1e-4)
    np.testing.assert_array_equal(first["classes"], [2, 1])  # 90 -> 2, 3 -> 1
    np.testing.assert_array_equal(first["is_crowd"], [False, True])
    np.testing.assert_allclose(second["boxes"], [[10, 25, 30, 50]], atol=1e-4)
    np.testing.assert_array_equal(second["classes"], [0])
    np.testing.assert_array_equal(second["is_crowd"], [False])  # absent -> not crowd
    assert empty["boxes"].shape == (0, 4) and empty["image_id"] == 7
    assert 0 <= named["image_id"] < 2**53 and named["image_id"] not in (7, 42)
    assert unnamed["image_id"] != named["image_id"]
    records = list(loader.records())
    assert [r.image_id for r in records] == [int(i["image_id"]) for i in items]  # same hashes
    np.testing.assert_allclose(records[0].area, [123.5, 2000.0])  # image/object/area
    np.testing.assert_allclose(records[1].area, [20 * 25])  # box area without it
    assert_records_match_elements(loader, items)


def _bad_examples():
    encoded, _ = _png(40, 50)
    return {
        "unknown_class": _example(encoded, b"2", boxes=[[0, 0, 0.5, 0.5]], labels=[2]),
        "box_outside_image": _example(encoded, b"2", boxes=[[0, 0, 1.2, 0.5]], labels=[1]),
        "empty_box": _example(encoded, b"2", boxes=[[0.5, 0, 0.5, 0.5]], labels=[1]),
        "inverted_box": _example(encoded, b"2", boxes=[[0.6, 0, 0.5, 0.5]], labels=[1]),
        "unreadable_image": _example(b"not an image", b"2"),
        "image_size_mismatch": _example(encoded, b"2", size=(41, 50)),
        "malformed_record": _example(encoded, b"2", boxes=[[0, 0, 0.5, 0.5]], labels=[1, 1]),
    }


@pytest.mark.parametrize("reason", sorted(_bad_examples()))
def test_malformed_records_raise_naming_file_and_record(tmp_path, reason):
    encoded, _ = _png(40, 50)
    good = _example(encoded, b"1", boxes=[[0, 0, 0.5, 0.5]], labels=[1])
    path = _write_records(tmp_path / "bad.tfrecord", [good, _bad_examples()[reason]])
    loader = TFRecordDataset(path, LABEL_MAP)
    with pytest.raises(ValueError, match=r"bad.tfrecord record #1 \(source_id '2'\)"):
        list(loader.records())


def test_malformed_record_fails_the_pipeline_with_its_message(tmp_path):
    encoded, _ = _png(40, 50)
    good = _example(encoded, b"1", boxes=[[0, 0, 0.5, 0.5]], labels=[1])
    bad = _bad_examples()["unknown_class"]
    path = _write_records(tmp_path / "bad.tfrecord", [good, good, bad])
    # Inside tf.data the ValueError surfaces as an InvalidArgumentError with its message.
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"bad.tfrecord record #2 .*label 2 is not one"
    ):
        elements(TFRecordDataset(path, LABEL_MAP).as_dataset())


def test_malformed_records_are_skipped_and_counted(tmp_path, caplog):
    encoded, _ = _png(40, 50)
    bad = _bad_examples()
    records = [_example(encoded, b"1", boxes=[[0, 0, 0.5, 0.5]], labels=[1])]
    records += [bad[reason] for reason in sorted(bad)]
    records += [_example(encoded, b"3", boxes=[[0, 0, 0.5, 0.5]], labels=[90])]
    path = _write_records(tmp_path / "bad.tfrecord", records)
    loader = TFRecordDataset(path, LABEL_MAP, on_error="skip")
    assert len(loader) == len(records)  # records in the files, before skipping
    with caplog.at_level(logging.WARNING):
        assert [int(i["image_id"]) for i in elements(loader.as_dataset())] == [1, 3]
    expected = {reason: 1 for reason in bad}
    assert loader.skipped == expected
    for index, reason in enumerate(sorted(bad), start=1):
        where = f"{path} record #{index} (source_id '2')"
        assert loader.skipped_records[where] == reason
        assert any(where in r.getMessage() for r in caplog.records)
    # Reading again (another epoch, or records()) does not count the same record twice.
    assert [r.image_id for r in loader.records()] == [1, 3]
    assert loader.skipped == expected


def test_seeded_shuffle_and_missing_files(tmp_path):
    encoded, _ = _png(16, 16)
    path = _write_records(
        tmp_path / "many.tfrecord", [_example(encoded, b"%d" % i) for i in range(8)]
    )
    loader = TFRecordDataset(path, LABEL_MAP, shuffle_buffer_size=8)

    def order(seed):
        return [int(i["image_id"]) for i in elements(loader.as_dataset(shuffle=True, seed=seed))]

    assert order(3) == order(3)
    assert sorted(order(3)) == list(range(8))
    with pytest.raises(FileNotFoundError, match="nothing-"):
        TFRecordDataset(str(tmp_path / "nothing-*"), LABEL_MAP)
    with pytest.raises(ValueError, match="label_map"):
        TFRecordDataset(path, {})


@pytest.mark.skipif(
    importlib.util.find_spec("official") is None,
    reason="Model Garden (tf-models-official, optional extra) is not installed",
)
def test_decodes_like_model_garden(tmp_path):
    from official.vision.dataloaders.tf_example_decoder import TfExampleDecoder

    encoded, _ = _png(40, 50)
    serialized = [
        _example(
            encoded,
            b"11",
            size=(40, 50),
            boxes=[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]],
            labels=[90, 3],
            is_crowd=[0, 1],
        ),
        _example(encoded, b"12", size=(40, 50), boxes=[[0.25, 0.5, 0.75, 1.0]], labels=[1]),
    ]
    path = _write_records(tmp_path / "mg.tfrecord", serialized)
    shapes = ShapesDataset(3, image_size=64, seed=0, min_size=8, max_size=40)
    (written,) = write_tfrecord(shapes, str(tmp_path / "ours.tfrecord"))
    decoder = TfExampleDecoder()
    for file, label_map in ((path, LABEL_MAP), (written, dict(zip(shapes.category_ids, "abcde")))):
        loader = TFRecordDataset(file, label_map)
        ours = elements(loader.as_dataset())
        theirs = [decoder.decode(s) for s in tf.data.TFRecordDataset(file)]
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            size = np.array([b["height"], b["width"]] * 2, dtype=np.float64)
            np.testing.assert_allclose(a["boxes"], b["groundtruth_boxes"].numpy() * size, atol=1e-3)
            np.testing.assert_array_equal(
                np.array(loader.category_ids)[a["classes"]], b["groundtruth_classes"].numpy()
            )
            np.testing.assert_array_equal(a["is_crowd"], b["groundtruth_is_crowd"].numpy())
            np.testing.assert_array_equal(a["image"], b["image"].numpy())
            assert str(int(a["image_id"])) == b["source_id"].numpy().decode()
