"""A loader that decodes (or renders) another loader's images once and serves them from memory.

An ablation grid trains ~20 runs on the same images; the generated shapes cost ~9 ms of CPU
each to render, more than a quarter of a training step's work on a 2-core machine. Holding
the decoded images (1,024 x 128 x 128 x 3 bytes = 50 MB for the shapes grid) removes that
cost. The elements, their order and the shuffling are those of the wrapped loader's
contract: element `i` of the unshuffled stream, image indices shuffled with
`DetectionDataset._image_indices` like the built-in loaders do.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from keras_retinanet.data.annotation_record import AnnotationRecord
from keras_retinanet.data.detection_dataset import ELEMENT_SPEC, DetectionDataset

_ARRAY_KEYS = ("image", "boxes", "classes", "is_crowd", "image_id")


class InMemoryDataset(DetectionDataset):
    """Another loader's elements, materialised once.

    Args:
        loader: the loader to copy; its unshuffled `as_dataset()` is read in full here
            (mind the memory for large datasets).
    """

    def __init__(self, loader: DetectionDataset):
        super().__init__(loader.class_names, loader.category_ids, loader.on_error)
        self._records = list(loader.records())
        self._elements = [
            tuple(element[key].numpy() for key in _ARRAY_KEYS)
            for element in loader.as_dataset(shuffle=False)
        ]
        if len(self._elements) != len(self._records):
            raise ValueError(
                f"{type(loader).__name__} gave {len(self._elements)} elements but "
                f"{len(self._records)} records."
            )

    def __len__(self) -> int:
        return len(self._elements)

    def records(self) -> Iterator[AnnotationRecord]:
        return iter(self._records)

    def as_dataset(self, shuffle: bool = False, seed: int | None = None) -> tf.data.Dataset:
        """The stored elements (`ELEMENT_SPEC`), in order or shuffled like the loaders."""

        def element_arrays(index: np.ndarray) -> tuple[np.ndarray, ...]:
            return self._elements[int(index)]

        def load(index: tf.Tensor) -> dict[str, tf.Tensor]:
            arrays = tf.numpy_function(
                element_arrays,
                [index],
                [ELEMENT_SPEC[key].dtype for key in _ARRAY_KEYS],
                stateful=False,
            )
            element = dict(zip(_ARRAY_KEYS, arrays))
            for key, spec in ELEMENT_SPEC.items():
                element[key].set_shape(spec.shape)
            return element

        indices = self._image_indices(len(self._elements), shuffle, seed)
        return indices.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
