"""The `tf.data` input pipelines for training and evaluation.

Input: a `tf.data.Dataset` of loader elements,
`{"image": uint8 [H, W, 3] RGB, "boxes": float32 [N, 4] yxyx absolute pixels,
"classes": int32 [N] (0-based), "is_crowd": bool [N], "image_id": int64 []}`.

Training, per element (parallel `map`): validate (raises `InvalidArgumentError` naming the
image_id for unequal object counts, non-finite or inverted boxes, negative classes), clip
boxes to the image -> cast to float32 -> photometric jitter
-> flip -> random crop -> resize (the `ResizeConfig` scale, times the scale-jitter factor,
then cropped to the canvas) -> pad bottom/right -> crowd objects get `CROWD_CLASS` -> limit
to `max_boxes` and pad boxes with -1 / classes with `PADDING_CLASS` -> optional
`encode_targets`; then batch -> prefetch. Every augmentation step moves the boxes with the
pixels, so the boxes always describe the batched image.

Randomness: each element gets its own stateless seed `[2]` = `(seed, r)` where `r` comes
from `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)` zipped with the
(shuffled) elements; every augmentation draws from a split of it. With `seed` set, the
pipeline is deterministic (`tf.data.Options.deterministic`): two pipelines built with the
same seed yield identical batches, while each new iteration (epoch) of one pipeline gets new
augmentations. With `seed=None` the seeds are random and the parallel map may also
reorder elements (`deterministic=False`, a little faster).

Images are float32 in the raw 0..255 range (normalisation belongs to the model); padding
pixels are 0.
"""

import dataclasses
import sys
from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf

from keras_retinanet import label_codes
from keras_retinanet.data import resize_and_pad as rp
from keras_retinanet.data.augmentation import (
    PhotometricJitter,
    RandomCrop,
    RandomFlip,
    ScaleJitter,
)

DEFAULT_MAX_BOXES = 100
DEFAULT_SHUFFLE_BUFFER = 128
# Value of the box coordinates of padded rows in `y["boxes"]`.
BOX_PADDING_VALUE = -1.0

# What to do with an image that has more than `max_boxes` objects.
OVERFLOW_KEEP_LARGEST = "keep_largest"
OVERFLOW_RAISE = "raise"
OVERFLOW_POLICIES = (OVERFLOW_KEEP_LARGEST, OVERFLOW_RAISE)

# Order of the per-element sub-seeds.
_PHOTOMETRIC, _FLIP, _CROP, _SCALE_JITTER = range(4)
_NUM_SEEDS = 4
# First seed word when no seed is given (the second word is then random anyway).
_UNSEEDED_SEED_WORD = 0

_RESERVED_TARGET_KEYS = ("boxes", "classes")

EncodeTargets = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], Mapping[str, tf.Tensor]]


@dataclasses.dataclass(frozen=True)
class ResizeConfig:
    """How images are resized and padded (see `keras_retinanet.data.resize_and_pad`).

    Attributes:
        mode: `"shorter_side"` (paper), `"letterbox"` or `"stretch"` (square export sizes).
        shorter_side: target shorter side (`"shorter_side"` mode).
        max_longer_side: cap on the longer side (`"shorter_side"` mode).
        pad_multiple: padded sides are multiples of this (`"shorter_side"` mode).
        size: side of the square output (`"letterbox"` and `"stretch"` modes).
        fixed_padded_size: `"shorter_side"` mode: pad every image to the square
            `ceil(max_longer_side / pad_multiple) * pad_multiple` (1408 for 1333/128)
            instead of to the next multiple of `pad_multiple` of each image. Required
            with `encode_targets`.
        method: a `tf.image.ResizeMethod` name.
    """

    mode: str = rp.SHORTER_SIDE
    shorter_side: int = rp.DEFAULT_SHORTER_SIDE
    max_longer_side: int = rp.DEFAULT_MAX_LONGER_SIDE
    pad_multiple: int = rp.DEFAULT_PAD_MULTIPLE
    size: int = rp.DEFAULT_SQUARE_SIZE
    fixed_padded_size: bool = False
    method: str = rp.DEFAULT_RESIZE_METHOD

    def __post_init__(self):
        rp.validate_resize_arguments(
            self.mode, self.shorter_side, self.max_longer_side, self.pad_multiple, self.size
        )

    @property
    def fixed_output_size(self) -> tuple[int, int] | None:
        """`(height, width)` shared by every padded image, or `None` when it varies."""
        if self.mode in (rp.LETTERBOX, rp.STRETCH):
            return (self.size, self.size)
        if self.fixed_padded_size:
            side = rp.fixed_padded_side(self.max_longer_side, self.pad_multiple)
            return (side, side)
        return None

    def target_scale(self, image_size: tf.Tensor) -> tf.Tensor:
        """float32 `[2]` `(sy, sx)` this config resizes an `(H, W)` image by (unrounded)."""
        return rp.compute_resize_scale(
            image_size, self.mode, self.shorter_side, self.max_longer_side, self.size
        )

    def padded_size(self, resized_size: tf.Tensor) -> tf.Tensor:
        """int32 `[2]` canvas that holds an image resized to `resized_size`."""
        return rp.compute_padded_size(
            resized_size,
            self.mode,
            self.max_longer_side,
            self.pad_multiple,
            self.size,
            self.fixed_padded_size,
        )


