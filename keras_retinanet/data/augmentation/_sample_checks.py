"""Static checks shared by the augmentations (private to the package)."""

import tensorflow as tf

# Seeds of the stateless random ops: a `[2]` int32 or int64 tensor.
SEED_SHAPE = (2,)
SEED_DTYPES = (tf.int32, tf.int64)


def check_sample(
    image: tf.Tensor, boxes: tf.Tensor, classes: tf.Tensor, is_crowd: tf.Tensor, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Converts one sample to tensors and checks dtypes and ranks at trace time.

    Args:
        image: float32 `[H, W, 3]`.
        boxes: float32 `[N, 4]` `yxyx` pixels.
        classes: int32 `[N]`.
        is_crowd: bool `[N]`.
        seed: int32 or int64 `[2]`, the stateless random seed.

    Returns:
        The five inputs as tensors.

    Raises:
        ValueError: a dtype or a static shape is wrong.
    """
    image = tf.convert_to_tensor(image)
    boxes = tf.convert_to_tensor(boxes)
    classes = tf.convert_to_tensor(classes)
    is_crowd = tf.convert_to_tensor(is_crowd)
    seed = tf.convert_to_tensor(seed)
    if image.dtype != tf.float32 or image.shape.rank != 3 or image.shape[-1] not in (None, 3):
        raise ValueError(
            f"`image` must be float32 [H, W, 3]; got {image.dtype.name} {image.shape}."
        )
    if boxes.dtype != tf.float32 or boxes.shape.rank != 2 or boxes.shape[-1] not in (None, 4):
        raise ValueError(f"`boxes` must be float32 [N, 4]; got {boxes.dtype.name} {boxes.shape}.")
    if classes.dtype != tf.int32 or classes.shape.rank != 1:
        raise ValueError(f"`classes` must be int32 [N]; got {classes.dtype.name} {classes.shape}.")
    if is_crowd.dtype != tf.bool or is_crowd.shape.rank != 1:
        raise ValueError(
            f"`is_crowd` must be bool [N]; got {is_crowd.dtype.name} {is_crowd.shape}."
        )
    if seed.dtype not in SEED_DTYPES or tuple(seed.shape) != SEED_SHAPE:
        raise ValueError(f"`seed` must be int32 or int64 [2]; got {seed.dtype.name} {seed.shape}.")
    return image, boxes, classes, is_crowd, seed


def check_probability(name: str, value: float) -> None:
    """Raises `ValueError` unless `0 <= value <= 1`."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1]; got {value!r}.")


def check_range(name: str, value: tuple[float, float], lower: float = 0.0) -> None:
    """Raises `ValueError` unless `value` is a pair `(low, high)` with `lower <= low <= high`."""
    if len(value) != 2 or not lower <= value[0] <= value[1]:
        raise ValueError(
            f"`{name}` must be a pair (low, high) with {lower} <= low <= high; got {value!r}."
        )
