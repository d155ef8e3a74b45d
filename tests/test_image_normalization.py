import keras
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


@pytest.mark.parametrize(
    "policy, dtype",
    [
        ("float32", "float32"),
        ("float32", "uint8"),
        ("mixed_bfloat16", "float32"),
        ("mixed_float16", "uint8"),
    ],
)
def test_channel_reversal_is_exact_for_every_uint8_value(policy, dtype):
    values = np.arange(256)
    # Every value 0..255 in every channel position, in a [1, 16, 16, 3] image.
    rgb = np.stack([values, values[::-1], np.roll(values, 85)], axis=-1)
    rgb = rgb.reshape(1, 16, 16, 3).astype(dtype)
    layer = ImageNormalization(reverse_channels=True, dtype=policy)
    output = keras.ops.convert_to_numpy(layer(rgb)).astype("float32")
    np.testing.assert_array_equal(output, rgb[..., ::-1].astype("float32"))


def test_channel_reversal_of_fractional_pixels_in_float32():
    rgb = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    layer = ImageNormalization(reverse_channels=True)
    np.testing.assert_array_equal(layer(rgb), rgb[..., ::-1])


def test_channel_reversal_quantizes_to_ops_the_edge_tpu_maps():
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from keras_retinanet.export import check_edgetpu_readiness

    mean = (103.939, 116.779, 123.68)
    inputs = keras.Input((8, 8, 3), batch_size=1)
    model = keras.Model(inputs, ImageNormalization(mean=mean, reverse_channels=True)(inputs))
    function = tf.function(model).get_concrete_function(tf.TensorSpec((1, 8, 8, 3), tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(1)
    converter.representative_dataset = lambda: (
        [rng.integers(0, 256, (1, 8, 8, 3)).astype("float32")] for _ in range(8)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.int8
    flatbuffer = converter.convert()

    readiness = check_edgetpu_readiness(flatbuffer, run_compiler=False)
    op_types = [op.op_type for op in readiness.ops]
    assert "REVERSE_V2" not in op_types and "CONV_2D" in op_types
    assert readiness.unsupported_ops == () and readiness.non_int8_ops == ()
    # The quantized graph still reverses the channels: BGR minus the BGR mean.
    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    rgb = np.array([[[[255, 0, 128]]]], "uint8").repeat(8, axis=1).repeat(8, axis=2)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], rgb)
    interpreter.invoke()
    output = interpreter.get_output_details()[0]
    scale, zero_point = output["quantization"]
    values = (interpreter.get_tensor(output["index"]).astype("float32") - zero_point) * scale
    expected = np.array([128, 0, 255], "float32") - mean
    np.testing.assert_allclose(values[0, 0, 0], expected, atol=2 * scale)


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
