"""Tests of the TFDS loader on `tfds.testing.mock_data` with consistent hand-made examples.

mock_data's own random examples give object fields of unequal lengths (which the real
`Sequence` feature never stores) and fail to encode as soon as a decoder is passed, so the
tests supply their own examples through `as_dataset_fn`: each is serialized with the real
builder's features and deserialized with the decoders the loader asks for, as TFDS does
with prepared data.
"""

import logging

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from conftest_data import assert_element_spec, assert_records_match_elements, elements

from keras_retinanet.data import TfdsDataset
from keras_retinanet.data.tfds_dataset import COCO_2017_CATEGORY_IDS

NUM_COCO_CATEGORIES = 80
# The 10 ids of COCO's 90 that the 80 detection categories skip.
COCO_UNUSED_IDS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
BOX_ATOL_PX = 1e-3


def _pixels(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _coco_example(image_id, height, width, bbox, labels, is_crowd, area):
    return {
        "image": _pixels(height, width, image_id),
        "image/filename": f"{image_id:012d}.jpg",
        "image/id": image_id,
        "objects": {
            "id": list(range(len(labels))),
            "area": area,
            "bbox": np.array(bbox, dtype=np.float32).reshape(-1, 4),
            "label": labels,
            "is_crowd": is_crowd,
        },
    }


def _voc_example(filename, height, width, bbox, labels, difficult):
    return {
        "image": _pixels(height, width),
        "image/filename": filename,
        "labels": sorted(set(labels)),
        "labels_no_difficult": sorted({lab for lab, d in zip(labels, difficult) if not d}),
        "objects": {
            "label": labels,
            "bbox": np.array(bbox, dtype=np.float32).reshape(-1, 4),
            "pose": [0] * len(labels),
            "is_truncated": [False] * len(labels),
            "is_difficult": difficult,
        },
    }


def _mock(examples):
    def as_dataset_fn(builder, split, decoders=None, read_config=None, shuffle_files=False):
        features = builder.info.features
        serialized = [features.serialize_example(example) for example in examples]
        return tf.data.Dataset.from_tensor_slices(serialized).map(
            lambda s: features.deserialize_example(s, decoders=decoders)
        )

    return tfds.testing.mock_data(
        as_dataset_fn=as_dataset_fn, policy=tfds.testing.MockPolicy.USE_CODE
    )


COCO_EXAMPLES = [
    _coco_example(
        139,
        40,
        50,
        bbox=[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]],
        labels=[0, 79],
        is_crowd=[False, True],
        area=[150, 2000],
    ),
    _coco_example(285, 32, 32, bbox=[], labels=[], is_crowd=[], area=[]),
]


def test_coco_category_ids_are_the_official_ones():
    assert len(COCO_2017_CATEGORY_IDS) == NUM_COCO_CATEGORIES
    assert list(COCO_2017_CATEGORY_IDS) == sorted(set(range(1, 91)) - COCO_UNUSED_IDS)


def test_coco_features_map_to_the_element():
    with _mock(COCO_EXAMPLES):
        coco = TfdsDataset("coco/2017", "validation", data_dir="/nonexistent")
        assert len(coco) == 2
        assert coco.num_classes == NUM_COCO_CATEGORIES
        assert coco.category_ids == list(COCO_2017_CATEGORY_IDS)
        # Names come from the builder's ClassLabel (numbers without prepared metadata).
        assert len(coco.class_names) == NUM_COCO_CATEGORIES
        dataset = coco.as_dataset()
        assert_element_spec(dataset)
        first, empty = elements(dataset)
        assert_records_match_elements(coco, [first, empty])
        records = list(coco.records())
    assert first["image_id"] == 139 and empty["image_id"] == 285
    assert first["image"].shape == (40, 50, 3) and first["image"].dtype == np.uint8
    # Normalised yxyx times (40, 50, 40, 50).
    np.testing.assert_allclose(first["boxes"], [[4, 10, 20, 30], [0, 0, 40, 50]], atol=BOX_ATOL_PX)
    np.testing.assert_array_equal(first["classes"], [0, 79])
    np.testing.assert_array_equal(first["is_crowd"], [False, True])
    assert empty["boxes"].shape == (0, 4) and empty["classes"].shape == (0,)
    np.testing.assert_allclose(records[0].area, [150, 2000])  # objects/area
    assert (records[0].height, records[0].width) == (40, 50)  # read from the JPEG header


