"""Tests for keras_retinanet.data.input_pipeline."""

import numpy as np
import pytest
import tensorflow as tf

from keras_retinanet import label_codes
from keras_retinanet.data.augmentation import PhotometricJitter, RandomCrop, RandomFlip, ScaleJitter
from keras_retinanet.data.input_pipeline import (
    AugmentationConfig,
    BoxOverflowCounter,
    ResizeConfig,
    build_eval_pipeline,
    build_train_pipeline,
)

LOADER_SIGNATURE = {
    "image": tf.TensorSpec([None, None, 3], tf.uint8),
    "boxes": tf.TensorSpec([None, 4], tf.float32),
    "classes": tf.TensorSpec([None], tf.int32),
    "is_crowd": tf.TensorSpec([None], tf.bool),
    "image_id": tf.TensorSpec([], tf.int64),
}
# Small sizes so that every test runs in about a second.
SQUARE = ResizeConfig(mode="letterbox", size=128)
SHORTER_SIDE = ResizeConfig(
    mode="shorter_side", shorter_side=96, max_longer_side=160, pad_multiple=32
)
FULL_AUGMENTATION = AugmentationConfig(
    flip=RandomFlip(0.5),
    crop=RandomCrop(probability=0.5, side_fraction_range=(0.5, 1.0), min_area_fraction=0.3),
    scale_jitter=ScaleJitter(factor_range=(0.5, 2.0), min_area_fraction=0.3),
)
# Bilinear resizing blurs an object's edges by up to a pixel.
EDGE_TOLERANCE = 1.0


def _element(image, boxes, classes, is_crowd=None, image_id=0):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if is_crowd is None:
        is_crowd = np.zeros(len(boxes), bool)
    return {
        "image": np.asarray(image, np.uint8),
        "boxes": boxes,
        "classes": np.asarray(classes, np.int32),
        "is_crowd": np.asarray(is_crowd, bool),
        "image_id": np.int64(image_id),
    }


def _dataset(elements):
    return tf.data.Dataset.from_generator(lambda: iter(elements), output_signature=LOADER_SIGNATURE)


def _channel_objects(num_images: int, height: int = 96, width: int = 128):
    """Images with up to three objects, object k painted in colour channel k (= its class)."""
    rng = np.random.default_rng(0)
    elements = []
    for image_id in range(num_images):
        image = np.zeros((height, width, 3), np.uint8)
        boxes = []
        for channel in range(3):
            ymin, xmin = rng.integers(0, height - 24), rng.integers(0, width - 24)
            ymax, xmax = ymin + rng.integers(12, 24), xmin + rng.integers(12, 24)
            image[ymin:ymax, xmin:xmax, channel] = 255
            boxes.append([ymin, xmin, ymax, xmax])
        elements.append(_element(image, boxes, [0, 1, 2], image_id=image_id))
    return elements


def _assert_boxes_follow_pixels(images, y):
    for image, boxes, classes in zip(
        images.numpy(), y["boxes"].numpy(), y["classes"].numpy(), strict=True
    ):
        for box, channel in zip(boxes, classes, strict=True):
            if channel == label_codes.PADDING_CLASS:
                np.testing.assert_array_equal(box, [-1, -1, -1, -1])
                continue
            rows, cols = np.nonzero(image[..., channel] > 127)
            tight = [rows.min(), cols.min(), rows.max() + 1, cols.max() + 1]
            np.testing.assert_allclose(box, tight, atol=EDGE_TOLERANCE)


@pytest.mark.parametrize("resize", [SQUARE, SHORTER_SIDE], ids=["letterbox", "shorter_side"])
def test_boxes_follow_pixels_through_full_augmentation(resize):
    pipeline = build_train_pipeline(
        _dataset(_channel_objects(12)), 4, resize=resize, augmentation=FULL_AUGMENTATION, seed=3
    )
    num_batches = 0
    objects_per_image = []
    for images, y in pipeline:
        num_batches += 1
        objects_per_image.extend((y["classes"].numpy() >= 0).sum(axis=1))
        assert images.dtype == tf.float32 and y["boxes"].shape == (4, 100, 4)
        assert y["classes"].dtype == tf.int32 and y["classes"].shape == (4, 100)
        if resize is SQUARE:
            assert images.shape == (4, 128, 128, 3)
        else:
            assert images.shape[1] % 32 == 0 and images.shape[2] % 32 == 0
        assert float(tf.reduce_min(images)) >= 0.0 and float(tf.reduce_max(images)) <= 255.0
        _assert_boxes_follow_pixels(images, y)
    assert num_batches == 3
    # The crops and the jitter's crop dropped some objects and kept most.
    assert min(objects_per_image) < 3 and sum(objects_per_image) > len(objects_per_image)


