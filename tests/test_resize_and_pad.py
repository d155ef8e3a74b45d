"""Tests for keras_retinanet.data.resize_and_pad."""

import numpy as np
import pytest
import tensorflow as tf

from keras_retinanet.data.resize_and_pad import (
    compute_padded_size,
    compute_resize_scale,
    compute_resized_size,
    fixed_padded_side,
    resize_and_pad,
)

# Bilinear resizing blurs an object's edges by up to a pixel.
EDGE_TOLERANCE = 1.0


def _marked_image(height: int, width: int, box) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    ymin, xmin, ymax, xmax = box
    image[ymin:ymax, xmin:xmax] = 255
    return image


def _tight_box(image: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(image[..., 0] > 127)
    return np.array([rows.min(), cols.min(), rows.max() + 1, cols.max() + 1], np.float32)


def test_paper_mode_arithmetic_for_480x640():
    # factor = min(800 / 480, 1333 / 640) = min(1.667, 2.083) = 1.667;
    # 480 * 1.667 = 800, 640 * 1.667 = 1066.67 -> 1067; padded to multiples of 128:
    # 800 -> 896 (7 * 128), 1067 -> 1152 (9 * 128).
    scale = compute_resize_scale([480, 640], "shorter_side", 800, 1333)
    np.testing.assert_allclose(scale.numpy(), [800 / 480, 800 / 480], rtol=1e-6)
    resized = compute_resized_size([480, 640], scale)
    np.testing.assert_array_equal(resized.numpy(), [800, 1067])
    np.testing.assert_array_equal(compute_padded_size(resized, "shorter_side").numpy(), [896, 1152])

    box = (48, 64, 96, 128)
    result = resize_and_pad(_marked_image(480, 640, box), np.array([box], np.float32))
    assert result.image.shape == (896, 1152, 3)
    assert result.image.dtype == tf.float32
    np.testing.assert_array_equal(result.original_size.numpy(), [480, 640])
    np.testing.assert_allclose(result.scale.numpy(), [800 / 480, 1067 / 640], rtol=1e-6)
    # Boxes use the applied per-axis scale: x * 1067 / 640.
    np.testing.assert_allclose(
        result.boxes.numpy(), [[80.0, 64 * 1067 / 640, 160.0, 128 * 1067 / 640]], rtol=1e-5
    )
    image = result.image.numpy()
    np.testing.assert_allclose(result.boxes.numpy()[0], _tight_box(image), atol=EDGE_TOLERANCE)
    # Padding: nothing beyond the resized 800 x 1067 area.
    assert not image[800:].any() and not image[:, 1067:].any()
    # Mapping back: box / scale recovers the original box.
    np.testing.assert_allclose(
        result.boxes.numpy() / np.tile(result.scale.numpy(), 2), [box], rtol=1e-5
    )


def test_longer_side_cap():
    # 100 x 400: 800 / 100 = 8 would make 3200 wide; capped: factor = 1333 / 400 = 3.3325,
    # 100 * 3.3325 = 333.25 -> 333; padded 384 x 1408.
    scale = compute_resize_scale([100, 400], "shorter_side", 800, 1333)
    resized = compute_resized_size([100, 400], scale)
    np.testing.assert_array_equal(resized.numpy(), [333, 1333])
    np.testing.assert_array_equal(compute_padded_size(resized).numpy(), [384, 1408])


def test_small_shorter_side_mode_box_follows_pixels():
    # 60 x 80 with shorter side 100: factor 5 / 3 -> 100 x 133, padded to 128 x 256.
    box = (12, 20, 36, 60)
    result = resize_and_pad(
        _marked_image(60, 80, box),
        np.array([box], np.float32),
        mode="shorter_side",
        shorter_side=100,
        max_longer_side=1333,
        pad_multiple=128,
    )
    assert result.image.shape == (128, 256, 3)
    np.testing.assert_allclose(result.boxes.numpy()[0], _tight_box(result.image.numpy()), atol=1.0)


def test_fixed_padded_size():
    assert fixed_padded_side(1333, 128) == 1408
    result = resize_and_pad(
        _marked_image(48, 64, (0, 0, 8, 8)),
        mode="shorter_side",
        shorter_side=100,
        max_longer_side=200,
        pad_multiple=64,
        fixed_padded_size=True,
    )
    # ceil(200 / 64) * 64 = 256.
    assert result.image.shape == (256, 256, 3)
    assert result.boxes is None


@pytest.mark.parametrize(
    "height, width, resized_size",
    [(96, 128, (96, 128)), (128, 96, (128, 96)), (48, 64, (96, 128)), (200, 100, (128, 64))],
)
def test_letterbox(height, width, resized_size):
    box = (height // 4, width // 4, height // 2, width // 2)
    result = resize_and_pad(
        _marked_image(height, width, box), np.array([box], np.float32), mode="letterbox", size=128
    )
    image = result.image.numpy()
    assert image.shape == (128, 128, 3)
    np.testing.assert_allclose(
        result.scale.numpy(), np.array(resized_size) / np.array([height, width]), rtol=1e-6
    )
    assert not image[resized_size[0] :].any() and not image[:, resized_size[1] :].any()
    np.testing.assert_allclose(result.boxes.numpy()[0], _tight_box(image), atol=EDGE_TOLERANCE)


def test_letterbox_480x640_at_512():
    # 512 / 640 = 0.8 -> 384 x 512, padded to 512 x 512.
    result = resize_and_pad(np.zeros((480, 640, 3), np.uint8), mode="letterbox", size=512)
    assert result.image.shape == (512, 512, 3)
    np.testing.assert_allclose(result.scale.numpy(), [0.8, 0.8])


def test_stretch_per_axis_scale():
    box = (30, 40, 60, 120)
    result = resize_and_pad(
        _marked_image(90, 160, box), np.array([box], np.float32), mode="stretch", size=64
    )
    assert result.image.shape == (64, 64, 3)
    np.testing.assert_allclose(result.scale.numpy(), [64 / 90, 64 / 160], rtol=1e-6)
    np.testing.assert_allclose(
        result.boxes.numpy(), [[30 * 64 / 90, 16.0, 60 * 64 / 90, 48.0]], rtol=1e-5
    )
    np.testing.assert_allclose(
        result.boxes.numpy()[0], _tight_box(result.image.numpy()), atol=EDGE_TOLERANCE
    )


def test_invalid_arguments():
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="mode"):
        resize_and_pad(image, mode="square")
    with pytest.raises(ValueError, match="pad_multiple"):
        resize_and_pad(image, pad_multiple=0)
    with pytest.raises(ValueError, match="max_longer_side"):
        resize_and_pad(image, shorter_side=800, max_longer_side=600)
    with pytest.raises(ValueError, match="image"):
        resize_and_pad(np.zeros((8, 8), np.uint8))
