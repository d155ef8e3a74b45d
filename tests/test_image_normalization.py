import numpy as np
import pytest
from conftest import assert_config_round_trip

from keras_retinanet.layers import ImageNormalization


def test_caffe_style_bgr_mean():
    layer = ImageNormalization(mean=(103.939, 116.779, 123.68), reverse_channels=True)
    rgb = np.array([[[[10.0, 20.0, 30.0]]]], "float32")
    # BGR = (30, 20, 10) minus the BGR mean.
    np.testing.assert_allclose(
        layer(rgb), [[[[30 - 103.939, 20 - 116.779, 10 - 123.68]]]], rtol=1e-5
    )


def test_symmetric_scaling_from_uint8():
    layer = ImageNormalization(mean=(127.5,) * 3, std=(127.5,) * 3)
    pixels = np.array([[[[0, 127, 255]]]], "uint8")
    np.testing.assert_allclose(layer(pixels), [[[[-1.0, -0.003921569, 1.0]]]], atol=1e-6)


@pytest.mark.parametrize("shape", [(8, 8, 3), (1, 8, 8, 1), (1, 8, 8, 4)])
def test_wrong_shape_raises(shape):
    with pytest.raises(ValueError, match="batch, height, width, 3"):
        ImageNormalization()(np.zeros(shape, "float32"))


def test_config_round_trip():
    args = {
        "mean": (1.0, 2.0, 3.0),
        "std": (4.0, 5.0, 6.0),
        "reverse_channels": True,
        "name": "norm",
    }
    assert_config_round_trip(ImageNormalization(**args), args)