def test_paper_resize_batch_shape_and_boxes():
    # 48 x 64 images at shorter side 96 (factor 2): 96 x 128, already multiples of 32.
    image = np.zeros((48, 64, 3), np.uint8)
    image[10:20, 30:50, 0] = 255
    elements = [_element(image, [[10, 30, 20, 50]], [0], image_id=i) for i in range(2)]
    pipeline = build_train_pipeline(
        _dataset(elements), 2, resize=SHORTER_SIDE, augmentation=AugmentationConfig.disabled()
    )
    images, y = next(iter(pipeline))
    assert images.shape == (2, 96, 128, 3)
    np.testing.assert_allclose(y["boxes"].numpy()[:, 0], [[20, 60, 40, 100]] * 2)
    _assert_boxes_follow_pixels(images, y)


def test_mixed_sizes_pad_to_batch_max():
    # 48 x 64 -> 96 x 128 (padded 96 x 128); 64 x 48 -> 128 x 96; the batch is 128 x 128.
    elements = [
        _element(np.full((48, 64, 3), 9), [[0, 0, 48, 64]], [1], image_id=1),
        _element(np.full((64, 48, 3), 9), [[0, 0, 64, 48]], [2], image_id=2),
    ]
    pipeline = build_train_pipeline(
        _dataset(elements),
        2,
        resize=SHORTER_SIDE,
        augmentation=AugmentationConfig.disabled(),
        shuffle_buffer=0,
        seed=0,
    )
    images, y = next(iter(pipeline))
    assert images.shape == (2, 128, 128, 3)
    assert not images.numpy()[0, 96:].any() and not images.numpy()[1, :, 96:].any()
    np.testing.assert_allclose(y["boxes"].numpy()[:, 0], [[0, 0, 96, 128], [0, 0, 128, 96]])


def test_crowd_and_padding_codes():
    image = np.zeros((64, 64, 3), np.uint8)
    element = _element(
        image,
        [[0, 0, 10, 10], [5, 5, 30, 30], [1, 2, 3, 4]],
        [3, 5, 0],
        is_crowd=[False, True, False],
    )
    pipeline = build_train_pipeline(
        _dataset([element]),
        1,
        resize=ResizeConfig(mode="letterbox", size=64),
        augmentation=AugmentationConfig.disabled(),
        max_boxes=5,
    )
    _, y = next(iter(pipeline))
    np.testing.assert_array_equal(
        y["classes"].numpy(),
        [[3, label_codes.CROWD_CLASS, 0, label_codes.PADDING_CLASS, label_codes.PADDING_CLASS]],
    )
    np.testing.assert_allclose(
        y["boxes"].numpy()[0, :3], [[0, 0, 10, 10], [5, 5, 30, 30], [1, 2, 3, 4]]
    )
    np.testing.assert_array_equal(y["boxes"].numpy()[0, 3:], -1.0)


def _batches(pipeline, count):
    iterator = iter(pipeline)
    return [next(iterator) for _ in range(count)]


def _all_equal(first, second):
    return all(
        np.array_equal(a.numpy(), b.numpy())
        for (images_a, y_a), (images_b, y_b) in zip(first, second, strict=True)
        for a, b in [
            (images_a, images_b),
            (y_a["boxes"], y_b["boxes"]),
            (y_a["classes"], y_b["classes"]),
        ]
    )


def test_determinism():
    augmentation = AugmentationConfig(
        photometric=PhotometricJitter(),
        flip=RandomFlip(),
        crop=RandomCrop(),
        scale_jitter=ScaleJitter((0.5, 2.0)),
    )
    elements = _channel_objects(8)

    def build(seed):
        return build_train_pipeline(
            _dataset(elements), 4, resize=SQUARE, augmentation=augmentation, seed=seed
        )

    first = _batches(build(11), 2)
    assert _all_equal(first, _batches(build(11), 2))
    assert not _all_equal(first, _batches(build(12), 2))
    # A second epoch of the same pipeline gets new augmentations.
    pipeline = build(11)
    epoch_one = _batches(pipeline, 2)
    epoch_two = _batches(pipeline, 2)
    assert _all_equal(first, epoch_one)
    assert not _all_equal(epoch_one, epoch_two)


