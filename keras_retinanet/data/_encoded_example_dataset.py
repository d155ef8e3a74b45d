"""Common part of the streaming loaders (TFRecord, TFDS): examples holding encoded images.

A streaming loader turns its source into a dataset of *raw examples* (`RAW_EXAMPLE_SPEC`):
the encoded image, the size the source states (-1 where it states none), normalised yxyx box
coordinates as four separate vectors (so unequal lengths can be reported, not crash), the
source's labels, crowd flags, the image id and a description of where the example comes
from. Each raw example is checked by one Python function (`_check_raw_example`): as a
`tf.numpy_function` inside `as_dataset()`, and directly in `records()`. Checked examples are
filtered (with `on_error="skip"`), and only then is the image decoded, in a parallel map.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf

from keras_retinanet.data._annotation_checks import (
    IMAGE_SIZE_MISMATCH,
    MALFORMED_RECORD,
    UNKNOWN_CLASS,
    DataProblem,
    object_areas,
    validate_objects,
)
from keras_retinanet.data._image_codec import decode_rgb_image, read_encoded_image_size
from keras_retinanet.data.annotation_record import AnnotationRecord
from keras_retinanet.data.detection_dataset import DetectionDataset

RAW_EXAMPLE_SPEC = {
    "encoded": tf.TensorSpec(shape=[], dtype=tf.string),
    "height": tf.TensorSpec(shape=[], dtype=tf.int64),  # -1: not stated
    "width": tf.TensorSpec(shape=[], dtype=tf.int64),  # -1: not stated
    "ymin": tf.TensorSpec(shape=[None], dtype=tf.float32),  # normalised to [0, 1]
    "xmin": tf.TensorSpec(shape=[None], dtype=tf.float32),
    "ymax": tf.TensorSpec(shape=[None], dtype=tf.float32),
    "xmax": tf.TensorSpec(shape=[None], dtype=tf.float32),
    "labels": tf.TensorSpec(shape=[None], dtype=tf.int64),  # the source's label ids
    "is_crowd": tf.TensorSpec(shape=[None], dtype=tf.bool),  # empty: no object is crowd
    "area": tf.TensorSpec(shape=[None], dtype=tf.float32),  # empty: box areas
    "image_id": tf.TensorSpec(shape=[], dtype=tf.int64),
    "where": tf.TensorSpec(shape=[], dtype=tf.string),
}
UNKNOWN_SIZE = -1

# Ids made from non-numeric text are hashed into [0, 2**53): unique enough for 10^6 images
# and exact in any JSON reader (doubles hold integers up to 2**53).
HASHED_IMAGE_ID_BUCKETS = 2**53
# Longest run of digits read as an int64 id (19 digits may overflow int64).
MAX_DECIMAL_ID_DIGITS = 18

# Examples held by the shuffle buffer of a streaming loader (serialized, images included).
DEFAULT_SHUFFLE_BUFFER_SIZE = 1024


def image_id_from_text(text: tf.Tensor) -> tf.Tensor:
    """Image id from a string tensor: its value if decimal, otherwise a stable hash.

    Args:
        text: string scalar (e.g. a TFRecord `image/source_id` or a file stem).

    Returns:
        int64 scalar: `int(text)` for up to `MAX_DECIMAL_ID_DIGITS` digits, else the
        fingerprint of the text in `[0, HASHED_IMAGE_ID_BUCKETS)`.
    """
    is_decimal = tf.strings.regex_full_match(text, f"[0-9]{{1,{MAX_DECIMAL_ID_DIGITS}}}")
    return tf.cond(
        is_decimal,
        lambda: tf.strings.to_number(text, out_type=tf.int64),
        lambda: tf.strings.to_hash_bucket_fast(text, HASHED_IMAGE_ID_BUCKETS),
    )


class EncodedExampleDataset(DetectionDataset):
    """A `DetectionDataset` over raw examples with encoded images, checked as they stream.

    Subclasses implement `_raw_examples()` and `__len__`.

    Args:
        class_names: K class names.
        category_ids: K original category ids (default `1..K`).
        label_ids: K label values the source uses for the classes, `label_ids[c]` for class
            `c` (for TFRecords the category ids, for TFDS `0..K-1`).
        on_error: "raise" or "skip".
        shuffle_buffer_size: Examples held by the shuffle buffer.
        min_corner_offset_px: Pixels subtracted from `ymin` and `xmin` after scaling (1 for
            sources that store VOC's 1-based minimum corner unchanged, else 0).
    """

    def __init__(
        self,
        class_names: Sequence[str],
        category_ids: Sequence[int] | None,
        label_ids: Sequence[int],
        on_error: str,
        shuffle_buffer_size: int = DEFAULT_SHUFFLE_BUFFER_SIZE,
        min_corner_offset_px: float = 0.0,
    ) -> None:
        super().__init__(class_names, category_ids, on_error)
        label_ids = np.asarray(label_ids, dtype=np.int64)
        if label_ids.shape != (self.num_classes,):
            raise ValueError(f"{label_ids.size} label ids for {self.num_classes} classes")
        if shuffle_buffer_size < 1:
            raise ValueError(f"shuffle_buffer_size must be >= 1, got {shuffle_buffer_size}")
        self._label_order = np.argsort(label_ids, kind="stable")
        self._sorted_label_ids = label_ids[self._label_order]
        self._shuffle_buffer_size = int(shuffle_buffer_size)
        self._min_corner_offset_px = float(min_corner_offset_px)

    @property
    def shuffle_buffer_size(self) -> int:
        """Examples held by the shuffle buffer of `as_dataset(shuffle=True)`."""
        return self._shuffle_buffer_size

    @abc.abstractmethod
    def _raw_examples(self, shuffle: bool, seed: int | None) -> tf.data.Dataset:
        """Raw examples (`RAW_EXAMPLE_SPEC`), shuffled if asked, before any check."""

    def records(self) -> Iterator[AnnotationRecord]:
        """Iterates over the ground truth, reading the image headers but no pixels."""
        for raw in self._checked_spec(shuffle=False, seed=None).as_numpy_iterator():
            checked = self._checked_or_none(raw)
            if checked is None:
                continue
            boxes, classes, is_crowd, height, width = checked
            area = raw["area"] if raw["area"].size else None
            yield AnnotationRecord(
                image_id=int(raw["image_id"]),
                file=None,
                height=height,
                width=width,
                boxes=boxes,
                classes=classes,
                is_crowd=is_crowd,
                area=object_areas(area, boxes),
            )

    def as_dataset(self, shuffle: bool = False, seed: int | None = None) -> tf.data.Dataset:
        raw = self._checked_spec(shuffle=shuffle, seed=seed)
        checked = raw.map(self._check_in_graph, num_parallel_calls=tf.data.AUTOTUNE)
        kept = checked.filter(lambda example: example["ok"])
        return kept.map(_decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def _checked_spec(self, shuffle: bool, seed: int | None) -> tf.data.Dataset:
        """`_raw_examples()`, after making sure it follows `RAW_EXAMPLE_SPEC`."""
        raw = self._raw_examples(shuffle=shuffle, seed=seed)
        spec = raw.element_spec
        wrong = [
            key
            for key, expected in RAW_EXAMPLE_SPEC.items()
            if key not in spec or not expected.is_compatible_with(spec[key])
        ]
        if wrong or set(spec) != set(RAW_EXAMPLE_SPEC):
            raise TypeError(f"{type(self).__name__} raw examples do not match the spec: {spec}")
        return raw

    def _check_in_graph(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        def check(*values: np.ndarray) -> tuple[np.ndarray, ...]:
            checked = self._checked_or_none(dict(zip(_CHECK_INPUTS, values)))
            if checked is None:
                return (
                    np.zeros((0, 4), np.float32),
                    np.zeros((0,), np.int32),
                    np.zeros((0,), np.bool_),
                    np.int64(0),
                    np.int64(0),
                    np.bool_(False),
                )
            boxes, classes, is_crowd, height, width = checked
            return boxes, classes, is_crowd, np.int64(height), np.int64(width), np.bool_(True)

        boxes, classes, is_crowd, height, width, ok = tf.numpy_function(
            check,
            [raw[key] for key in _CHECK_INPUTS],
            [tf.float32, tf.int32, tf.bool, tf.int64, tf.int64, tf.bool],
            stateful=True,
        )
        boxes.set_shape([None, 4])
        classes.set_shape([None])
        is_crowd.set_shape([None])
        return {
            "encoded": raw["encoded"],
            "where": raw["where"],
            "height": tf.reshape(height, []),
            "width": tf.reshape(width, []),
            "boxes": boxes,
            "classes": classes,
            "is_crowd": is_crowd,
            "image_id": raw["image_id"],
            "ok": tf.reshape(ok, []),
        }

    def _checked_or_none(
        self, raw: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None:
        """Checks a raw example; None if it was skipped (raises with on_error="raise")."""
        where = _text(raw["where"])
        try:
            return self._check_raw_example(raw)
        except DataProblem as problem:
            self._reject(where, problem)
            return None

    def _check_raw_example(
        self, raw: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
        """Validates one raw example.

        Returns:
            boxes float32 `[N, 4]` yxyx pixels (clipped), classes int32 `[N]`, is_crowd bool
            `[N]`, height, width.

        Raises:
            DataProblem: If the example is unusable.
        """
        coordinates = [np.asarray(raw[key], np.float64) for key in ("ymin", "xmin", "ymax", "xmax")]
        labels = np.asarray(raw["labels"], np.int64)
        is_crowd = np.asarray(raw["is_crowd"], np.bool_)
        lengths = [c.size for c in coordinates] + [labels.size]
        optional_lengths = [is_crowd.size, np.size(raw["area"])]
        if len(set(lengths)) != 1 or any(n not in (0, labels.size) for n in optional_lengths):
            raise DataProblem(
                MALFORMED_RECORD,
                "object fields have unequal lengths: ymin, xmin, ymax, xmax, label, is_crowd, "
                "area = " + ", ".join(str(n) for n in [*lengths, *optional_lengths]),
            )
        height, width = read_encoded_image_size(bytes(raw["encoded"]))
        stated = (int(raw["height"]), int(raw["width"]))
        if any(s != UNKNOWN_SIZE and s != a for s, a in zip(stated, (height, width))):
            raise DataProblem(
                IMAGE_SIZE_MISMATCH,
                f"the example states the image size {stated[0]}x{stated[1]} (height x width) "
                f"but its encoded image is {height}x{width}",
            )
        position = np.searchsorted(self._sorted_label_ids, labels)
        position = np.minimum(position, self.num_classes - 1)
        unknown = np.flatnonzero(self._sorted_label_ids[position] != labels)
        if unknown.size:
            k = int(unknown[0])
            raise DataProblem(
                UNKNOWN_CLASS,
                f"object {k}: label {int(labels[k])} is not one of the {self.num_classes} "
                f"known label ids",
            )
        classes = self._label_order[position].astype(np.int32)
        scale = np.array([height, width, height, width], dtype=np.float64)
        offset = np.array([self._min_corner_offset_px] * 2 + [0.0, 0.0], dtype=np.float64)
        boxes = validate_objects(
            np.stack(coordinates, axis=1) * scale - offset,
            classes,
            height,
            width,
            self.num_classes,
        )
        if is_crowd.size == 0:
            is_crowd = np.zeros(labels.size, dtype=np.bool_)
        return boxes, classes, is_crowd, height, width


_CHECK_INPUTS = (
    "encoded",
    "height",
    "width",
    "ymin",
    "xmin",
    "ymax",
    "xmax",
    "labels",
    "is_crowd",
    "area",
    "where",
)


def _decode(example: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    image = decode_rgb_image(example["encoded"])
    size = tf.stack([example["height"], example["width"]])
    check = tf.debugging.Assert(
        tf.reduce_all(tf.equal(tf.shape(image, out_type=tf.int64)[:2], size)),
        ["decoded image size differs from its header:", example["where"], tf.shape(image)],
    )
    with tf.control_dependencies([check]):
        image = tf.identity(image)
    return {
        "image": image,
        "boxes": example["boxes"],
        "classes": example["classes"],
        "is_crowd": example["is_crowd"],
        "image_id": example["image_id"],
    }


def _text(value: bytes | str | np.ndarray) -> str:
    value = value.item() if isinstance(value, np.ndarray) else value
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