def test_voc_features_map_to_the_element():
    examples = [
        # VOC 1-based box 11..30 x 5..20 in a 40 x 50 image, stored by TFDS as xmin / width:
        # xmin = 11 / 50, ymin = 5 / 40, xmax = 30 / 50, ymax = 20 / 40.
        _voc_example(
            "2008_000008.jpg",
            40,
            50,
            bbox=[[5 / 40, 11 / 50, 20 / 40, 30 / 50], [1 / 40, 1 / 50, 1.0, 1.0]],
            labels=[11, 14],
            difficult=[False, True],
        ),
        _voc_example("000005.jpg", 24, 24, bbox=[], labels=[], difficult=[]),
    ]
    with _mock(examples):
        voc = TfdsDataset("voc/2007", "test")
        assert voc.class_names[11] == "dog" and voc.class_names[14] == "person"
        assert voc.category_ids == list(range(1, 21))
        items = elements(voc.as_dataset())
        assert_records_match_elements(voc, items)
    first, empty = items
    assert first["image_id"] == 2008000008 and empty["image_id"] == 5
    np.testing.assert_array_equal(first["image"], examples[0]["image"])  # PNG-encoded by TFDS
    # 1 px off the minimum corner, as VocXmlDataset converts VOC's 1-based pixels.
    np.testing.assert_allclose(first["boxes"], [[4, 10, 20, 30], [0, 0, 40, 50]], atol=BOX_ATOL_PX)
    np.testing.assert_array_equal(first["classes"], [11, 14])
    np.testing.assert_array_equal(first["is_crowd"], [False, True])  # is_difficult
    assert empty["boxes"].shape == (0, 4)


def test_seeded_shuffle_is_reproducible():
    examples = [
        _coco_example(i, 16, 16, bbox=[], labels=[], is_crowd=[], area=[]) for i in range(1, 9)
    ]
    with _mock(examples):
        coco = TfdsDataset("coco/2017", "train", shuffle_buffer_size=8)

        def order(seed):
            return [int(i["image_id"]) for i in elements(coco.as_dataset(shuffle=True, seed=seed))]

        first = order(5)
        assert first == order(5)
    assert sorted(first) == list(range(1, 9))


def test_bad_example_raises_or_is_skipped(caplog):
    examples = [
        COCO_EXAMPLES[0],
        # A zero-height box (ymin == ymax), which TFDS's BBox feature accepts.
        _coco_example(
            7, 40, 50, bbox=[[0.5, 0.1, 0.5, 0.2]], labels=[3], is_crowd=[False], area=[0]
        ),
        COCO_EXAMPLES[1],
    ]
    with _mock(examples):
        strict = TfdsDataset("coco/2017", "validation")
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"image/id 7: object 0: .*zero"):
            elements(strict.as_dataset())
        with pytest.raises(ValueError, match=r"coco/2017 \[validation\] image/id 7"):
            list(strict.records())
        lenient = TfdsDataset("coco/2017", "validation", on_error="skip")
        with caplog.at_level(logging.WARNING):
            kept = [int(i["image_id"]) for i in elements(lenient.as_dataset())]
    assert kept == [139, 285]
    assert lenient.skipped == {"empty_box": 1}
    assert any("image/id 7" in r.getMessage() for r in caplog.records)


def test_unsupported_name_and_missing_data(tmp_path):
    with pytest.raises(ValueError, match="unsupported TFDS dataset 'mnist'"):
        TfdsDataset("mnist", "train")
    # Without mock: nothing is prepared in tmp_path, and nothing is downloaded.
    with pytest.raises(FileNotFoundError, match="not prepared"):
        TfdsDataset("voc/2007", "test", data_dir=str(tmp_path))
