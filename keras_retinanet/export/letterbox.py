"""Letterboxing of one image to the static input size of an exported model.

The image keeps its aspect ratio: it is scaled by `min(H / height, W / width)`, rounded to
whole pixels, resized bilinearly and placed at the top-left of a black `[H, W]` canvas
(padding bottom/right). This is the contract of the evaluation code
(`keras_retinanet.evaluation.rescale_detections`: a box on the network input maps back
as `box / (sy, sx, sy, sx)`) and, for a square size, exactly what
`keras_retinanet.data.resize_and_pad(mode="letterbox")` does, so calibration images,
LiteRT inputs and Keras evaluation all see the same pixels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

# Value of the padded pixels (raw 0..255 space), as in the input pipeline.
PAD_VALUE = 0.0
# A resized side is never rounded down to nothing.
MIN_RESIZED_SIDE = 1
RGB_CHANNELS = 3


class LetterboxResult(NamedTuple):
    """Output of `letterbox`.

    Attributes:
        image: float32 `[H, W, 3]` RGB in 0..255, the resized image at the top-left.
        scale: float32 `[2]` `(sy, sx)` = resized size / original size per axis.
        original_size: int32 `[2]` `(height, width)` of the input image.
    """

    image: np.ndarray
    scale: np.ndarray
    original_size: np.ndarray


def letterbox(image, size: tuple[int, int], method: str = "bilinear") -> LetterboxResult:
    """Resizes an image keeping its aspect ratio and pads it bottom/right to `size`.

    An image already of size `size` is returned unchanged (as float32).

    Args:
        image: `[height, width, 3]` RGB pixels in 0..255 (uint8 or float; NumPy or tensor).
        size: `(H, W)` of the network input.
        method: a `tf.image.ResizeMethod` name.

    Returns:
        A `LetterboxResult` (float32 image `[H, W, 3]`, scale `[2]`, original size `[2]`).

    Raises:
        ValueError: if the image is not `[height, width, 3]` or is empty.
    """
    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[-1] != RGB_CHANNELS or min(pixels.shape[:2]) < 1:
        raise ValueError(f"Expected one RGB image [height, width, 3]; got shape {pixels.shape}.")
    height, width = (int(s) for s in pixels.shape[:2])
    target_h, target_w = (int(s) for s in size)
    pixels = pixels.astype(np.float32)
    if (height, width) == (target_h, target_w):
        return LetterboxResult(
            pixels, np.ones([2], np.float32), np.asarray([height, width], np.int32)
        )
    factor = min(target_h / height, target_w / width)
    resized_h = max(round(height * factor), MIN_RESIZED_SIDE)
    resized_w = max(round(width * factor), MIN_RESIZED_SIDE)
    resized_h, resized_w = min(resized_h, target_h), min(resized_w, target_w)
    resized = tf.image.resize(pixels, [resized_h, resized_w], method=method).numpy()
    canvas = np.full([target_h, target_w, RGB_CHANNELS], PAD_VALUE, np.float32)
    canvas[:resized_h, :resized_w] = resized
    scale = np.asarray([resized_h / height, resized_w / width], np.float32)
    return LetterboxResult(canvas, scale, np.asarray([height, width], np.int32))


def to_input_dtype(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Casts 0..255 pixels to a model input dtype (uint8/int8 rounds and clips).

    Args:
        image: float pixels in 0..255, any shape.
        dtype: the interpreter's input dtype (`np.uint8` or `np.float32`).

    Returns:
        The pixels as `dtype`.
    """
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(image), info.min, info.max).astype(dtype)
    return np.asarray(image, dtype=dtype)
