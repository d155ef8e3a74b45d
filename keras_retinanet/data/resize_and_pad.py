"""Resizes an image (and its boxes) to the network input size and pads it bottom/right.

Three modes:

* `"shorter_side"` (the paper's): scale the image so that its shorter side becomes
  `shorter_side` (800) unless its longer side would then exceed `max_longer_side` (1333), in
  which case the longer side becomes `max_longer_side`; then pad the bottom and right to the
  next multiple of `pad_multiple` (128, the stride of P7). With `fixed_padded_size=True` every
  image is instead padded to the square `[P, P]`, `P = ceil(max_longer_side / pad_multiple) *
  pad_multiple` (1408 for 1333/128), so that all images share one static shape.
* `"letterbox"`: keep the aspect ratio, make the longer side `size`, pad bottom/right to
  `[size, size]`.
* `"stretch"`: resize to `[size, size]`, each axis with its own scale.

Contract shared with `keras_retinanet.evaluation.detections_to_original`: the resized image
keeps its top-left corner at pixel (0, 0) of the padded image, and
`scale = (resized_height / height, resized_width / width)` computed from the integer sizes, so
a box predicted on the network input maps back with `box_original = box / (sy, sx, sy, sx)`.

Boxes are `yxyx` (`ymin, xmin, ymax, xmax`) in absolute pixels where pixel `(i, j)` covers
`[i, i + 1) x [j, j + 1)`; `tf.image.resize` maps this grid linearly, so scaling box coordinates
by the per-axis factor keeps them on the same image content.
"""

from typing import NamedTuple

import tensorflow as tf

SHORTER_SIDE = "shorter_side"
LETTERBOX = "letterbox"
STRETCH = "stretch"
RESIZE_MODES = (SHORTER_SIDE, LETTERBOX, STRETCH)

DEFAULT_SHORTER_SIDE = 800
DEFAULT_MAX_LONGER_SIDE = 1333
DEFAULT_PAD_MULTIPLE = 128
DEFAULT_SQUARE_SIZE = 512
DEFAULT_RESIZE_METHOD = "bilinear"

# Value of the padded pixels, in the raw 0..255 pixel space.
PAD_VALUE = 0.0
# A resized side is never rounded down to nothing.
MIN_RESIZED_SIDE = 1


class ResizeResult(NamedTuple):
    """Output of `resize_and_pad`.

    Attributes:
        image: float32 `[H_pad, W_pad, 3]`, the resized image at the top-left, zeros elsewhere.
        boxes: float32 `[N, 4]` `yxyx` pixels of `image`, or `None` when no boxes were given.
        scale: float32 `[2]`, `(sy, sx)` = resized size / original size per axis.
        original_size: int32 `[2]`, `(height, width)` of the input image.
    """

    image: tf.Tensor
    boxes: tf.Tensor | None
    scale: tf.Tensor
    original_size: tf.Tensor