@dataclasses.dataclass(frozen=True)
class AugmentationConfig:
    """The training augmentations; `None` disables one.

    Applied in this order: `photometric` (on the original image), `flip`, `crop` (on the
    original image, before resizing), `scale_jitter` (replaces the plain resize: the image
    is resized by the `ResizeConfig` scale times a random factor and cropped to the padded
    canvas). The default is the paper's: horizontal flip with probability 0.5 only.

    Attributes:
        photometric: colour jitter, never moves boxes.
        flip: horizontal flip.
        crop: random crop of the original image.
        scale_jitter: random scale around the `ResizeConfig` size.
    """

    photometric: PhotometricJitter | None = None
    flip: RandomFlip | None = dataclasses.field(default_factory=RandomFlip)
    crop: RandomCrop | None = None
    scale_jitter: ScaleJitter | None = None

    def __post_init__(self):
        for name, kind in (
            ("photometric", PhotometricJitter),
            ("flip", RandomFlip),
            ("crop", RandomCrop),
            ("scale_jitter", ScaleJitter),
        ):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise TypeError(f"`{name}` must be a {kind.__name__} or None; got {value!r}.")

    @classmethod
    def disabled(cls) -> "AugmentationConfig":
        """No augmentation at all."""
        return cls(photometric=None, flip=None, crop=None, scale_jitter=None)


DEFAULT_RESIZE = ResizeConfig()
DEFAULT_AUGMENTATION = AugmentationConfig()


class BoxOverflowCounter:
    """Counts the images with more than `max_boxes` objects and the objects cut from them.

    Pass one to `build_train_pipeline(..., overflow_counter=...)`; it is updated as the
    pipeline runs (`tf.Variable`s, so it works inside the parallel map).

    Attributes:
        images: int64 variable, images that had more than `max_boxes` objects.
        dropped_boxes: int64 variable, objects removed from them.
    """

    def __init__(self):
        self.images = tf.Variable(0, dtype=tf.int64, trainable=False, name="overflow_images")
        self.dropped_boxes = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="overflow_dropped_boxes"
        )

    def result(self) -> dict[str, int]:
        """`{"images": ..., "dropped_boxes": ...}` as Python ints."""
        return {
            "images": int(self.images.numpy()),
            "dropped_boxes": int(self.dropped_boxes.numpy()),
        }

    def reset(self) -> None:
        """Sets both counts to zero."""
        self.images.assign(0)
        self.dropped_boxes.assign(0)


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1; got {value!r}.")


# key -> (dtype, rank, static size of the last axis or None)
_ELEMENT_CONTRACT = {
    "image": (tf.uint8, 3, 3),
    "boxes": (tf.float32, 2, 4),
    "classes": (tf.int32, 1, None),
    "is_crowd": (tf.bool, 1, None),
    "image_id": (tf.int64, 0, None),
}


