"""Loader and writer for detection tf.Example TFRecords (TF Object Detection API / Model Garden).

The format is the one Model Garden's `create_coco_tf_record` writes and its
`TfExampleDecoder` reads: one `tf.train.Example` per image with

==================================  ============  =========================================
key                                 type          meaning
==================================  ============  =========================================
image/encoded                       bytes         the JPEG / PNG file
image/format                        bytes         "jpeg" / "png" (written, not read)
image/height, image/width           int64         image size (optional: -1 / absent)
image/source_id                     bytes         the image id as decimal text
image/object/bbox/ymin|xmin|...     float list    box sides normalised by height / width
image/object/class/label            int64 list    the dataset's category ids
image/object/class/text             bytes list    class names (written, not read)
image/object/is_crowd               int64 list    1 for crowd regions (optional)
image/object/area                   float list    object area in pixels (optional)
==================================  ============  =========================================

An image without objects has empty (or absent) object lists.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from keras_retinanet.data._encoded_example_dataset import (
    DEFAULT_SHUFFLE_BUFFER_SIZE,
    HASHED_IMAGE_ID_BUCKETS,
    UNKNOWN_SIZE,
    EncodedExampleDataset,
    image_id_from_text,
)
from keras_retinanet.data.detection_dataset import ON_ERROR_RAISE, DetectionDataset

IMAGE_ENCODED = "image/encoded"
IMAGE_FORMAT = "image/format"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
IMAGE_SOURCE_ID = "image/source_id"
BBOX_YMIN = "image/object/bbox/ymin"
BBOX_XMIN = "image/object/bbox/xmin"
BBOX_YMAX = "image/object/bbox/ymax"
BBOX_XMAX = "image/object/bbox/xmax"
CLASS_LABEL = "image/object/class/label"
CLASS_TEXT = "image/object/class/text"
IS_CROWD = "image/object/is_crowd"
AREA = "image/object/area"

IMAGE_FORMATS = ("png", "jpeg")
DEFAULT_JPEG_QUALITY = 95
# Files read at the same time by the interleave of `TFRecordDataset`.
MAX_FILES_READ_IN_PARALLEL = 8

_FEATURES = {
    IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string),
    IMAGE_HEIGHT: tf.io.FixedLenFeature([], tf.int64, default_value=UNKNOWN_SIZE),
    IMAGE_WIDTH: tf.io.FixedLenFeature([], tf.int64, default_value=UNKNOWN_SIZE),
    IMAGE_SOURCE_ID: tf.io.FixedLenFeature([], tf.string, default_value=""),
    BBOX_YMIN: tf.io.VarLenFeature(tf.float32),
    BBOX_XMIN: tf.io.VarLenFeature(tf.float32),
    BBOX_YMAX: tf.io.VarLenFeature(tf.float32),
    BBOX_XMAX: tf.io.VarLenFeature(tf.float32),
    CLASS_LABEL: tf.io.VarLenFeature(tf.int64),
    IS_CROWD: tf.io.VarLenFeature(tf.int64),
    AREA: tf.io.VarLenFeature(tf.float32),
}


class TFRecordDataset(EncodedExampleDataset):
    """Detection tf.Examples in TFRecord files (see the module docstring for the keys).

    Mapping to the element contract:

    * `image/object/class/label` values are the dataset's category ids; `label_map` gives
      their names. Contiguous class `c` is the c-th smallest id; `category_ids[c]` is that
      id. A label not in `label_map` is an unknown-class problem.
    * boxes: normalised `ymin, xmin, ymax, xmax` times the image height / width.
    * `image_id`: `image/source_id` read as a decimal number; a non-decimal source id (some
      writers store the file name) is replaced by its fingerprint hash in `[0, 2**53)`, an
      empty one by the hash of the encoded image.
    * `image/height` / `image/width`, when present, must match the encoded image.
    * `image/object/area` (optional) becomes the records' `area` (box areas without it).
    * order: the files matched, sorted by name, read interleaved (deterministic).

    Problems are found while reading (see `detection_dataset`); a record that is not a
    tf.Example with these feature types makes iteration fail in `tf.io.parse_single_example`.

    Args:
        file_pattern: A glob pattern or list of patterns / paths of TFRecord files.
        label_map: Category id -> class name (e.g. `{1: "person", 2: "bicycle"}`).
        on_error: "raise" or "skip" (skips the whole image).
        shuffle_buffer_size: Serialized examples held by the shuffle buffer.

    Raises:
        FileNotFoundError: If no file matches.
        ValueError: If `label_map` is empty or `on_error` unknown.
    """

    def __init__(
        self,
        file_pattern: str | Sequence[str],
        label_map: Mapping[int, str],
        on_error: str = ON_ERROR_RAISE,
        shuffle_buffer_size: int = DEFAULT_SHUFFLE_BUFFER_SIZE,
    ):
        patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else file_pattern
        files = sorted({path for p in patterns for path in tf.io.gfile.glob(os.fspath(p))})
        if not files:
            raise FileNotFoundError(f"no TFRecord file matches {file_pattern!r}")
        if not label_map:
            raise ValueError("label_map is empty: map each category id to its class name")
        items = sorted((int(cid), str(name)) for cid, name in label_map.items())
        ids = [cid for cid, _ in items]
        super().__init__([n for _, n in items], ids, ids, on_error, shuffle_buffer_size)
        self._files = files
        self._num_examples: int | None = None

    @property
    def files(self) -> list[str]:
        """The TFRecord files read, sorted."""
        return list(self._files)

    @property
    def label_map(self) -> dict[int, str]:
        """Category id -> class name."""
        return dict(zip(self.category_ids, self.class_names))

    def __len__(self) -> int:
        """Number of records in the files (read once, then cached), skipped ones included."""
        if self._num_examples is None:
            count = tf.data.TFRecordDataset(self._files).reduce(
                np.int64(0), lambda total, _: total + 1
            )
            self._num_examples = int(count)
        return self._num_examples

    def _raw_examples(self, shuffle: bool, seed: int | None) -> tf.data.Dataset:
        files = tf.data.Dataset.from_tensor_slices(self._files)
        if shuffle:
            files = files.shuffle(len(self._files), seed=seed, reshuffle_each_iteration=True)

        def read_file(path: tf.Tensor) -> tf.data.Dataset:
            records = tf.data.TFRecordDataset(path).enumerate()
            return records.map(lambda index, serialized: (path, index, serialized))

        records = files.interleave(
            read_file,
            cycle_length=min(len(self._files), MAX_FILES_READ_IN_PARALLEL),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        if shuffle:
            records = records.shuffle(
                self.shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True
            )
        return records.map(_parse_example, num_parallel_calls=tf.data.AUTOTUNE)


def _parse_example(path: tf.Tensor, index: tf.Tensor, serialized: tf.Tensor) -> dict:
    parsed = tf.io.parse_single_example(serialized, _FEATURES)
    dense = {
        key: tf.sparse.to_dense(value) if isinstance(value, tf.SparseTensor) else value
        for key, value in parsed.items()
    }
    source_id = dense[IMAGE_SOURCE_ID]
    image_id = tf.cond(
        tf.strings.length(source_id) > 0,
        lambda: image_id_from_text(source_id),
        lambda: tf.strings.to_hash_bucket_fast(dense[IMAGE_ENCODED], HASHED_IMAGE_ID_BUCKETS),
    )
    where = tf.strings.join(
        [path, " record #", tf.strings.as_string(index), " (source_id '", source_id, "')"]
    )
    return {
        "encoded": dense[IMAGE_ENCODED],
        "height": dense[IMAGE_HEIGHT],
        "width": dense[IMAGE_WIDTH],
        "ymin": dense[BBOX_YMIN],
        "xmin": dense[BBOX_XMIN],
        "ymax": dense[BBOX_YMAX],
        "xmax": dense[BBOX_XMAX],
        "labels": dense[CLASS_LABEL],
        "is_crowd": tf.not_equal(dense[IS_CROWD], 0),
        "area": dense[AREA],
        "image_id": image_id,
        "where": where,
    }


def write_tfrecord(
    dataset: DetectionDataset,
    path: str,
    num_shards: int = 1,
    image_format: str = "png",
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
) -> list[str]:
    """Writes any `DetectionDataset` as detection tf.Examples (the format `TFRecordDataset` and
    Model Garden's `TfExampleDecoder` read).

    Labels are written as `dataset.category_ids[c]` with `class/text` = `class_names[c]`, so
    `TFRecordDataset(paths, label_map=dict(zip(dataset.category_ids, dataset.class_names)))`
    reads the same classes back. `area` is the box area in pixels; `source_id` the decimal
    image id. The images are re-encoded (PNG keeps them bit-exact).

    Args:
        dataset: The dataset to write (its unshuffled `as_dataset()`).
        path: Output file; with `num_shards > 1` the files are
            `<path>-00000-of-0000N`, examples dealt round-robin.
        num_shards: Number of files.
        image_format: "png" (lossless) or "jpeg".
        jpeg_quality: JPEG quality (0-100) for "jpeg".

    Returns:
        The paths written.
    """
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    path = os.fspath(path)
    paths = (
        [path]
        if num_shards == 1
        else [f"{path}-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]
    )

    def encode(element: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        if image_format == "png":
            encoded = tf.io.encode_png(element["image"])
        else:
            encoded = tf.io.encode_jpeg(element["image"], quality=jpeg_quality)
        return {**element, "encoded": encoded, "size": tf.shape(element["image"])[:2]}

    examples = dataset.as_dataset().map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    try:
        for index, element in enumerate(examples.as_numpy_iterator()):
            example = _detection_example(
                element, dataset.category_ids, dataset.class_names, image_format
            )
            writers[index % num_shards].write(example.SerializeToString())
    finally:
        for writer in writers:
            writer.close()
    return paths


def _detection_example(
    element: dict[str, np.ndarray],
    category_ids: list[int],
    class_names: list[str],
    image_format: str,
) -> tf.train.Example:
    height, width = (int(v) for v in element["size"])
    boxes = element["boxes"].astype(np.float64)
    classes = element["classes"]
    normalised = boxes / np.array([height, width, height, width], dtype=np.float64)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    def floats(values: np.ndarray) -> tf.train.Feature:
        return tf.train.Feature(float_list=tf.train.FloatList(value=values.tolist()))

    def ints(values: Sequence[int]) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    def strings(values: Sequence[bytes]) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))

    feature = {
        IMAGE_ENCODED: strings([element["encoded"]]),
        IMAGE_FORMAT: strings([image_format.encode()]),
        IMAGE_HEIGHT: ints([height]),
        IMAGE_WIDTH: ints([width]),
        IMAGE_SOURCE_ID: strings([str(int(element["image_id"])).encode()]),
        BBOX_YMIN: floats(normalised[:, 0]),
        BBOX_XMIN: floats(normalised[:, 1]),
        BBOX_YMAX: floats(normalised[:, 2]),
        BBOX_XMAX: floats(normalised[:, 3]),
        CLASS_LABEL: ints([category_ids[c] for c in classes]),
        CLASS_TEXT: strings([class_names[c].encode() for c in classes]),
        IS_CROWD: ints([int(c) for c in element["is_crowd"]]),
        AREA: floats(areas),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))