def test_overflow_keep_largest_counts_and_raise():
    # Five objects with areas 1, 100, 4, 400, 9; max_boxes=3 keeps 100, 400, 9 in input order.
    sides = [1, 10, 2, 20, 3]
    boxes = [[0, 0, s, s] for s in sides]
    element = _element(np.zeros((32, 32, 3)), boxes, [0, 1, 2, 3, 4])
    small = [_element(np.zeros((32, 32, 3)), [[0, 0, 5, 5]], [0], image_id=1)]
    counter = BoxOverflowCounter()
    pipeline = build_train_pipeline(
        _dataset([element, *small]),
        1,
        resize=ResizeConfig(mode="letterbox", size=32),
        augmentation=AugmentationConfig.disabled(),
        max_boxes=3,
        shuffle_buffer=0,
        seed=0,
        overflow_counter=counter,
        warn_on_overflow=False,
    )
    (_, y), (_, y_small) = _batches(pipeline, 2)
    np.testing.assert_array_equal(y["classes"].numpy(), [[1, 3, 4]])
    np.testing.assert_allclose(
        y["boxes"].numpy()[0], [[0, 0, 10, 10], [0, 0, 20, 20], [0, 0, 3, 3]]
    )
    np.testing.assert_array_equal(y_small["classes"].numpy(), [[0, -1, -1]])
    assert counter.result() == {"images": 1, "dropped_boxes": 2}
    counter.reset()
    assert counter.result() == {"images": 0, "dropped_boxes": 0}

    raising = build_train_pipeline(
        _dataset([element]),
        1,
        resize=ResizeConfig(mode="letterbox", size=32),
        augmentation=AugmentationConfig.disabled(),
        max_boxes=3,
        overflow="raise",
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_boxes=3"):
        next(iter(raising))


def test_overflow_warning(capfd):
    boxes = [[0, 0, 4, 4], [0, 0, 8, 8], [0, 0, 2, 2]]
    element = _element(np.zeros((16, 16, 3)), boxes, [0, 1, 2], image_id=77)
    pipeline = build_train_pipeline(
        _dataset([element]),
        1,
        resize=ResizeConfig(mode="letterbox", size=16),
        augmentation=AugmentationConfig.disabled(),
        max_boxes=2,
    )
    _, y = next(iter(pipeline))
    np.testing.assert_array_equal(y["classes"].numpy(), [[0, 1]])
    captured = capfd.readouterr()
    assert "image_id 77 has 3 objects; keeping the 2 largest" in captured.err


def test_encode_targets_hook():
    calls = []

    def fake_encoder(image_shape, boxes, classes):
        calls.append((image_shape.dtype, boxes.shape, classes.shape))
        real = tf.cast(classes >= 0, tf.int32)
        return {
            "num_objects": tf.reduce_sum(real),
            "image_shape": image_shape,
            "box_sum": tf.reduce_sum(boxes * tf.cast(real, tf.float32)[:, None], axis=0),
        }

    elements = [
        _element(np.zeros((32, 64, 3)), [[0, 0, 8, 16], [8, 8, 16, 16]], [0, 1], image_id=0),
        _element(np.zeros((64, 32, 3)), [[2, 2, 4, 4]], [3], is_crowd=[True], image_id=1),
    ]
    pipeline = build_train_pipeline(
        _dataset(elements),
        2,
        resize=ResizeConfig(mode="letterbox", size=64),
        augmentation=AugmentationConfig.disabled(),
        encode_targets=fake_encoder,
        max_boxes=4,
        shuffle_buffer=0,
        seed=0,
    )
    images, y = next(iter(pipeline))
    assert calls == [(tf.int32, (4, 4), (4,))]
    assert set(y) == {"boxes", "classes", "num_objects", "image_shape", "box_sum"}
    np.testing.assert_array_equal(y["num_objects"].numpy(), [2, 0])
    np.testing.assert_array_equal(y["image_shape"].numpy(), [[64, 64, 3]] * 2)
    np.testing.assert_allclose(y["box_sum"].numpy(), [[8, 8, 24, 32], [0, 0, 0, 0]])
    assert images.shape == (2, 64, 64, 3)


def test_encode_targets_needs_fixed_size():
    dataset = _dataset(_channel_objects(1))
    with pytest.raises(ValueError, match="fixed_padded_size"):
        build_train_pipeline(dataset, 1, resize=SHORTER_SIDE, encode_targets=lambda s, b, c: {})
    fixed = ResizeConfig(
        mode="shorter_side",
        shorter_side=96,
        max_longer_side=160,
        pad_multiple=32,
        fixed_padded_size=True,
    )
    pipeline = build_train_pipeline(
        dataset, 1, resize=fixed, encode_targets=lambda s, b, c: {"shape": s}
    )
    images, y = next(iter(pipeline))
    # ceil(160 / 32) * 32 = 160.
    assert images.shape == (1, 160, 160, 3)
    np.testing.assert_array_equal(y["shape"].numpy(), [[160, 160, 3]])
    with pytest.raises(ValueError, match="reserved"):
        build_train_pipeline(dataset, 1, resize=SQUARE, encode_targets=lambda s, b, c: {"boxes": b})


def test_eval_pipeline_meta():
    elements = [
        _element(np.full((48, 64, 3), 7), [[0, 0, 1, 1]], [0], image_id=101),
        _element(np.full((64, 32, 3), 7), [[0, 0, 1, 1]], [0], image_id=102),
        _element(np.full((30, 30, 3), 7), [[0, 0, 1, 1]], [0], image_id=103),
    ]
    pipeline = build_eval_pipeline(_dataset(elements), 2, resize=SHORTER_SIDE)
    batches = list(pipeline)
    assert len(batches) == 2
    images, meta = batches[0]
    # 48 x 64 -> 96 x 128; 64 x 32 -> factor min(96 / 32, 160 / 64) = 2.5 -> 160 x 80.
    assert images.shape == (2, 160, 128, 3)
    np.testing.assert_array_equal(meta["image_id"].numpy(), [101, 102])
    np.testing.assert_allclose(meta["scale"].numpy(), [[2.0, 2.0], [2.5, 2.5]])
    np.testing.assert_array_equal(meta["original_size"].numpy(), [[48, 64], [64, 32]])
    assert meta["image_id"].dtype == tf.int64 and meta["original_size"].dtype == tf.int32
    np.testing.assert_allclose(images.numpy()[0, :96, :128], 7.0)
    assert not images.numpy()[0, 96:].any()
    images, meta = batches[1]
    # 30 x 30 -> 96 x 96.
    assert images.shape == (1, 96, 96, 3)
    np.testing.assert_array_equal(meta["image_id"].numpy(), [103])
    np.testing.assert_allclose(meta["scale"].numpy(), [[3.2, 3.2]])

    square = build_eval_pipeline(
        _dataset(elements), 3, resize=ResizeConfig(mode="stretch", size=64)
    )
    images, meta = next(iter(square))
    assert images.shape == (3, 64, 64, 3)
    np.testing.assert_allclose(
        meta["scale"].numpy(), [[64 / 48, 1.0], [1.0, 2.0], [64 / 30, 64 / 30]]
    )


def test_clear_errors():
    good = _dataset(_channel_objects(1))
    with pytest.raises(ValueError, match="batch_size"):
        build_train_pipeline(good, 0)
    with pytest.raises(ValueError, match="batch_size"):
        build_eval_pipeline(good, 0)
    with pytest.raises(ValueError, match="max_boxes"):
        build_train_pipeline(good, 1, max_boxes=0)
    with pytest.raises(TypeError, match=r"tf\.data\.Dataset"):
        build_train_pipeline([1, 2], 1)
    with pytest.raises(ValueError, match="overflow"):
        build_train_pipeline(good, 1, overflow="truncate")

    float_image = dict(LOADER_SIGNATURE, image=tf.TensorSpec([None, None, 3], tf.float32))
    dataset = tf.data.Dataset.from_generator(lambda: iter([]), output_signature=float_image)
    with pytest.raises(ValueError, match="`image` must be uint8"):
        build_train_pipeline(dataset, 1)
    with pytest.raises(ValueError, match="`image` must be uint8"):
        build_eval_pipeline(dataset, 1)
    rank_two = dict(LOADER_SIGNATURE, image=tf.TensorSpec([None, None], tf.uint8))
    dataset = tf.data.Dataset.from_generator(lambda: iter([]), output_signature=rank_two)
    with pytest.raises(ValueError, match="rank 3"):
        build_train_pipeline(dataset, 1)
    no_ids = {k: v for k, v in LOADER_SIGNATURE.items() if k != "image_id"}
    dataset = tf.data.Dataset.from_generator(lambda: iter([]), output_signature=no_ids)
    with pytest.raises(ValueError, match="image_id"):
        build_train_pipeline(dataset, 1)
    with pytest.raises(ValueError, match="mode"):
        ResizeConfig(mode="square")
    with pytest.raises(TypeError, match="flip"):
        AugmentationConfig(flip=0.5)


@pytest.mark.parametrize(
    "element, message",
    [
        (_element(np.zeros((16, 16, 3)), [[0, 0, 4, 4]], [0, 1]), "different lengths"),
        (_element(np.zeros((16, 16, 3)), [[4, 4, 0, 8]], [0]), "inverted"),
        (_element(np.zeros((16, 16, 3)), [[0, 0, np.nan, 4]], [0]), "non-finite"),
        (_element(np.zeros((16, 16, 3)), [[0, 0, 4, 4]], [-1]), "0-based"),
    ],
    ids=["lengths", "inverted", "nan", "negative_class"],
)
def test_bad_elements_raise(element, message):
    pipeline = build_train_pipeline(
        _dataset([element]), 1, resize=ResizeConfig(mode="letterbox", size=32)
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        next(iter(pipeline))