def _check_element_spec(dataset: Any, required_keys: tuple[str, ...]) -> None:
    """Checks the loader contract on `dataset.element_spec`; raises `TypeError`/`ValueError`."""
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"`dataset` must be a tf.data.Dataset; got {type(dataset).__name__}.")
    spec = dataset.element_spec
    if not isinstance(spec, Mapping):
        raise TypeError(f"Dataset elements must be dicts of tensors; got {spec!r}.")
    missing = [key for key in required_keys if key not in spec]
    if missing:
        raise ValueError(f"Dataset elements lack the keys {missing}; they have {sorted(spec)}.")
    for key in required_keys:
        dtype, rank, last = _ELEMENT_CONTRACT[key]
        entry = spec[key]
        if not isinstance(entry, tf.TensorSpec):
            raise TypeError(f"`{key}` must be a dense tensor; got {entry!r}.")
        if entry.dtype != dtype:
            raise ValueError(f"`{key}` must be {dtype.name}; got {entry.dtype.name}.")
        if entry.shape.rank is not None and entry.shape.rank != rank:
            raise ValueError(f"`{key}` must have rank {rank}; got shape {entry.shape}.")
        if (
            last is not None
            and entry.shape.rank is not None
            and entry.shape[-1] not in (None, last)
        ):
            raise ValueError(f"The last axis of `{key}` must be {last}; got shape {entry.shape}.")


def _assert_for_image(condition: tf.Tensor, message: str, image_id: tf.Tensor) -> tf.Operation:
    """`tf.debugging.Assert` whose error names the offending image."""
    return tf.debugging.Assert(condition, [message, "image_id:", image_id])


