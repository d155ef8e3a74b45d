"""The abstract base of all dataset loaders and the element contract they share.

Element contract
----------------
`DetectionDataset.as_dataset()` returns a `tf.data.Dataset` whose elements are dicts
(`ELEMENT_SPEC`)::

    {"image":    uint8   [H, W, 3]  RGB, decoded inside the tf.data graph,
     "boxes":    float32 [N, 4]     yxyx (ymin, xmin, ymax, xmax), absolute pixels in the
                                    image's own coordinates,
     "classes":  int32   [N]        contiguous 0-based class ids (`class_names[c]`),
     "is_crowd": bool    [N]        regions to ignore in matching, not negatives
                                    (COCO `iscrowd`, VOC `difficult`),
     "image_id": int64   []         the dataset's image id}

N may be 0 (an image without objects). Pixel coordinates are continuous: pixel `(r, c)`
covers `[r, r + 1) x [c, c + 1)`, a box around the whole image is `(0, 0, H, W)`, and
`0 <= ymin < ymax <= H`, `0 <= xmin < xmax <= W` always hold. `category_ids[c]` is the
dataset's own category id of class `c` (for writing COCO results). `records()` lists the
same ground truth per image as `AnnotationRecord`s without decoding pixels where the
format allows it.

Order: without shuffling the order is fixed (the loader's documented order); with
`shuffle=True` and a seed the order is a deterministic function of the seed (re-shuffled
each epoch, the same sequence of epochs for the same seed).

Malformed input
---------------
A missing or unreadable image, an image whose size disagrees with its annotations, a box
that is inverted, has zero area or lies more than `BOX_CLIP_TOLERANCE_PX` (1 px) outside the
image, a class label outside `[0, num_classes)` or an unknown class name is a problem of
the sample. With `on_error="raise"` (the default) it raises `FileNotFoundError` (missing
image) or `ValueError`, naming the file and the record (annotation id, line, XML file,
TFRecord record index). With `on_error="skip"` the whole image is skipped, never just the
offending object: dropping one object would turn a real object into background and teach
the detector to miss it. Each skipped image is logged (a WARNING line naming it) and
counted in `skipped` (images per reason); `skipped_records` names them. Boxes sticking out
of the image by at most 1 px (rounding) are clipped, not reported.

Problems that make a whole annotation file unreadable (broken JSON / XML / CSV syntax,
missing required fields, duplicate ids) always raise `ValueError`, whatever `on_error` says.

Loaders that index their files when constructed (COCO JSON, VOC XML, CSV, shapes) find and
report every problem there, so `len()` counts the images kept. Streaming loaders (TFRecord,
TFDS) check each example as it is read: with "raise", iteration fails with a
`tf.errors.InvalidArgumentError` carrying the same message; with "skip", `skipped` grows as
the data is read, and `len()` counts the examples before skipping.
"""

from __future__ import annotations

import abc
import collections
import logging
import threading
from collections.abc import Iterator, Sequence

import tensorflow as tf

from keras_retinanet.data._annotation_checks import MISSING_IMAGE, DataProblem
from keras_retinanet.data.annotation_record import AnnotationRecord

logger = logging.getLogger(__name__)

ON_ERROR_RAISE = "raise"
ON_ERROR_SKIP = "skip"
ON_ERROR_CHOICES = (ON_ERROR_RAISE, ON_ERROR_SKIP)

ELEMENT_SPEC = {
    "image": tf.TensorSpec(shape=[None, None, 3], dtype=tf.uint8),
    "boxes": tf.TensorSpec(shape=[None, 4], dtype=tf.float32),
    "classes": tf.TensorSpec(shape=[None], dtype=tf.int32),
    "is_crowd": tf.TensorSpec(shape=[None], dtype=tf.bool),
    "image_id": tf.TensorSpec(shape=[], dtype=tf.int64),
}


