"""The settings every implementation is benchmarked with, and the synthetic batch they share.

ResNet50-FPN (P3-P7), 80 classes, 9 anchors per location, 256-channel heads with 4 hidden
convs, random initialisation (no weights are downloaded), square images of `image_size`
pixels, float32 pixel values in [0, 255]. Every contender trains on the same images and the
same boxes, each in its own label format.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

PAPER_IMAGE_SIZE = 512
PAPER_BATCH_SIZE = 2
PAPER_BACKBONE = "resnet50"
NUM_CLASSES = 80
BOXES_PER_IMAGE = 6
# Padding rows of the box/class tensors (ours and keras-hub both use -1).
PADDING_CLASS = -1
PADDING_BOX = -1.0
# Smallest and largest side of a synthetic box, as a fraction of the image side.
MIN_BOX_FRACTION = 0.08
MAX_BOX_FRACTION = 0.5


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every contender is built and fed with (`backbone` is ours only: the peers are
    always ResNet50; smoke runs use a small backbone and skip them)."""

    image_size: int = PAPER_IMAGE_SIZE
    batch_size: int = PAPER_BATCH_SIZE
    num_classes: int = NUM_CLASSES
    boxes_per_image: int = BOXES_PER_IMAGE
    seed: int = 0
    backbone: str = PAPER_BACKBONE

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, 3)


@dataclasses.dataclass(frozen=True)
class SyntheticBatch:
    """One batch: `images` float32 [B, S, S, 3] in [0, 255]; `boxes_yxyx` float32
    [B, N + 1, 4] pixels; `classes` int32 [B, N + 1]; the last row of each image is padding
    (-1), so every label encoder's padding path runs."""

    images: np.ndarray
    boxes_yxyx: np.ndarray
    classes: np.ndarray

    def real_boxes(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes `[N, 4]` and classes `[N]` of image `index` without the padding rows."""
        keep = self.classes[index] != PADDING_CLASS
        return self.boxes_yxyx[index][keep], self.classes[index][keep]


def synthetic_batch(settings: Settings) -> SyntheticBatch:
    """A reproducible random batch for `settings` (same seed, same batch)."""
    rng = np.random.default_rng(settings.seed)
    size = settings.image_size
    shape = (settings.batch_size, *settings.image_shape)
    images = rng.uniform(0.0, 255.0, size=shape).astype(np.float32)
    count = settings.boxes_per_image
    sides = rng.uniform(MIN_BOX_FRACTION, MAX_BOX_FRACTION, (settings.batch_size, count, 2)) * size
    corners = rng.uniform(0.0, 1.0, (settings.batch_size, count, 2)) * (size - sides)
    boxes = np.concatenate([corners, corners + sides], axis=-1).astype(np.float32)
    classes = rng.integers(0, settings.num_classes, (settings.batch_size, count)).astype(np.int32)
    padding_boxes = np.full((settings.batch_size, 1, 4), PADDING_BOX, np.float32)
    padding_classes = np.full((settings.batch_size, 1), PADDING_CLASS, np.int32)
    return SyntheticBatch(
        images=images,
        boxes_yxyx=np.concatenate([boxes, padding_boxes], axis=1),
        classes=np.concatenate([classes, padding_classes], axis=1),
    )


@contextlib.contextmanager
def keras_policy(name: str):
    """Builds Keras 3 layers under the dtype policy `name`, restoring the previous one."""
    import keras

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
