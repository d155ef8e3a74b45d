"""Loader for COCO 2017 and Pascal VOC prepared with tensorflow-datasets (never downloads)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_datasets as tfds

from keras_retinanet.data._encoded_example_dataset import (
    DEFAULT_SHUFFLE_BUFFER_SIZE,
    UNKNOWN_SIZE,
    EncodedExampleDataset,
    image_id_from_text,
)
from keras_retinanet.data.detection_dataset import ON_ERROR_RAISE

# The 80 COCO 2017 detection category ids (1..90 with gaps), ascending. TFDS `coco/2017`
# names its 80 labels in the order of the annotation file's categories, which is ascending
# id order, so label `c` has category id `COCO_2017_CATEGORY_IDS[c]`.
COCO_2017_CATEGORY_IDS = (
    *range(1, 12),  # 1..11
    *range(13, 26),  # 13..25
    27,
    28,
    *range(31, 45),  # 31..44
    *range(46, 66),  # 46..65
    67,
    70,
    *range(72, 83),  # 72..82
    *range(84, 91),  # 84..90
)

_COCO = "coco"
_VOC = "voc"
# Supported TFDS names (without version) -> which feature mapping they use.
SUPPORTED_DATASETS = {"coco/2017": _COCO, "voc/2007": _VOC, "voc/2012": _VOC}
# TFDS keeps VOC's 1-based xmin / ymin: pixels to subtract to get the continuous left / top.
VOC_MIN_CORNER_OFFSET_PX = 1.0


class TfdsDataset(EncodedExampleDataset):
    """`coco/2017`, `voc/2007` or `voc/2012` from prepared TFDS data.

    Nothing is downloaded or prepared: point `data_dir` at data prepared beforehand (e.g.
    with `tfds build coco/2017 --data_dir ...`, manual downloads included).

    Mapping of the builders' features to the element contract:

    * `objects/bbox` (normalised yxyx) times the image height / width -> `boxes`;
    * `objects/label` (the builder's `ClassLabel` index) -> `classes` (unchanged);
      `class_names` are the `ClassLabel` names;
    * coco: `objects/is_crowd` -> `is_crowd`, `image/id` -> `image_id`, `category_ids` the
      official COCO ids (`COCO_2017_CATEGORY_IDS`), `objects/area` -> the records' `area`;
    * voc: `objects/is_difficult` -> `is_crowd`, `image_id` from `image/filename`
      ("000005.jpg" -> 5, "2008_000008.jpg" -> 2008000008), `category_ids` `1..20`.
      TFDS stores VOC's 1-based inclusive pixel indices divided by the image size
      (`xmin / width`, `xmax / width`). Scaled back, `xmax` / `ymax` already are the
      continuous right / bottom edges, but `xmin` / `ymin` lie one pixel right of / below
      the left / top edges, so this loader subtracts `VOC_MIN_CORNER_OFFSET_PX` from them:
      boxes agree with `VocXmlDataset` on the same annotations.

    Images are read encoded (`tfds.decode.SkipDecoding`) and decoded by this loader, so
    `records()` reads only their headers. Order: TFDS's deterministic order; with
    `shuffle=True`, TFDS's file shuffling (seeded by `seed`) plus a shuffle buffer.

    Args:
        name: "coco/2017", "voc/2007" or "voc/2012", optionally with a version
            ("coco/2017:1.1.0").
        split: The split, e.g. "train", "validation", "test" or a TFDS slice ("train[:10%]").
        data_dir: Folder holding the prepared TFDS data (TFDS's default when None).
        on_error: "raise" or "skip" (skips the whole image).
        shuffle_buffer_size: Examples held by the shuffle buffer.

    Raises:
        ValueError: For an unsupported name, or a label count that does not match.
        FileNotFoundError: If the data is not prepared in `data_dir`.
    """

    def __init__(
        self,
        name: str,
        split: str,
        data_dir: str | None = None,
        on_error: str = ON_ERROR_RAISE,
        shuffle_buffer_size: int = DEFAULT_SHUFFLE_BUFFER_SIZE,
    ):
        base_name = name.split(":")[0]
        if base_name not in SUPPORTED_DATASETS:
            raise ValueError(
                f"unsupported TFDS dataset {name!r}: supported are {sorted(SUPPORTED_DATASETS)}"
            )
        self._kind = SUPPORTED_DATASETS[base_name]
        self._name = name
        self._split = split
        self._data_dir = data_dir
        self._builder = tfds.builder(name, data_dir=data_dir)
        label_feature = self._builder.info.features["objects"]["label"]
        class_names = list(label_feature.names)
        if self._kind == _COCO:
            if len(COCO_2017_CATEGORY_IDS) != label_feature.num_classes:
                raise ValueError(
                    f"{name} has {label_feature.num_classes} labels but "
                    f"COCO_2017_CATEGORY_IDS lists {len(COCO_2017_CATEGORY_IDS)} category ids"
                )
            category_ids = list(COCO_2017_CATEGORY_IDS)
        else:
            category_ids = None
        super().__init__(
            class_names,
            category_ids,
            range(label_feature.num_classes),
            on_error,
            shuffle_buffer_size,
            min_corner_offset_px=VOC_MIN_CORNER_OFFSET_PX if self._kind == _VOC else 0.0,
        )
        # Builds the reader once: fails here, not at the first element, if data is missing.
        probe = self._read(shuffle=False, seed=None)
        cardinality = int(probe.cardinality())
        if cardinality < 0:
            cardinality = int(probe.reduce(0, lambda total, _: total + 1))
        self._num_examples = cardinality

    @property
    def name(self) -> str:
        """The TFDS name read."""
        return self._name

    @property
    def split(self) -> str:
        """The split read."""
        return self._split

    @property
    def data_dir(self) -> str | None:
        """The TFDS data folder (None: TFDS's default)."""
        return self._data_dir

    def __len__(self) -> int:
        """Number of examples in the split, skipped ones included."""
        return self._num_examples

    def _read(self, shuffle: bool, seed: int | None) -> tf.data.Dataset:
        try:
            return self._builder.as_dataset(
                split=self._split,
                shuffle_files=shuffle,
                decoders={"image": tfds.decode.SkipDecoding()},
                read_config=tfds.ReadConfig(shuffle_seed=seed),
            )
        except AssertionError as error:  # TFDS's "could not find data" is an assert
            raise FileNotFoundError(
                f"TFDS data for {self._name} is not prepared in "
                f"{self._data_dir or 'the default TFDS data_dir'} ({error}); this loader never "
                "downloads: prepare it first, e.g. `tfds build "
                f"{self._name} --data_dir <dir>`"
            ) from None

    def _raw_examples(self, shuffle: bool, seed: int | None) -> tf.data.Dataset:
        examples = self._read(shuffle, seed)
        if shuffle:
            examples = examples.shuffle(
                self.shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True
            )
        to_raw = self._coco_raw if self._kind == _COCO else self._voc_raw
        return examples.map(to_raw, num_parallel_calls=tf.data.AUTOTUNE)

    def _coco_raw(self, example: dict[str, Any]) -> dict[str, tf.Tensor]:
        image_id = example["image/id"]
        where = tf.strings.join(
            [f"{self._name} [{self._split}] image/id ", tf.strings.as_string(image_id)]
        )
        objects = example["objects"]
        area = tf.cast(objects["area"], tf.float32)
        return _raw(example, objects["is_crowd"], area, image_id, where)

    def _voc_raw(self, example: dict[str, Any]) -> dict[str, tf.Tensor]:
        filename = example["image/filename"]
        stem = tf.strings.regex_replace(filename, r"\.[^.]*$", "")
        image_id = image_id_from_text(tf.strings.regex_replace(stem, "_", ""))
        where = tf.strings.join([f"{self._name} [{self._split}] image/filename ", filename])
        no_area = tf.zeros([0], tf.float32)
        return _raw(example, example["objects"]["is_difficult"], no_area, image_id, where)


def _raw(
    example: dict[str, Any],
    is_crowd: tf.Tensor,
    area: tf.Tensor,
    image_id: tf.Tensor,
    where: tf.Tensor,
) -> dict[str, tf.Tensor]:
    objects = example["objects"]
    bbox = tf.reshape(objects["bbox"], [-1, 4])
    return {
        "encoded": example["image"],
        "height": tf.constant(UNKNOWN_SIZE, tf.int64),
        "width": tf.constant(UNKNOWN_SIZE, tf.int64),
        "ymin": bbox[:, 0],
        "xmin": bbox[:, 1],
        "ymax": bbox[:, 2],
        "xmax": bbox[:, 3],
        "labels": tf.cast(objects["label"], tf.int64),
        "is_crowd": tf.cast(is_crowd, tf.bool),
        "area": area,
        "image_id": tf.cast(image_id, tf.int64),
        "where": where,
    }
