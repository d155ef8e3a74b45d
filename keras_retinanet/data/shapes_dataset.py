"""A generated detection dataset of flat-coloured shapes on textured backgrounds.

Every image is a pure function of `(seed, index)`: the same seed gives bit-identical
images and boxes on every run, in any order, so it serves as the default dataset of the
demo and of the tests. Boxes are exact: the tight box of the pixels of each shape that
remain visible in the final image.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterator

import numpy as np
import PIL.Image
import tensorflow as tf

from keras_retinanet.data.annotation_record import AnnotationRecord
from keras_retinanet.data.detection_dataset import ELEMENT_SPEC, DetectionDataset

SHAPE_CLASS_NAMES = ("rectangle", "ellipse", "triangle", "cross", "ring")
RECTANGLE, ELLIPSE, TRIANGLE, CROSS, RING = range(len(SHAPE_CLASS_NAMES))

MIN_IMAGE_SIZE = 64
DEFAULT_IMAGE_SIZE = 256
DEFAULT_MAX_OBJECTS = 8
# Object size is sqrt(height * width) of its drawing window, drawn log-uniformly.
DEFAULT_MIN_SIZE = 12
SMALLEST_MIN_SIZE = 8
DEFAULT_MAX_SIZE_FRACTION = 0.8  # of the image size
MAX_ASPECT_RATIO = 3.0  # height / width drawn log-uniformly in [1/3, 3]
MIN_SIDE_PX = 6  # no window side is thinner than this
MIN_STROKE_PX = 2.5  # thinnest arm of a cross / wall of a ring
# A later shape may cover at most 40% of an earlier one (it must keep 60% of its pixels).
MIN_VISIBLE_FRACTION = 0.6
PLACEMENT_ATTEMPTS = 30

# Independent random streams per image, so annotations can be made without painting.
LAYOUT_STREAM = 0
PAINT_STREAM = 1

# Final sensor-like noise: every channel of every pixel moves by an integer in [-8, 8].
NOISE_AMPLITUDE = 8
# Object colour: the best of a few random candidates, scored by the 10th percentile of its
# distance to (a sample of) the pixels it is drawn over.
COLOUR_CANDIDATES = 12
CONTRAST_SAMPLE_PIXELS = 256
CONTRAST_PERCENTILE = 10
# Backgrounds: gradient + noise, stripes, checker board, smooth colour blobs.
GRADIENT, STRIPES, CHECKER, BLOBS = range(4)
NUM_BACKGROUNDS = 4
BACKGROUND_MAX_CONTRAST = 70.0  # per channel, between a background's two colours
BACKGROUND_NOISE_STD = (4.0, 16.0)
PATTERN_PERIOD_PX = (6, 40)
BLOB_GRID = (2, 6)

COCO_IMAGES_DIR = "images"
COCO_ANNOTATION_FILE = "annotations.json"


@dataclasses.dataclass(frozen=True, eq=False)
class _Layout:
    """Where the shapes of one image are (no colours)."""

    classes: np.ndarray  # int32 [N]
    placements: list[tuple[int, int, np.ndarray]]  # (top, left, bool mask [h, w]) per shape
    instance_map: np.ndarray  # int16 [S, S]: index of the visible shape, -1 background
    boxes: np.ndarray  # float32 [N, 4] yxyx pixels of the visible pixels
    visible_areas: np.ndarray  # int64 [N] visible pixel count per shape


class ShapesDataset(DetectionDataset):
    """Rectangles, ellipses, triangles, crosses and rings on noisy, textured backgrounds.

    Each image has `min_objects..max_objects` shapes (uniform) of uniformly drawn classes.
    A shape's size `sqrt(height * width)` is log-uniform in `[min_size, max_size]`, its
    aspect ratio log-uniform in `[1/3, 3]`, and it lies wholly inside the image. Shapes may
    overlap, later ones on top, but none covers more than 40% of an earlier one (placements
    that would are redrawn, then dropped). Shapes are flat-coloured, with a colour chosen to
    contrast with what is under them; backgrounds are a noisy gradient, stripes, a checker
    board or smooth colour blobs; a final uniform noise of +-`NOISE_AMPLITUDE` covers all.

    Boxes are the tight yxyx box of each shape's visible pixels (continuous pixel
    coordinates: a shape whose visible pixels span rows `r0..r1` has `ymin = r0`,
    `ymax = r1 + 1`). `image_id` is the image's index; `category_ids` are `1..5`; no
    object is crowd.

    Args:
        num_images: Number of images.
        image_size: Height and width of the square images (>= 64).
        seed: Non-negative seed; image `i` depends only on `(seed, i)`.
        min_objects: Fewest shapes per image (0 allows empty images).
        max_objects: Most shapes per image.
        min_size: Smallest shape size in pixels (>= 8).
        max_size: Largest shape size in pixels (default 80% of `image_size`).
    """

    def __init__(
        self,
        num_images: int,
        image_size: int = DEFAULT_IMAGE_SIZE,
        seed: int = 0,
        min_objects: int = 1,
        max_objects: int = DEFAULT_MAX_OBJECTS,
        min_size: int = DEFAULT_MIN_SIZE,
        max_size: int | None = None,
    ):
        super().__init__(SHAPE_CLASS_NAMES)
        if max_size is None:
            max_size = int(DEFAULT_MAX_SIZE_FRACTION * image_size)
        if num_images < 0:
            raise ValueError(f"num_images must be >= 0, got {num_images}")
        if image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"image_size must be >= {MIN_IMAGE_SIZE}, got {image_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if not 0 <= min_objects <= max_objects:
            raise ValueError(
                f"need 0 <= min_objects <= max_objects, got {min_objects}, {max_objects}"
            )
        if not SMALLEST_MIN_SIZE <= min_size <= max_size <= image_size:
            raise ValueError(
                f"need {SMALLEST_MIN_SIZE} <= min_size <= max_size <= image_size, got "
                f"{min_size}, {max_size}, {image_size}"
            )
        self._num_images = int(num_images)
        self._image_size = int(image_size)
        self._seed = int(seed)
        self._min_objects = int(min_objects)
        self._max_objects = int(max_objects)
        self._min_size = int(min_size)
        self._max_size = int(max_size)

    @property
    def image_size(self) -> int:
        """Height and width of the images."""
        return self._image_size

    @property
    def seed(self) -> int:
        """The seed."""
        return self._seed

    def get_config(self) -> dict[str, int]:
        """The constructor arguments; `ShapesDataset(**config)` rebuilds the same data."""
        return {
            "num_images": self._num_images,
            "image_size": self._image_size,
            "seed": self._seed,
            "min_objects": self._min_objects,
            "max_objects": self._max_objects,
            "min_size": self._min_size,
            "max_size": self._max_size,
        }

    def __len__(self) -> int:
        return self._num_images

    def records(self) -> Iterator[AnnotationRecord]:
        """Iterates over the annotations; computes the layouts only (no painting)."""
        for index in range(self._num_images):
            yield self._record(index, self._layout(index))

    def render(self, index: int) -> tuple[np.ndarray, AnnotationRecord]:
        """Draws one image.

        Args:
            index: Image index in `[0, len(self))`.

        Returns:
            The uint8 `[S, S, 3]` RGB image and its annotations.
        """
        self._check_index(index)
        layout = self._layout(index)
        return self._paint(index, layout), self._record(index, layout)

    def visible_masks(self, index: int) -> np.ndarray:
        """bool `[N, S, S]`: the visible pixels of each shape of image `index`."""
        self._check_index(index)
        layout = self._layout(index)
        shape_ids = np.arange(len(layout.classes), dtype=np.int16)
        return layout.instance_map[None] == shape_ids[:, None, None]

    def as_dataset(self, shuffle: bool = False, seed: int | None = None) -> tf.data.Dataset:
        def render_arrays(index: np.ndarray) -> tuple[np.ndarray, ...]:
            image, record = self.render(int(index))
            return image, record.boxes, record.classes, record.is_crowd

        def load(index: tf.Tensor) -> dict[str, tf.Tensor]:
            image, boxes, classes, is_crowd = tf.numpy_function(
                render_arrays, [index], [tf.uint8, tf.float32, tf.int32, tf.bool], stateful=False
            )
            element = {
                "image": image,
                "boxes": boxes,
                "classes": classes,
                "is_crowd": is_crowd,
                "image_id": index,
            }
            for key, spec in ELEMENT_SPEC.items():
                element[key].set_shape(spec.shape)
            image.set_shape([self._image_size, self._image_size, 3])
            return element

        indices = self._image_indices(self._num_images, shuffle, seed)
        return indices.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def write_coco(self, folder: str) -> tuple[str, str]:
        """Writes the dataset as PNG images plus a COCO JSON file.

        `CocoJsonDataset(*shapes.write_coco(folder))` reads back identical elements. The
        annotations' `area` is the number of visible pixels of the shape.

        Args:
            folder: Output folder (created if needed); images go to `folder/images/`.

        Returns:
            `(annotation_file, image_dir)`.
        """
        folder = os.fspath(folder)
        image_dir = os.path.join(folder, COCO_IMAGES_DIR)
        os.makedirs(image_dir, exist_ok=True)
        images, annotations = [], []
        for index in range(self._num_images):
            layout = self._layout(index)
            file_name = f"{index:06d}.png"
            PIL.Image.fromarray(self._paint(index, layout)).save(os.path.join(image_dir, file_name))
            images.append(
                {
                    "id": index,
                    "file_name": file_name,
                    "height": self._image_size,
                    "width": self._image_size,
                }
            )
            for box, class_id, area in zip(layout.boxes, layout.classes, layout.visible_areas):
                ymin, xmin, ymax, xmax = (float(v) for v in box)
                annotations.append(
                    {
                        "id": len(annotations) + 1,  # COCO annotation ids start at 1
                        "image_id": index,
                        "category_id": self.category_ids[int(class_id)],
                        "bbox": [xmin, ymin, xmax - xmin, ymax - ymin],
                        "area": int(area),
                        "iscrowd": 0,
                    }
                )
        categories = [
            {"id": cid, "name": name, "supercategory": "shape"}
            for cid, name in zip(self.category_ids, self.class_names)
        ]
        coco = {
            "info": {"description": f"ShapesDataset {self.get_config()}"},
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        annotation_file = os.path.join(folder, COCO_ANNOTATION_FILE)
        with open(annotation_file, "w", encoding="utf-8") as file:
            json.dump(coco, file)
        return annotation_file, image_dir

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self._num_images:
            raise IndexError(f"image index {index} not in [0, {self._num_images})")

    def _record(self, index: int, layout: _Layout) -> AnnotationRecord:
        return AnnotationRecord(
            image_id=index,
            file=None,
            height=self._image_size,
            width=self._image_size,
            boxes=layout.boxes,
            classes=layout.classes,
            is_crowd=np.zeros(len(layout.classes), dtype=np.bool_),
            area=layout.visible_areas.astype(np.float32),
        )

    def _layout(self, index: int) -> _Layout:
        """Places the shapes of image `index` (uses the layout stream only)."""
        rng = np.random.default_rng([self._seed, index, LAYOUT_STREAM])
        size = self._image_size
        instance_map = np.full((size, size), -1, dtype=np.int16)
        full_areas: list[int] = []
        visible_areas: list[int] = []
        classes: list[int] = []
        placements: list[tuple[int, int, np.ndarray]] = []
        num_objects = int(rng.integers(self._min_objects, self._max_objects + 1))
        log_sizes = (math.log(self._min_size), math.log(self._max_size))
        log_ratio = math.log(MAX_ASPECT_RATIO)
        for _ in range(num_objects):
            class_id = int(rng.integers(len(SHAPE_CLASS_NAMES)))
            for _ in range(PLACEMENT_ATTEMPTS):
                scale = math.exp(rng.uniform(*log_sizes))
                ratio = math.exp(rng.uniform(-log_ratio, log_ratio))
                height = int(np.clip(round(scale * math.sqrt(ratio)), MIN_SIDE_PX, size))
                width = int(np.clip(round(scale / math.sqrt(ratio)), MIN_SIDE_PX, size))
                top = int(rng.integers(0, size - height + 1))
                left = int(rng.integers(0, size - width + 1))
                mask = _shape_mask(class_id, height, width, rng)
                window = instance_map[top : top + height, left : left + width]
                under = window[mask]
                covered = np.bincount(under[under >= 0], minlength=len(classes))
                remaining = np.asarray(visible_areas, dtype=np.int64) - covered
                if np.any(remaining < MIN_VISIBLE_FRACTION * np.asarray(full_areas)):
                    continue
                visible_areas = remaining.tolist()
                window[mask] = len(classes)
                area = int(mask.sum())
                full_areas.append(area)
                visible_areas.append(area)
                classes.append(class_id)
                placements.append((top, left, mask))
                break
        boxes = np.zeros((len(classes), 4), dtype=np.float32)
        for shape_id, (top, left, mask) in enumerate(placements):
            height, width = mask.shape
            visible = instance_map[top : top + height, left : left + width] == shape_id
            rows = np.flatnonzero(visible.any(axis=1))
            cols = np.flatnonzero(visible.any(axis=0))
            boxes[shape_id] = (
                top + rows[0],
                left + cols[0],
                top + rows[-1] + 1,
                left + cols[-1] + 1,
            )
        return _Layout(
            classes=np.array(classes, dtype=np.int32),
            placements=placements,
            instance_map=instance_map,
            boxes=boxes,
            visible_areas=np.array(visible_areas, dtype=np.int64),
        )

    def _paint(self, index: int, layout: _Layout) -> np.ndarray:
        """Draws the background and the shapes of a layout (uses the paint stream only)."""
        rng = np.random.default_rng([self._seed, index, PAINT_STREAM])
        canvas = _background(rng, self._image_size)
        for top, left, mask in layout.placements:
            height, width = mask.shape
            region = canvas[top : top + height, left : left + width]
            region[mask] = _contrasting_colour(rng, region[mask])
        noise = rng.integers(-NOISE_AMPLITUDE, NOISE_AMPLITUDE + 1, canvas.shape, dtype=np.int16)
        return np.clip(np.rint(canvas) + noise, 0, 255).astype(np.uint8)


def _shape_mask(class_id: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """bool `[height, width]` mask of one shape filling its window."""
    # Pixel centres in [0, 1] window coordinates.
    y = ((np.arange(height, dtype=np.float32) + 0.5) / height)[:, None]
    x = ((np.arange(width, dtype=np.float32) + 0.5) / width)[None, :]
    short_side = min(height, width)
    if class_id == RECTANGLE:
        return np.ones((height, width), dtype=bool)
    if class_id == ELLIPSE:
        return (2 * y - 1) ** 2 + (2 * x - 1) ** 2 <= 1
    if class_id == RING:
        # Wall thickness as a fraction of the radius, at least MIN_STROKE_PX.
        wall = max(rng.uniform(0.3, 0.5), 2 * MIN_STROKE_PX / short_side)
        inner = (1 - min(wall, 0.7)) ** 2
        radius2 = (2 * y - 1) ** 2 + (2 * x - 1) ** 2
        return (radius2 <= 1) & (radius2 > inner)
    if class_id == CROSS:
        arm = max(rng.uniform(0.25, 0.45), MIN_STROKE_PX / short_side)
        return (np.abs(x - 0.5) <= arm / 2) | (np.abs(y - 0.5) <= arm / 2)
    if class_id == TRIANGLE:
        direction = int(rng.integers(4))  # apex up, down, left, right
        if direction < 2:
            mask = np.abs(x - 0.5) <= 0.5 * y  # apex at the top
            return mask if direction == 0 else mask[::-1]
        y_t = ((np.arange(width, dtype=np.float32) + 0.5) / width)[:, None]
        x_t = ((np.arange(height, dtype=np.float32) + 0.5) / height)[None, :]
        mask = (np.abs(x_t - 0.5) <= 0.5 * y_t).T  # apex at the left
        return mask if direction == 2 else mask[:, ::-1]
    raise ValueError(f"unknown shape class {class_id}")


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """float32 `[size, size, 3]` background in [0, 255]."""
    kind = int(rng.integers(NUM_BACKGROUNDS))
    first = rng.uniform(0, 255, 3).astype(np.float32)
    second = np.clip(
        first + rng.uniform(-BACKGROUND_MAX_CONTRAST, BACKGROUND_MAX_CONTRAST, 3), 0, 255
    ).astype(np.float32)
    y = np.arange(size, dtype=np.float32)[:, None]
    x = np.arange(size, dtype=np.float32)[None, :]
    angle = rng.uniform(0, np.pi)
    along = np.cos(angle) * x + np.sin(angle) * y  # [size, size] distance along the angle
    if kind == GRADIENT:
        t = (along - along.min()) / max(float(np.ptp(along)), 1.0)
        canvas = first + t[..., None] * (second - first)
        std = rng.uniform(*BACKGROUND_NOISE_STD)
        canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(std)
    elif kind == STRIPES:
        period = rng.uniform(*PATTERN_PERIOD_PX)
        duty = rng.uniform(0.3, 0.7)
        on = np.mod(along / period, 1.0) < duty
        canvas = np.where(on[..., None], first, second)
    elif kind == CHECKER:
        cell = int(rng.integers(*PATTERN_PERIOD_PX))
        on = ((y // cell) + (x // cell)) % 2 == 0
        canvas = np.where(on[..., None], first, second)
    else:
        nodes = int(rng.integers(BLOB_GRID[0], BLOB_GRID[1] + 1)) + 1
        grid = rng.uniform(0, 255, (nodes, nodes, 3)).astype(np.float32)
        weights = _linear_interpolation_weights(nodes, size)  # [size, nodes]
        rows = np.tensordot(weights, grid, axes=(1, 0))  # [size, nodes, 3]
        canvas = np.tensordot(rows, weights, axes=(1, 1)).transpose(0, 2, 1)
    return np.clip(canvas, 0, 255).astype(np.float32)


def _linear_interpolation_weights(nodes: int, size: int) -> np.ndarray:
    """float32 `[size, nodes]`: weights resampling `nodes` evenly spread values to `size`."""
    position = np.linspace(0, nodes - 1, size, dtype=np.float32)
    lower = np.minimum(np.floor(position).astype(np.int64), nodes - 2)
    fraction = position - lower
    weights = np.zeros((size, nodes), dtype=np.float32)
    weights[np.arange(size), lower] = 1 - fraction
    weights[np.arange(size), lower + 1] = fraction
    return weights


def _contrasting_colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """The candidate colour farthest from most of the pixels `under` ([P, 3]) it covers."""
    candidates = rng.uniform(0, 255, (COLOUR_CANDIDATES, 3)).astype(np.float32)
    sample = under[rng.integers(0, len(under), CONTRAST_SAMPLE_PIXELS)]
    distances = np.linalg.norm(candidates[:, None, :] - sample[None, :, :], axis=-1)
    score = np.percentile(distances, CONTRAST_PERCENTILE, axis=1)
    return candidates[int(np.argmax(score))]
