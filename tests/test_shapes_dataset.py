"""Tests of the generated shapes dataset: determinism, exact boxes, layout, COCO round trip."""

import time

import numpy as np
import pytest
from conftest_data import assert_element_spec, assert_records_match_elements, elements

from keras_retinanet.data import CocoJsonDataset, ShapesDataset
from keras_retinanet.data.shapes_dataset import (
    MAX_ASPECT_RATIO,
    MIN_VISIBLE_FRACTION,
    NOISE_AMPLITUDE,
    SHAPE_CLASS_NAMES,
)

SMALL = {"image_size": 96, "min_size": 10, "max_size": 70}


def test_same_seed_gives_bit_identical_data():
    first = ShapesDataset(6, seed=3, **SMALL)
    second = ShapesDataset(6, seed=3, **SMALL)
    # Rendering in another order must not matter: image i depends only on (seed, i).
    for index in reversed(range(6)):
        image_a, record_a = first.render(index)
        image_b, record_b = second.render(index)
        np.testing.assert_array_equal(image_a, image_b)
        np.testing.assert_array_equal(record_a.boxes, record_b.boxes)
        np.testing.assert_array_equal(record_a.classes, record_b.classes)


def test_different_seed_gives_different_data():
    first = ShapesDataset(4, seed=1, **SMALL)
    second = ShapesDataset(4, seed=2, **SMALL)
    for index in range(4):
        image_a, record_a = first.render(index)
        image_b, record_b = second.render(index)
        assert not np.array_equal(image_a, image_b)
        assert record_a.boxes.shape != record_b.boxes.shape or not np.array_equal(
            record_a.boxes, record_b.boxes
        )


def test_boxes_are_tight_around_the_visible_drawn_pixels():
    shapes = ShapesDataset(12, seed=5, **SMALL)
    for index in range(12):
        image, record = shapes.render(index)
        masks = shapes.visible_masks(index)
        assert masks.shape == (record.num_objects, 96, 96)
        # Every pixel belongs to at most one shape.
        assert masks.sum(axis=0).max(initial=0) <= 1
        for mask, box, area in zip(masks, record.boxes, record.area):
            rows = np.flatnonzero(mask.any(axis=1))
            cols = np.flatnonzero(mask.any(axis=0))
            # Continuous coordinates: visible rows r0..r1 give ymin = r0, ymax = r1 + 1.
            expected = [rows[0], cols[0], rows[-1] + 1, cols[-1] + 1]
            np.testing.assert_array_equal(box, expected)
            assert area == mask.sum()
            # The mask really is a drawn shape: one flat colour plus the final noise.
            pixels = image[mask].astype(int)
            assert np.all(pixels.max(axis=0) - pixels.min(axis=0) <= 2 * NOISE_AMPLITUDE)


def test_no_shape_is_mostly_hidden():
    shapes = ShapesDataset(40, seed=9, max_objects=8, **SMALL)
    for index in range(40):
        layout = shapes._layout(index)  # the full (unoccluded) masks are internal
        for shape_id, (_, _, full_mask) in enumerate(layout.placements):
            visible = np.count_nonzero(layout.instance_map == shape_id)
            assert visible >= MIN_VISIBLE_FRACTION * full_mask.sum()


def test_layout_covers_classes_sizes_and_aspect_ratios():
    shapes = ShapesDataset(300, image_size=128, seed=0, min_objects=1, max_objects=6)
    records = list(shapes.records())
    counts = [r.num_objects for r in records]
    assert min(counts) >= 1 and max(counts) <= 6
    classes = np.concatenate([r.classes for r in records])
    assert set(classes.tolist()) == set(range(len(SHAPE_CLASS_NAMES)))
    boxes = np.concatenate([r.boxes for r in records])
    heights, widths = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    sizes = np.sqrt(heights * widths)
    assert sizes.min() < 16 and sizes.max() > 0.5 * 128
    ratios = heights / widths
    assert ratios.min() < 1 / 2 and ratios.max() > 2
    # Occlusion and triangle tips can only shrink the drawn window.
    assert ratios.min() > 1 / (MAX_ASPECT_RATIO * 2) and ratios.max() < MAX_ASPECT_RATIO * 2
    assert np.all(boxes >= 0) and np.all(boxes <= 128)