def validate_resize_arguments(
    mode: str,
    shorter_side: int,
    max_longer_side: int,
    pad_multiple: int,
    size: int,
) -> None:
    """Raises `ValueError` for an unknown mode or a non-positive size.

    Args:
        mode: one of `RESIZE_MODES`.
        shorter_side: target shorter side (`"shorter_side"` mode).
        max_longer_side: cap on the longer side (`"shorter_side"` mode).
        pad_multiple: padded sides are multiples of this (`"shorter_side"` mode).
        size: side of the square output (`"letterbox"` and `"stretch"` modes).
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"Unknown resize mode {mode!r}; expected one of {RESIZE_MODES}.")
    for name, value in (
        ("shorter_side", shorter_side),
        ("max_longer_side", max_longer_side),
        ("pad_multiple", pad_multiple),
        ("size", size),
    ):
        if int(value) != value or value < 1:
            raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
    if max_longer_side < shorter_side:
        raise ValueError(
            f"`max_longer_side` ({max_longer_side}) must be >= `shorter_side` ({shorter_side})."
        )


def compute_resize_scale(
    image_size: tf.Tensor,
    mode: str = SHORTER_SIDE,
    shorter_side: int = DEFAULT_SHORTER_SIDE,
    max_longer_side: int = DEFAULT_MAX_LONGER_SIDE,
    size: int = DEFAULT_SQUARE_SIZE,
) -> tf.Tensor:
    """Target scale of an image before rounding its sides to whole pixels.

    Args:
        image_size: int `[2]`, `(height, width)` of the image.
        mode: one of `RESIZE_MODES`.
        shorter_side: target shorter side (`"shorter_side"` mode).
        max_longer_side: cap on the longer side (`"shorter_side"` mode).
        size: side of the square output (`"letterbox"` and `"stretch"` modes).

    Returns:
        float32 `[2]`, `(sy, sx)`; equal for the aspect-preserving modes.
    """
    size_hw = tf.cast(image_size, tf.float32)
    if mode == STRETCH:
        return float(size) / size_hw
    if mode == LETTERBOX:
        factor = float(size) / tf.reduce_max(size_hw)
    elif mode == SHORTER_SIDE:
        factor = tf.minimum(
            float(shorter_side) / tf.reduce_min(size_hw),
            float(max_longer_side) / tf.reduce_max(size_hw),
        )
    else:
        raise ValueError(f"Unknown resize mode {mode!r}; expected one of {RESIZE_MODES}.")
    return tf.stack([factor, factor])


def compute_resized_size(image_size: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
    """Whole-pixel size of an image resized by `scale` (rounded, at least 1 pixel).

    Args:
        image_size: int `[2]`, `(height, width)`.
        scale: float `[2]`, `(sy, sx)`.

    Returns:
        int32 `[2]`, `(resized_height, resized_width)`.
    """
    resized = tf.round(tf.cast(image_size, tf.float32) * tf.cast(scale, tf.float32))
    return tf.maximum(tf.cast(resized, tf.int32), MIN_RESIZED_SIDE)


def compute_padded_size(
    resized_size: tf.Tensor,
    mode: str = SHORTER_SIDE,
    max_longer_side: int = DEFAULT_MAX_LONGER_SIDE,
    pad_multiple: int = DEFAULT_PAD_MULTIPLE,
    size: int = DEFAULT_SQUARE_SIZE,
    fixed_padded_size: bool = False,
) -> tf.Tensor:
    """Size of the padded canvas that holds a resized image.

    Args:
        resized_size: int `[2]`, `(height, width)` of the resized image.
        mode: one of `RESIZE_MODES`.
        max_longer_side: cap on the longer side (`"shorter_side"` mode, fixed size).
        pad_multiple: padded sides are multiples of this (`"shorter_side"` mode).
        size: side of the square output (`"letterbox"` and `"stretch"` modes).
        fixed_padded_size: `"shorter_side"` mode only: pad to the square
            `ceil(max_longer_side / pad_multiple) * pad_multiple` instead of to the next
            multiple of `pad_multiple` of this image.

    Returns:
        int32 `[2]`, `(padded_height, padded_width)`.
    """
    if mode in (LETTERBOX, STRETCH):
        return tf.constant([size, size], tf.int32)
    if mode != SHORTER_SIDE:
        raise ValueError(f"Unknown resize mode {mode!r}; expected one of {RESIZE_MODES}.")
    if fixed_padded_size:
        side = fixed_padded_side(max_longer_side, pad_multiple)
        return tf.constant([side, side], tf.int32)
    resized_size = tf.cast(resized_size, tf.int32)
    return (resized_size + pad_multiple - 1) // pad_multiple * pad_multiple


def fixed_padded_side(max_longer_side: int, pad_multiple: int) -> int:
    """Side of the square canvas used by `"shorter_side"` mode with `fixed_padded_size`.

    Args:
        max_longer_side: cap on the longer side of a resized image.
        pad_multiple: the canvas side is a multiple of this.

    Returns:
        `ceil(max_longer_side / pad_multiple) * pad_multiple`, e.g. 1408 for 1333 / 128.
    """
    return -(-int(max_longer_side) // int(pad_multiple)) * int(pad_multiple)


def resize_image_and_boxes(
    image: tf.Tensor,
    boxes: tf.Tensor | None,
    scale: tf.Tensor,
    method: str = DEFAULT_RESIZE_METHOD,
) -> tuple[tf.Tensor, tf.Tensor | None, tf.Tensor]:
    """Resizes an image by a per-axis scale and moves its boxes with it.

    The output sides are rounded to whole pixels (`compute_resized_size`), so the scale that
    is really applied differs slightly from `scale`; boxes use the applied one.

    Args:
        image: float32 `[H, W, 3]`.
        boxes: float32 `[N, 4]` `yxyx` pixels of `image`, or `None`.
        scale: float `[2]`, `(sy, sx)` requested.
        method: a `tf.image.ResizeMethod` name.

    Returns:
        `(image [H', W', 3] float32, boxes [N, 4] yxyx pixels of the resized image or None,
        applied_scale [2] float32 = (H' / H, W' / W))`.
    """
    image_size = tf.shape(image)[:2]
    resized_size = compute_resized_size(image_size, scale)
    resized = tf.image.resize(image, resized_size, method=method)
    applied_scale = tf.cast(resized_size, tf.float32) / tf.cast(image_size, tf.float32)
    if boxes is not None:
        boxes = boxes * tf.tile(applied_scale, [2])
    return resized, boxes, applied_scale


def pad_image(image: tf.Tensor, padded_size: tf.Tensor) -> tf.Tensor:
    """Pads an image at the bottom and right with `PAD_VALUE`.

    Args:
        image: float32 `[H, W, 3]` with `H <= padded_size[0]` and `W <= padded_size[1]`.
        padded_size: int `[2]`, `(padded_height, padded_width)`.

    Returns:
        float32 `[padded_height, padded_width, 3]`; boxes of `image` are unchanged by it.
    """
    extra = tf.cast(padded_size, tf.int32) - tf.shape(image)[:2]
    with tf.control_dependencies(
        [
            tf.debugging.assert_non_negative(
                extra, message="The image is larger than the size it should be padded to."
            )
        ]
    ):
        paddings = tf.stack([[0, extra[0]], [0, extra[1]], [0, 0]])
    padded = tf.pad(image, paddings, constant_values=PAD_VALUE)
    static_size = tf.get_static_value(padded_size)
    if static_size is not None:
        padded.set_shape([int(static_size[0]), int(static_size[1]), image.shape[-1]])
    return padded


def resize_and_pad(
    image: tf.Tensor,
    boxes: tf.Tensor | None = None,
    mode: str = SHORTER_SIDE,
    shorter_side: int = DEFAULT_SHORTER_SIDE,
    max_longer_side: int = DEFAULT_MAX_LONGER_SIDE,
    pad_multiple: int = DEFAULT_PAD_MULTIPLE,
    size: int = DEFAULT_SQUARE_SIZE,
    fixed_padded_size: bool = False,
    method: str = DEFAULT_RESIZE_METHOD,
) -> ResizeResult:
    """Resizes an image for the network and pads it bottom/right (see the module docstring).

    Example: a 480x640 image in `"shorter_side"` mode with 800/1333/128: the factor is
    `min(800 / 480, 1333 / 640) = 1.667`, the resized image is `800 x round(1066.7) = 800 x
    1067`, `scale = (800 / 480, 1067 / 640)`, and it is padded to `896 x 1152`.

    Args:
        image: `[H, W, 3]` image, any real or integer dtype (cast to float32, values kept).
        boxes: float `[N, 4]` `yxyx` pixels of `image`, or `None`.
        mode: one of `RESIZE_MODES`.
        shorter_side: target shorter side (`"shorter_side"` mode).
        max_longer_side: cap on the longer side (`"shorter_side"` mode).
        pad_multiple: padded sides are multiples of this (`"shorter_side"` mode).
        size: side of the square output (`"letterbox"` and `"stretch"` modes).
        fixed_padded_size: `"shorter_side"` mode: pad every image to one square size.
        method: a `tf.image.ResizeMethod` name.

    Returns:
        A `ResizeResult` `(image [H_pad, W_pad, 3] float32, boxes [N, 4] yxyx pixels of the
        padded image or None, scale [2] float32 (sy, sx), original_size [2] int32 (H, W))`.
    """
    validate_resize_arguments(mode, shorter_side, max_longer_side, pad_multiple, size)
    image = tf.convert_to_tensor(image)
    if image.shape.rank != 3 or image.shape[-1] not in (None, 3):
        raise ValueError(f"`image` must have shape [H, W, 3]; got {image.shape}.")
    image = tf.cast(image, tf.float32)
    if boxes is not None:
        boxes = tf.cast(tf.convert_to_tensor(boxes), tf.float32)
    original_size = tf.shape(image)[:2]
    target_scale = compute_resize_scale(original_size, mode, shorter_side, max_longer_side, size)
    resized, boxes, scale = resize_image_and_boxes(image, boxes, target_scale, method)
    padded_size = compute_padded_size(
        tf.shape(resized)[:2], mode, max_longer_side, pad_multiple, size, fixed_padded_size
    )
    padded = pad_image(resized, padded_size)
    return ResizeResult(padded, boxes, scale, original_size)
