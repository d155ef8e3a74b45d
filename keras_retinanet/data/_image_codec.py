"""Reading image headers (eagerly, with Pillow) and decoding images (in the tf.data graph).

Loaders read each image's header when they index it: that finds missing files, files that
are not images or not in a format TensorFlow decodes, and a size that disagrees with the
annotations, and names the file. A file damaged after a valid header is not found until
`tf.io.decode_image` fails on it while iterating.
"""

from __future__ import annotations

import io
import os

import PIL.Image
import tensorflow as tf

from keras_retinanet.data._annotation_checks import (
    MISSING_IMAGE,
    UNREADABLE_IMAGE,
    DataProblem,
)

# Pillow format names of the images `tf.io.decode_image` decodes (MPO is a multi-picture
# JPEG written by cameras; TensorFlow decodes its first picture).
DECODABLE_IMAGE_FORMATS = frozenset({"JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP"})


def read_image_file_size(path: str) -> tuple[int, int]:
    """Reads an image file's header.

    Args:
        path: Path of the image file.

    Returns:
        `(height, width)` in pixels.

    Raises:
        DataProblem: `missing_image` if there is no such file, `unreadable_image` if it is not
            an image in a format `tf.io.decode_image` reads.
    """
    if not os.path.isfile(path):
        raise DataProblem(MISSING_IMAGE, f"image file {path} does not exist")
    try:
        with PIL.Image.open(path) as image:
            image_format, (width, height) = image.format, image.size
    except (OSError, ValueError, PIL.Image.DecompressionBombError) as error:
        raise DataProblem(UNREADABLE_IMAGE, f"cannot read image file {path}: {error}") from None
    _check_format(image_format, f"image file {path}")
    return height, width


def read_encoded_image_size(encoded: bytes, description: str = "encoded image") -> tuple[int, int]:
    """Reads the header of an encoded image held in memory.

    Args:
        encoded: The image file's bytes (JPEG, PNG, ...).
        description: How to call the image in messages.

    Returns:
        `(height, width)` in pixels.

    Raises:
        DataProblem: `unreadable_image` if the bytes are not an image `tf.io.decode_image`
            reads.
    """
    if not encoded:
        raise DataProblem(UNREADABLE_IMAGE, f"{description} is empty")
    try:
        with PIL.Image.open(io.BytesIO(encoded)) as image:
            image_format, (width, height) = image.format, image.size
    except (OSError, ValueError, PIL.Image.DecompressionBombError) as error:
        raise DataProblem(UNREADABLE_IMAGE, f"cannot read {description}: {error}") from None
    _check_format(image_format, description)
    return height, width


def decode_rgb_image(encoded: tf.Tensor) -> tf.Tensor:
    """Decodes JPEG / PNG / BMP / GIF / WebP bytes in the graph.

    Grey images are expanded to 3 channels, alpha is dropped, animations keep their first
    frame, 16-bit PNGs are scaled to 8 bits. EXIF orientation is not applied (annotations
    refer to the stored pixel grid).

    Args:
        encoded: string scalar, the image file's bytes.

    Returns:
        uint8 `[H, W, 3]` RGB image.
    """
    image = tf.io.decode_image(encoded, channels=3, dtype=tf.uint8, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _check_format(image_format: str | None, description: str) -> None:
    if image_format not in DECODABLE_IMAGE_FORMATS:
        raise DataProblem(
            UNREADABLE_IMAGE,
            f"{description} is in format {image_format}, which tf.io.decode_image cannot "
            f"decode (supported: {', '.join(sorted(DECODABLE_IMAGE_FORMATS))})",
        )