def test_images_can_be_empty_with_min_objects_zero():
    shapes = ShapesDataset(40, image_size=64, seed=4, min_objects=0, max_objects=1, min_size=8)
    records = list(shapes.records())
    empty = [r for r in records if r.num_objects == 0]
    assert empty, "with 0..1 objects some images are empty"
    assert empty[0].boxes.shape == (0, 4) and empty[0].classes.shape == (0,)


def test_as_dataset_yields_the_rendered_images_and_records():
    shapes = ShapesDataset(5, seed=7, **SMALL)
    dataset = shapes.as_dataset()
    assert_element_spec(dataset)
    items = elements(dataset)
    assert [int(item["image_id"]) for item in items] == [0, 1, 2, 3, 4]
    for item in items:
        image, _ = shapes.render(int(item["image_id"]))
        np.testing.assert_array_equal(item["image"], image)
        assert item["image"].dtype == np.uint8 and item["boxes"].dtype == np.float32
        assert item["classes"].dtype == np.int32 and item["is_crowd"].dtype == bool
        assert not item["is_crowd"].any()
    assert_records_match_elements(shapes, items)


def test_shuffle_is_a_seeded_permutation():
    shapes = ShapesDataset(12, seed=7, image_size=64, min_size=8, max_size=40)

    def order(seed):
        return [int(i["image_id"]) for i in elements(shapes.as_dataset(shuffle=True, seed=seed))]

    first, again, other = order(11), order(11), order(12)
    assert first == again
    assert sorted(first) == list(range(12))
    assert first != list(range(12)) and first != other


def test_metadata():
    shapes = ShapesDataset(3, **SMALL)
    assert shapes.class_names == list(SHAPE_CLASS_NAMES)
    assert shapes.num_classes == 5
    assert shapes.category_ids == [1, 2, 3, 4, 5]
    assert len(shapes) == 3
    assert shapes.skipped == {}
    config = shapes.get_config()
    assert config == {
        "num_images": 3,
        "image_size": 96,
        "seed": 0,
        "min_objects": 1,
        "max_objects": 8,
        "min_size": 10,
        "max_size": 70,
    }
    rebuilt = ShapesDataset(**config)
    np.testing.assert_array_equal(rebuilt.render(2)[0], shapes.render(2)[0])


def test_write_coco_round_trip(tmp_path):
    shapes = ShapesDataset(6, seed=2, **SMALL)
    annotation_file, image_dir = shapes.write_coco(tmp_path / "shapes")
    coco = CocoJsonDataset(annotation_file, image_dir)
    assert coco.class_names == shapes.class_names
    assert coco.category_ids == shapes.category_ids
    assert len(coco) == len(shapes)
    ours, theirs = elements(shapes.as_dataset()), elements(coco.as_dataset())
    for a, b in zip(ours, theirs):
        assert a["image_id"] == b["image_id"]
        np.testing.assert_array_equal(a["image"], b["image"])  # PNG is lossless
        np.testing.assert_array_equal(a["boxes"], b["boxes"])
        np.testing.assert_array_equal(a["classes"], b["classes"])
        np.testing.assert_array_equal(a["is_crowd"], b["is_crowd"])
    for a, b in zip(shapes.records(), coco.records()):
        np.testing.assert_array_equal(a.area, b.area)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_images": 2, "image_size": 63},
        {"num_images": 2, "seed": -1},
        {"num_images": 2, "min_size": 40, "max_size": 30},
        {"num_images": 2, "min_size": 4},
        {"num_images": 2, "min_objects": 3, "max_objects": 2},
        {"num_images": 2, "image_size": 64, "max_size": 65},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        ShapesDataset(**kwargs)


def test_render_index_out_of_range():
    with pytest.raises(IndexError):
        ShapesDataset(2, **SMALL).render(2)


def test_rendering_is_fast():
    shapes = ShapesDataset(100, seed=0)  # 256 px
    start = time.perf_counter()
    for index in range(100):
        shapes.render(index)
    # ~5 ms per image measured on 2 shared cores; a wide margin against noisy neighbours.
    assert time.perf_counter() - start < 6.0