class DetectionDataset(abc.ABC):
    """Base of the dataset loaders: class metadata, the error policy and the skip report.

    Subclasses implement `__len__`, `records()` and `as_dataset()` (see the module docstring
    for the element contract) and report bad samples with `_reject()`.

    Args:
        class_names: K class names; contiguous class id `c` is `class_names[c]`.
        category_ids: K original category ids of the dataset (`category_ids[c]` belongs to
            class `c`), used to write COCO results; defaults to `1..K`.
        on_error: "raise" or "skip": what to do with a malformed sample (see the module
            docstring).
    """

    def __init__(
        self,
        class_names: Sequence[str],
        category_ids: Sequence[int] | None = None,
        on_error: str = ON_ERROR_RAISE,
    ) -> None:
        class_names = [str(name) for name in class_names]
        if not class_names:
            raise ValueError("class_names is empty: a dataset needs at least one class")
        duplicates = sorted(n for n, c in collections.Counter(class_names).items() if c > 1)
        if duplicates:
            raise ValueError(f"class_names has duplicates: {duplicates}")
        if category_ids is None:
            category_ids = range(1, len(class_names) + 1)
        category_ids = [int(i) for i in category_ids]
        if len(category_ids) != len(class_names):
            raise ValueError(f"{len(category_ids)} category_ids for {len(class_names)} class_names")
        if len(set(category_ids)) != len(category_ids):
            raise ValueError(f"category_ids has duplicates: {category_ids}")
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
        self._class_names = class_names
        self._category_ids = category_ids
        self._on_error = on_error
        self._skipped_records: dict[str, str] = {}
        self._skip_lock = threading.Lock()

    @property
    def class_names(self) -> list[str]:
        """K class names; index = contiguous class id."""
        return list(self._class_names)

    @property
    def num_classes(self) -> int:
        """Number of classes K."""
        return len(self._class_names)

    @property
    def category_ids(self) -> list[int]:
        """K original category ids: `category_ids[c]` is the dataset's id of class `c`."""
        return list(self._category_ids)

    @property
    def on_error(self) -> str:
        """The error policy, "raise" or "skip"."""
        return self._on_error

    @property
    def skipped(self) -> dict[str, int]:
        """Number of skipped images per reason (empty unless `on_error="skip"`)."""
        with self._skip_lock:
            return dict(sorted(collections.Counter(self._skipped_records.values()).items()))

    @property
    def skipped_records(self) -> dict[str, str]:
        """Skipped images: where each came from (file and record) -> reason."""
        with self._skip_lock:
            return dict(self._skipped_records)

    def skip_report(self) -> str:
        """One line summarising what was skipped, e.g. "skipped 2 images: missing_image=2"."""
        counts = self.skipped
        if not counts:
            return f"{type(self).__name__}: nothing skipped"
        detail = ", ".join(f"{reason}={count}" for reason, count in counts.items())
        return f"{type(self).__name__}: skipped {sum(counts.values())} images: {detail}"

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of images."""

    @abc.abstractmethod
    def records(self) -> Iterator[AnnotationRecord]:
        """Iterates over the per-image ground truth, in the unshuffled order of `as_dataset`."""

    @abc.abstractmethod
    def as_dataset(self, shuffle: bool = False, seed: int | None = None) -> tf.data.Dataset:
        """Builds the tf.data pipeline of elements (see the module docstring).

        Args:
            shuffle: Shuffle the images (re-shuffled each epoch).
            seed: Seed of the shuffle; with a seed the order is reproducible.

        Returns:
            A `tf.data.Dataset` with element spec `ELEMENT_SPEC`.
        """

    def _reject(self, where: str, problem: DataProblem) -> None:
        """Raises or records a bad sample according to `on_error`.

        Args:
            where: The sample's origin (file and record), used as the message prefix and as
                the key in `skipped_records` (a sample rejected twice counts once).
            problem: What is wrong.

        Raises:
            FileNotFoundError: For a missing image, with `on_error="raise"`.
            ValueError: For any other problem, with `on_error="raise"`.
        """
        message = f"{where}: {problem}"
        if self._on_error == ON_ERROR_RAISE:
            if problem.reason == MISSING_IMAGE:
                raise FileNotFoundError(message)
            raise ValueError(message)
        with self._skip_lock:
            if where in self._skipped_records:
                return
            self._skipped_records[where] = problem.reason
        logger.warning("Skipping image (%s): %s", problem.reason, message)

    @staticmethod
    def _image_indices(num_images: int, shuffle: bool, seed: int | None) -> tf.data.Dataset:
        """int64 image indices `0..num_images - 1`, fully shuffled if asked."""
        indices = tf.data.Dataset.range(num_images)
        if shuffle and num_images > 1:
            indices = indices.shuffle(num_images, seed=seed, reshuffle_each_iteration=True)
        return indices
