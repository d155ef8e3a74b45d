"""int8 files that XNNPACK (LiteRT's default delegate) refuses: found, fixed, or refused.

The failing case is built the way it happens after a short fine-tuning: a classification-
subnet ReLU whose calibration range is almost empty (its bias pushed just below the
largest pre-activation the calibration images produce) next to weights of a normal
magnitude, so `input_scale * weight_scale / output_scale` reaches thousands.
"""

import functools
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from test_tflite_exporter import (
    TINY_SIZE,
    artifacts_dir,
    calibration_scenes,
    synthetic_scenes,
    trained_tiny_model,
)

import keras_retinanet.export.tflite_exporter as tflite_exporter
from keras_retinanet.export import (
    ExportError,
    TFLiteDetector,
    export_tflite,
    find_xnnpack_issues,
    read_tflite_graph,
)
from keras_retinanet.export.xnnpack_compatibility import (
    MAX_REQUANTIZATION_SCALE,
    raise_output_scales,
)

# Makes the first classification conv's weights 100x larger (a trained layer) ...
WEIGHT_GAIN = 100.0
# ... and leaves this much of its largest pre-activation above zero after the ReLU.
HEADROOM = 1e-6
BAD_LAYER = "classification_head"


@functools.cache
def nearly_dead_relu_model() -> keras.Model:
    """The trained tiny model with a classification ReLU that calibration sees as empty."""
    source = trained_tiny_model()
    model = type(source).from_config(source.get_config())
    model(np.zeros([1, TINY_SIZE, TINY_SIZE, 3], np.float32))
    model.set_weights(source.get_weights())
    images = np.stack(calibration_scenes()).astype(np.float32)
    features = keras.Model(model.input, model.get_layer("feature_pyramid").output)(images)
    conv = model.get_layer(BAD_LAYER).hidden_convs[0]
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel * WEIGHT_GAIN, bias])
    largest = np.max(
        np.stack([tf.reduce_max(conv(level), axis=[0, 1, 2]).numpy() for level in features]),
        axis=0,
    )
    conv.set_weights([kernel * WEIGHT_GAIN, -(largest - HEADROOM)])
    return model


def _export(path: str, **kwargs):
    return export_tflite(
        nearly_dead_relu_model(),
        path,
        image_size=TINY_SIZE,
        quantization="int8",
        representative_images=calibration_scenes(),
        **kwargs,
    )


@functools.cache
def unfixed_file() -> bytes:
    """What the converter writes for that model, without the exporter's fix or checks."""
    path = os.path.join(artifacts_dir(), "xnnpack_unfixed.tflite")
    original = (tflite_exporter.raise_output_scales, tflite_exporter._check_litert_runs)
    tflite_exporter.raise_output_scales = lambda content: (content, [])
    tflite_exporter._check_litert_runs = lambda content: None
    try:
        _export(path, metadata=False)
    finally:
        tflite_exporter.raise_output_scales, tflite_exporter._check_litert_runs = original
    with open(path, "rb") as file:
        return file.read()


def _allocate(content: bytes, resolver: OpResolverType) -> Interpreter:
    interpreter = Interpreter(model_content=content, experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    return interpreter


def test_the_converter_writes_a_file_xnnpack_refuses():
    content = unfixed_file()
    # The real client failure: XNNPACK refuses it, the builtin kernels take it.
    with pytest.raises(RuntimeError, match="XNNPACK"):
        _allocate(content, OpResolverType.AUTO)
    _allocate(content, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    issues = find_xnnpack_issues(content)
    assert issues, "the check must see what XNNPACK refuses"
    assert all(issue.op_type == "CONV_2D" and BAD_LAYER in issue.output_name for issue in issues)
    assert all(issue.ratio >= MAX_REQUANTIZATION_SCALE for issue in issues)
    # The ratio is input_scale * max(weight_scale) / output_scale, read here from the graph.
    graph = read_tflite_graph(content)
    op = graph.ops[issues[0].op_index]
    data, weights = op.inputs[:2]
    expected = data.scale[0] * max(weights.scale) / op.outputs[0].scale[0]
    np.testing.assert_allclose(issues[0].ratio, expected, rtol=1e-6)


def test_raising_the_output_scales_makes_xnnpack_accept_the_file():
    content, fixed = raise_output_scales(unfixed_file())
    assert [issue.op_index for issue in fixed] == [
        issue.op_index for issue in find_xnnpack_issues(unfixed_file())
    ]
    assert find_xnnpack_issues(content) == []
    xnnpack = _allocate(content, OpResolverType.AUTO)
    builtin = _allocate(content, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    image, _, _ = synthetic_scenes()
    outputs = []
    for interpreter in (xnnpack, builtin):
        runner = interpreter.get_signature_runner("serving_default")
        outputs.append(runner(images=image[:1].astype(np.uint8)))
    count = int(outputs[0]["num_detections"][0])
    assert count == int(outputs[1]["num_detections"][0])
    np.testing.assert_allclose(
        outputs[0]["detection_scores"][0, :count],
        outputs[1]["detection_scores"][0, :count],
        atol=1e-2,
    )


def test_export_fixes_it_and_reports_the_layers(tmp_path):
    report = _export(str(tmp_path / "fixed.tflite"))
    assert report.xnnpack_fixes
    assert all(BAD_LAYER in fix for fix in report.xnnpack_fixes)
    # It loads and runs with XNNPACK (the default delegate), which refused it unfixed, and
    # gives what the builtin kernels give.
    image, _, _ = synthetic_scenes()
    outputs = [
        TFLiteDetector(report.path, num_threads=2, use_default_delegate=xnnpack).predict(image[0])
        for xnnpack in (True, False)
    ]
    np.testing.assert_array_equal(outputs[0]["num_detections"], outputs[1]["num_detections"])
    np.testing.assert_allclose(outputs[0]["scores"], outputs[1]["scores"], atol=0.03)


def test_export_fails_naming_the_layers_when_the_file_cannot_be_fixed(tmp_path, monkeypatch):
    monkeypatch.setattr(tflite_exporter, "raise_output_scales", lambda content: (content, []))
    with pytest.raises(ExportError, match=f"XNNPACK.*{BAD_LAYER}"):
        _export(str(tmp_path / "refused.tflite"))
    assert not os.path.exists(tmp_path / "refused.tflite")
