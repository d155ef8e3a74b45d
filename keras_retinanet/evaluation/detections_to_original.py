"""Maps detections from the network's input image back to the original image.

Contract with the input pipeline: an original image of `(height, width)` pixels is resized by
`scale = (scale_y, scale_x) = (resized_height / height, resized_width / width)` and then padded
at the bottom and right only, so that its top-left corner stays at pixel `(0, 0)` of the
network input. Under that contract a point `(y, x)` of the network input is the point
`(y / scale_y, x / scale_x)` of the original image, and anything that falls in the padding
lies beyond the original image's bottom/right edge. A pipeline that pads on the top or left
(centred padding) needs an offset as well, which this function does not take.
"""

from typing import Any

from keras import ops


def rescale_detections(boxes: Any, scale: Any, original_size: Any) -> Any:
    """Maps `yxyx` boxes from network-input pixels to original-image pixels.

    Divides each box by its image's resize factors, then clips it to the original image,
    `[0, height] x [0, width]`. Padded detection rows are mapped like any other row; the
    caller masks them with `num_detections` / the class padding code.

    Args:
        boxes: float `[B, D, 4]`, `yxyx` (`ymin, xmin, ymax, xmax`) in absolute pixels of the
            network input (after the pipeline's resize and bottom/right padding).
        scale: float `[B, 2]`, `(scale_y, scale_x)` = resized size / original size per image;
            must be positive.
        original_size: int or float `[B, 2]`, `(height, width)` of each original image in
            pixels.

    Returns:
        float32 `[B, D, 4]` tensor (of the Keras backend), `yxyx` in absolute pixels of the
        original images, with `0 <= y <= height` and `0 <= x <= width`.
    """
    boxes_yxyx = ops.convert_to_tensor(boxes, dtype="float32")
    scale_yx = ops.convert_to_tensor(scale, dtype="float32")
    size_hw = ops.convert_to_tensor(original_size, dtype="float32")

    # [B, 2] (y, x) -> [B, 1, 4] (y, x, y, x) so it broadcasts over the D detections.
    scale_yxyx = ops.expand_dims(ops.concatenate([scale_yx, scale_yx], axis=-1), axis=1)
    upper_yxyx = ops.expand_dims(ops.concatenate([size_hw, size_hw], axis=-1), axis=1)

    boxes_original = boxes_yxyx / scale_yxyx
    return ops.minimum(ops.maximum(boxes_original, 0.0), upper_yxyx)