def _validated_sample(
    element: Mapping[str, tf.Tensor],
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Runtime checks of one training element; returns it with boxes clipped to the image."""
    image = element["image"]
    boxes = element["boxes"]
    classes = element["classes"]
    is_crowd = element["is_crowd"]
    image_id = element["image_id"]
    num_boxes = tf.shape(boxes)[0]
    checks = [
        _assert_for_image(
            tf.equal(tf.shape(image)[2], 3), "`image` must have 3 channels.", image_id
        ),
        _assert_for_image(
            tf.equal(tf.shape(classes)[0], num_boxes),
            "`classes` and `boxes` have different lengths.",
            image_id,
        ),
        _assert_for_image(
            tf.equal(tf.shape(is_crowd)[0], num_boxes),
            "`is_crowd` and `boxes` have different lengths.",
            image_id,
        ),
        _assert_for_image(
            tf.reduce_all(tf.math.is_finite(boxes)), "`boxes` holds a non-finite value.", image_id
        ),
        _assert_for_image(
            tf.reduce_all(boxes[:, 2:] >= boxes[:, :2]),
            "`boxes` holds an inverted box (ymax < ymin or xmax < xmin).",
            image_id,
        ),
        _assert_for_image(
            tf.reduce_all(classes >= 0), "`classes` must be >= 0 (0-based class ids).", image_id
        ),
    ]
    with tf.control_dependencies(checks):
        image = tf.ensure_shape(tf.cast(image, tf.float32), [None, None, 3])
    size_yxyx = tf.tile(tf.cast(tf.shape(image)[:2], tf.float32), [2])
    boxes = tf.minimum(tf.maximum(boxes, 0.0), size_yxyx)
    return image, boxes, classes, is_crowd, image_id


def _limit_and_pad_boxes(
    boxes: tf.Tensor,
    classes: tf.Tensor,
    image_id: tf.Tensor,
    max_boxes: int,
    overflow: str,
    overflow_counter: BoxOverflowCounter | None,
    warn_on_overflow: bool,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Keeps at most `max_boxes` objects and pads to exactly `max_boxes` rows.

    Args:
        boxes: float32 `[N, 4]` yxyx pixels.
        classes: int32 `[N]`, crowd objects already `CROWD_CLASS`.
        image_id: int64 scalar, for messages.
        max_boxes: rows of the output.
        overflow: `OVERFLOW_KEEP_LARGEST` keeps the `max_boxes` largest boxes by area (ties:
            the earlier one) in their input order; `OVERFLOW_RAISE` raises
            `InvalidArgumentError`.
        overflow_counter: updated for every element when given.
        warn_on_overflow: print a warning to stderr for each image that is cut.

    Returns:
        `(boxes [max_boxes, 4] padded with -1, classes [max_boxes] padded with PADDING_CLASS)`.
    """
    num_boxes = tf.shape(boxes)[0]
    excess = num_boxes - max_boxes
    if overflow == OVERFLOW_RAISE:
        with tf.control_dependencies(
            [
                tf.debugging.Assert(
                    num_boxes <= max_boxes,
                    [
                        f"An image has more than max_boxes={max_boxes} objects; image_id:",
                        image_id,
                        "objects:",
                        num_boxes,
                    ],
                )
            ]
        ):
            boxes = tf.identity(boxes)
    else:
        side_effects = []
        if overflow_counter is not None:
            dropped = tf.cast(tf.maximum(excess, 0), tf.int64)
            side_effects.append(overflow_counter.images.assign_add(tf.sign(dropped)))
            side_effects.append(overflow_counter.dropped_boxes.assign_add(dropped))
        if warn_on_overflow:

            def warn() -> tf.Tensor:
                printed = tf.print(
                    "WARNING: keras_retinanet input pipeline: image_id",
                    image_id,
                    "has",
                    num_boxes,
                    f"objects; keeping the {max_boxes} largest.",
                    output_stream=sys.stderr,
                )
                with tf.control_dependencies([printed]):
                    return tf.constant(True)

            side_effects.append(tf.cond(excess > 0, warn, lambda: tf.constant(False)))
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        keep = tf.sort(tf.math.top_k(areas, k=tf.minimum(num_boxes, max_boxes)).indices)
        with tf.control_dependencies(side_effects):
            boxes = tf.gather(boxes, keep)
            classes = tf.gather(classes, keep)

    padding = tf.maximum(max_boxes - tf.shape(boxes)[0], 0)
    boxes = tf.pad(boxes, [[0, padding], [0, 0]], constant_values=BOX_PADDING_VALUE)
    classes = tf.pad(classes, [[0, padding]], constant_values=label_codes.PADDING_CLASS)
    boxes = tf.ensure_shape(boxes, [max_boxes, 4])
    classes = tf.ensure_shape(classes, [max_boxes])
    return boxes, classes


def build_train_pipeline(
    dataset: tf.data.Dataset,
    batch_size: int,
    resize: ResizeConfig = DEFAULT_RESIZE,
    augmentation: AugmentationConfig = DEFAULT_AUGMENTATION,
    max_boxes: int = DEFAULT_MAX_BOXES,
    encode_targets: EncodeTargets | None = None,
    seed: int | None = None,
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
    overflow: str = OVERFLOW_KEEP_LARGEST,
    overflow_counter: BoxOverflowCounter | None = None,
    warn_on_overflow: bool = True,
    drop_remainder: bool = True,
) -> tf.data.Dataset:
    """Builds the training pipeline (see the module docstring for the steps and seeding).

    Batching: with a fixed output size (`"letterbox"`, `"stretch"`, or `"shorter_side"` with
    `fixed_padded_size=True`) every image has that size. In `"shorter_side"` mode without
    it, each image is padded to a multiple of `pad_multiple` and a batch is padded
    (bottom/right, zeros) to its largest height and width, which are multiples of
    `pad_multiple` too; `encode_targets` is then refused because its anchors must be made
    for the batched size.

    Args:
        dataset: loader elements (module docstring); `image` must be uint8 `[H, W, 3]`.
        batch_size: images per batch, `>= 1`.
        resize: the `ResizeConfig`.
        augmentation: the `AugmentationConfig`; `AugmentationConfig.disabled()` for none.
        max_boxes: rows of `y["boxes"]` / `y["classes"]`, `>= 1`.
        encode_targets: optional `f(image_shape int32 [3], boxes [max_boxes, 4],
            classes [max_boxes]) -> dict of tensors`, called per sample after padding; its
            items are added to `y` (they must not be named "boxes" or "classes").
        seed: int for a deterministic pipeline (order and augmentations), `None` for a
            random one.
        shuffle_buffer: elements in the shuffle buffer (decoded images, so memory-heavy;
            loaders should shuffle file order themselves); 0 disables shuffling.
        overflow: `"keep_largest"` (keep the `max_boxes` largest objects by area, in their
            input order) or `"raise"` (raise `InvalidArgumentError` naming the image_id).
        overflow_counter: optional `BoxOverflowCounter` counting images and objects cut.
        warn_on_overflow: with `"keep_largest"`, print a warning to stderr per image cut.
        drop_remainder: drop the last incomplete batch (static batch size).

    Returns:
        A dataset of `(images float32 [B, H, W, 3] in 0..255, y)` with
        `y["boxes"]` float32 `[B, max_boxes, 4]` yxyx pixels of the batched image, padded
        rows -1; `y["classes"]` int32 `[B, max_boxes]`: class ids, `CROWD_CLASS` (-2) for
        crowd objects, `PADDING_CLASS` (-1) for padded rows; plus the `encode_targets`
        items, batched.

    Raises:
        TypeError / ValueError: a bad argument or a dataset that breaks the loader contract.
    """
    _check_element_spec(dataset, tuple(_ELEMENT_CONTRACT))
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("max_boxes", max_boxes)
    if not isinstance(resize, ResizeConfig):
        raise TypeError(f"`resize` must be a ResizeConfig; got {resize!r}.")
    if not isinstance(augmentation, AugmentationConfig):
        raise TypeError(f"`augmentation` must be an AugmentationConfig; got {augmentation!r}.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"`seed` must be an int or None; got {seed!r}.")
    if (
        isinstance(shuffle_buffer, bool)
        or not isinstance(shuffle_buffer, int)
        or shuffle_buffer < 0
    ):
        raise ValueError(f"`shuffle_buffer` must be an integer >= 0; got {shuffle_buffer!r}.")
    if overflow not in OVERFLOW_POLICIES:
        raise ValueError(f"`overflow` must be one of {OVERFLOW_POLICIES}; got {overflow!r}.")
    if encode_targets is not None:
        if not callable(encode_targets):
            raise TypeError(f"`encode_targets` must be callable; got {encode_targets!r}.")
        if resize.fixed_output_size is None:
            raise ValueError(
                "`encode_targets` needs one image size for the whole batch, but "
                f"ResizeConfig(mode={resize.mode!r}, fixed_padded_size=False) pads each "
                "batch to its own size. Use ResizeConfig(fixed_padded_size=True), a "
                "'letterbox' or 'stretch' mode, or encode the targets in the model's loss."
            )

    fixed_output_size = resize.fixed_output_size

    def prepare(element: Mapping[str, tf.Tensor], random_word: tf.Tensor):
        image, boxes, classes, is_crowd, image_id = _validated_sample(element)
        first_word = _UNSEEDED_SEED_WORD if seed is None else seed
        element_seed = tf.stack([tf.constant(first_word, tf.int64), random_word])
        seeds = tf.random.experimental.stateless_split(element_seed, num=_NUM_SEEDS)

        sample = (image, boxes, classes, is_crowd)
        if augmentation.photometric is not None:
            sample = augmentation.photometric(*sample, seed=seeds[_PHOTOMETRIC])
        if augmentation.flip is not None:
            sample = augmentation.flip(*sample, seed=seeds[_FLIP])
        if augmentation.crop is not None:
            sample = augmentation.crop(*sample, seed=seeds[_CROP])

        image_size = tf.shape(sample[0])[:2]
        target_scale = resize.target_scale(image_size)
        if augmentation.scale_jitter is not None:
            canvas = resize.padded_size(rp.compute_resized_size(image_size, target_scale))
            image, boxes, classes, is_crowd = augmentation.scale_jitter(
                *sample,
                seed=seeds[_SCALE_JITTER],
                target_scale=target_scale,
                output_size=canvas,
            )
        else:
            image, boxes, classes, is_crowd = sample
            image, boxes, _ = rp.resize_image_and_boxes(image, boxes, target_scale, resize.method)
            canvas = resize.padded_size(tf.shape(image)[:2])
        image = rp.pad_image(image, canvas)

        classes = tf.where(is_crowd, label_codes.CROWD_CLASS, classes)
        boxes, classes = _limit_and_pad_boxes(
            boxes, classes, image_id, max_boxes, overflow, overflow_counter, warn_on_overflow
        )
        targets = {"boxes": boxes, "classes": classes}
        if encode_targets is not None:
            encoded = encode_targets(tf.shape(image), boxes, classes)
            if not isinstance(encoded, Mapping):
                raise TypeError(
                    f"`encode_targets` must return a dict of tensors; got {type(encoded).__name__}."
                )
            clashes = sorted(set(encoded) & set(_RESERVED_TARGET_KEYS))
            if clashes:
                raise ValueError(f"`encode_targets` returned reserved keys {clashes}.")
            targets.update(encoded)
        return image, targets

    if shuffle_buffer > 0:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    random_words = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip(dataset, random_words)
    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if fixed_output_size is not None:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    else:
        dataset = dataset.padded_batch(
            batch_size,
            padded_shapes=(
                tf.TensorShape([None, None, 3]),
                {"boxes": tf.TensorShape([max_boxes, 4]), "classes": tf.TensorShape([max_boxes])},
            ),
            padding_values=(
                tf.constant(rp.PAD_VALUE, tf.float32),
                {
                    "boxes": tf.constant(BOX_PADDING_VALUE, tf.float32),
                    "classes": tf.constant(label_codes.PADDING_CLASS, tf.int32),
                },
            ),
            drop_remainder=drop_remainder,
        )
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return dataset.with_options(_pipeline_options(deterministic=seed is not None))


def build_eval_pipeline(
    dataset: tf.data.Dataset,
    batch_size: int,
    resize: ResizeConfig = DEFAULT_RESIZE,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Builds the evaluation pipeline: resize and pad (no augmentation), batch, prefetch.

    The order of the elements is kept. Batches are padded like in `build_train_pipeline`.
    A box predicted on the batched image maps back to the original image as
    `box / (sy, sx, sy, sx)` (`keras_retinanet.evaluation.detections_to_original`).

    Args:
        dataset: elements with at least `"image"` uint8 `[H, W, 3]` and `"image_id"` int64
            `[]`; other keys are ignored.
        batch_size: images per batch, `>= 1`.
        resize: the `ResizeConfig`.
        drop_remainder: drop the last incomplete batch (keep it to evaluate every image).

    Returns:
        A dataset of `(images float32 [B, H, W, 3] in 0..255, meta)` with
        `meta["image_id"]` int64 `[B]`, `meta["scale"]` float32 `[B, 2]` `(sy, sx)` =
        resized / original size, `meta["original_size"]` int32 `[B, 2]` `(height, width)`.
    """
    _check_element_spec(dataset, ("image", "image_id"))
    _check_positive_int("batch_size", batch_size)
    if not isinstance(resize, ResizeConfig):
        raise TypeError(f"`resize` must be a ResizeConfig; got {resize!r}.")

    def prepare(element: Mapping[str, tf.Tensor]):
        image = element["image"]
        channels_check = _assert_for_image(
            tf.equal(tf.shape(image)[2], 3), "`image` must have 3 channels.", element["image_id"]
        )
        with tf.control_dependencies([channels_check]):
            image = tf.ensure_shape(tf.cast(image, tf.float32), [None, None, 3])
        result = rp.resize_and_pad(image, None, **dataclasses.asdict(resize))
        meta = {
            "image_id": element["image_id"],
            "scale": result.scale,
            "original_size": result.original_size,
        }
        return result.image, meta

    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if resize.fixed_output_size is not None:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    else:
        dataset = dataset.padded_batch(
            batch_size,
            padded_shapes=(
                tf.TensorShape([None, None, 3]),
                {
                    "image_id": tf.TensorShape([]),
                    "scale": tf.TensorShape([2]),
                    "original_size": tf.TensorShape([2]),
                },
            ),
            padding_values=(
                tf.constant(rp.PAD_VALUE, tf.float32),
                {
                    "image_id": tf.constant(0, tf.int64),
                    "scale": tf.constant(0.0, tf.float32),
                    "original_size": tf.constant(0, tf.int32),
                },
            ),
            drop_remainder=drop_remainder,
        )
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return dataset.with_options(_pipeline_options(deterministic=True))


def _pipeline_options(deterministic: bool) -> tf.data.Options:
    options = tf.data.Options()
    options.deterministic = deterministic
    return options
