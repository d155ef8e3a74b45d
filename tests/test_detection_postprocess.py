"""The TFLite_Detection_PostProcess composite: attributes, anchors, and the LiteRT kernel."""

import tempfile

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_retinanet.export.class_column_layout import ClassColumnLayout
from keras_retinanet.export.detection_postprocess import (
    POSTPROCESS_OP_NAME,
    DetectionPostProcess,
    anchors_to_center_size,
    decode_center_size,
)
from keras_retinanet.export.tflite_graph import (
    read_custom_options,
    read_tflite_graph,
    set_custom_options,
)
from keras_retinanet.ops.box_coder import BoxCoder
from keras_retinanet.ops.detection_decoder import DetectionDecoder

NUM_ANCHORS = 200
NUM_CLASSES = 3
MAX_DETECTIONS = 15


def _convert_postprocess(
    postprocess: DetectionPostProcess, anchors: np.ndarray, num_classes: int = NUM_CLASSES
) -> bytes:
    """A .tflite holding only the composite, fed (encodings, scores)."""

    class Module(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([1, NUM_ANCHORS, 4], tf.float32),
                tf.TensorSpec([1, NUM_ANCHORS, num_classes], tf.float32),
            ]
        )
        def serve(self, encodings, scores):
            return postprocess(encodings, scores, tf.constant(anchors))

    module = Module()
    with tempfile.TemporaryDirectory() as directory:
        tf.saved_model.save(module, directory, signatures={"serving_default": module.serve})
        return tf.lite.TFLiteConverter.from_saved_model(directory).convert()


def _random_anchors(rng: np.random.Generator) -> np.ndarray:
    centers = rng.uniform(0.1, 0.9, size=(NUM_ANCHORS, 2))
    sizes = rng.uniform(0.05, 0.4, size=(NUM_ANCHORS, 2))
    return np.concatenate([centers, sizes], axis=-1).astype(np.float32)


def test_implements_signature_carries_every_attribute():
    postprocess = DetectionPostProcess(
        num_classes=7,
        max_detections=20,
        detections_per_class=30,
        use_regular_nms=False,
        nms_score_threshold=0.25,
        nms_iou_threshold=0.6,
        y_scale=10.0,
        x_scale=9.0,
        h_scale=5.0,
        w_scale=4.0,
    )
    signature = postprocess.implements_signature()
    assert signature.startswith(f'name: "{POSTPROCESS_OP_NAME}"')
    for expected in (
        'key: "max_detections" value { i: 20 }',
        'key: "max_classes_per_detection" value { i: 1 }',
        'key: "detections_per_class" value { i: 30 }',
        'key: "use_regular_nms" value { b: false }',
        'key: "nms_score_threshold" value { f: 0.25 }',
        'key: "nms_iou_threshold" value { f: 0.6 }',
        'key: "y_scale" value { f: 10.0 }',
        'key: "x_scale" value { f: 9.0 }',
        'key: "h_scale" value { f: 5.0 }',
        'key: "w_scale" value { f: 4.0 }',
        'key: "num_classes" value { i: 7 }',
    ):
        assert expected in signature


def test_config_round_trip():
    arguments = {
        "num_classes": 4,
        "max_detections": 50,
        "max_classes_per_detection": 1,
        "detections_per_class": 25,
        "use_regular_nms": False,
        "nms_score_threshold": 0.1,
        "nms_iou_threshold": 0.45,
        "y_scale": 8.0,
        "x_scale": 7.0,
        "h_scale": 6.0,
        "w_scale": 5.0,
    }
    postprocess = DetectionPostProcess(**arguments)
    assert postprocess.get_config() == arguments
    rebuilt = DetectionPostProcess.from_config(postprocess.get_config())
    assert rebuilt.implements_signature() == postprocess.implements_signature()


def test_from_model_takes_scales_and_thresholds_from_the_model():
    coder = BoxCoder(scale_factors=(10.0, 10.0, 5.0, 5.0))
    decoder = DetectionDecoder(score_threshold=0.05, nms_iou_threshold=0.5, max_detections=100)
    postprocess = DetectionPostProcess.from_model(3, coder, decoder)
    assert (postprocess.y_scale, postprocess.x_scale, postprocess.h_scale, postprocess.w_scale) == (
        10.0,
        10.0,
        5.0,
        5.0,
    )
    assert postprocess.num_classes == 3
    assert postprocess.use_regular_nms  # class-wise, as the Keras decoder
    assert postprocess.nms_score_threshold == 0.05
    assert postprocess.nms_iou_threshold == 0.5
    assert postprocess.max_detections == postprocess.detections_per_class == 100
    fast = DetectionPostProcess.from_model(
        3, coder, decoder, use_regular_nms=False, max_detections=10
    )
    assert not fast.use_regular_nms
    assert fast.max_detections == 10


def test_anchors_to_center_size_golden():
    # A 20x40 px anchor with top-left (10, 20) on a 100 (H) x 200 (W) input:
    # centre (20, 40) px -> (0.2, 0.2); size 20 x 40 px -> (0.2, 0.2).
    anchors = np.array([[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 100.0, 200.0]], np.float32)
    expected = np.array([[0.2, 0.2, 0.2, 0.2], [0.5, 0.5, 1.0, 1.0]], np.float32)
    np.testing.assert_allclose(anchors_to_center_size(anchors, (100, 200)), expected, atol=1e-7)


def test_decode_matches_the_box_coder():
    rng = np.random.default_rng(0)
    anchors_yxyx = np.array([[10, 20, 42, 60], [50, 40, 90, 70]], np.float32)
    deltas = rng.normal(0, 1, size=(2, 4)).astype(np.float32)
    coder = BoxCoder()
    expected = coder.decode(deltas, anchors_yxyx).numpy() / np.array([100, 200, 100, 200])
    decoded = decode_center_size(
        deltas, anchors_to_center_size(anchors_yxyx, (100, 200)), coder.scale_factors
    )
    np.testing.assert_allclose(decoded, expected, atol=1e-6)


@pytest.mark.parametrize("use_regular_nms", [True, False], ids=["class_wise", "fast"])
def test_litert_kernel_matches_the_reference(use_regular_nms):
    rng = np.random.default_rng(3)
    anchors = _random_anchors(rng)
    postprocess = DetectionPostProcess(
        num_classes=NUM_CLASSES,
        max_detections=MAX_DETECTIONS,
        detections_per_class=MAX_DETECTIONS,
        use_regular_nms=use_regular_nms,
        nms_score_threshold=0.3,
        nms_iou_threshold=0.5,
    )
    content = _convert_postprocess(postprocess, anchors)
    graph = read_tflite_graph(content)
    # The converter fused the function into the one custom op (no TF NMS ops left).
    assert [op.op_type for op in graph.ops] == [POSTPROCESS_OP_NAME]
    runner = Interpreter(model_content=content).get_signature_runner("serving_default")
    for _ in range(3):
        encodings = rng.normal(0, 1, size=(1, NUM_ANCHORS, 4)).astype(np.float32)
        scores = rng.uniform(0, 1, size=(1, NUM_ANCHORS, NUM_CLASSES)).astype(np.float32)
        lite = runner(encodings=encodings, scores=scores)
        reference = {k: v.numpy() for k, v in postprocess(encodings, scores, anchors).items()}
        count = int(lite["num_detections"][0])
        assert count == int(reference["num_detections"][0]) > 0
        assert lite["boxes"].shape == (1, MAX_DETECTIONS, 4)
        np.testing.assert_allclose(
            lite["boxes"][0, :count], reference["boxes"][0, :count], atol=1e-6
        )
        np.testing.assert_allclose(
            lite["scores"][0, :count], reference["scores"][0, :count], atol=1e-7
        )
        np.testing.assert_array_equal(lite["classes"][0, :count], reference["classes"][0, :count])


def test_fast_nms_kernel_is_correct_on_any_number_of_threads():
    # Fast NMS must give the reference on 1, 2 and 4 threads.
    num_classes = 5
    rng = np.random.default_rng(5)
    anchors = _random_anchors(rng)
    postprocess = DetectionPostProcess(
        num_classes=num_classes,
        max_detections=MAX_DETECTIONS,
        use_regular_nms=False,
        nms_score_threshold=0.05,
    )
    content = _convert_postprocess(postprocess, anchors, num_classes)
    encodings = rng.normal(0, 1, size=(1, NUM_ANCHORS, 4)).astype(np.float32)
    scores = rng.uniform(0, 0.3, size=(1, NUM_ANCHORS, num_classes)).astype(np.float32)
    reference = {k: v.numpy() for k, v in postprocess(encodings, scores, anchors).items()}
    count = int(reference["num_detections"][0])
    assert count == MAX_DETECTIONS
    assert len(set(reference["classes"][0, :count].tolist())) == num_classes
    for threads in (1, 2, 4):
        runner = Interpreter(model_content=content, num_threads=threads).get_signature_runner(
            "serving_default"
        )
        lite = runner(encodings=encodings, scores=scores)
        assert int(lite["num_detections"][0]) == count
        np.testing.assert_array_equal(lite["classes"][0, :count], reference["classes"][0, :count])
        np.testing.assert_allclose(
            lite["boxes"][0, :count], reference["boxes"][0, :count], atol=1e-6
        )


def test_score_threshold_is_inclusive_like_the_kernel():
    anchors = np.array([[0.25, 0.25, 0.2, 0.2], [0.75, 0.75, 0.2, 0.2]], np.float32)
    postprocess = DetectionPostProcess(num_classes=1, max_detections=5, nms_score_threshold=0.5)
    scores = np.array([[[0.5], [0.49]]], np.float32)
    result = postprocess(np.zeros([1, 2, 4], np.float32), scores, anchors)
    assert float(result["num_detections"][0]) == 1.0
    np.testing.assert_allclose(result["boxes"][0, 0], [0.15, 0.15, 0.35, 0.35], atol=1e-6)
    assert float(result["scores"][0, 1]) == 0.0  # padding


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 2, "max_detections": 0}, "max_detections"),
        ({"num_classes": 2, "max_classes_per_detection": 2}, "max_classes_per_detection"),
        ({"num_classes": 2, "nms_iou_threshold": 0.0}, "nms_iou_threshold"),
        ({"num_classes": 2, "nms_score_threshold": 1.0}, "nms_score_threshold"),
        ({"num_classes": 2, "h_scale": 0.0}, "scales"),
    ],
)
def test_invalid_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        DetectionPostProcess(**arguments)


def test_class_count_mismatch_is_reported():
    postprocess = DetectionPostProcess(num_classes=3)
    with pytest.raises(ValueError, match="num_classes=3"):
        postprocess(np.zeros([1, 4, 4]), np.zeros([1, 4, 2]), np.zeros([4, 4]))


def test_detections_per_class_reaches_the_kernel():
    # The converter drops `detections_per_class` (LiteRT then keeps 100 per class); the
    # exporter writes `kernel_options()` into the op, so the kernel keeps what was asked.
    num_classes, per_class = 3, 2
    rng = np.random.default_rng(7)
    anchors = _random_anchors(rng)
    anchors[:, 2:] = 0.01  # tiny, far apart: nothing suppresses anything
    postprocess = DetectionPostProcess(
        num_classes=num_classes,
        max_detections=MAX_DETECTIONS,
        detections_per_class=per_class,
        use_regular_nms=True,
    )
    content = _convert_postprocess(postprocess, anchors, num_classes)
    assert "detections_per_class" not in read_custom_options(content, POSTPROCESS_OP_NAME)
    fixed = set_custom_options(content, POSTPROCESS_OP_NAME, postprocess.kernel_options())
    assert read_custom_options(fixed, POSTPROCESS_OP_NAME) == postprocess.kernel_options()
    encodings = np.zeros([1, NUM_ANCHORS, 4], np.float32)
    scores = rng.uniform(0.5, 0.9, size=(1, NUM_ANCHORS, num_classes)).astype(np.float32)
    counts = {}
    for name, model in (("converted", content), ("fixed", fixed)):
        runner = Interpreter(model_content=model, num_threads=1).get_signature_runner(
            "serving_default"
        )
        lite = runner(encodings=encodings, scores=scores)
        count = int(lite["num_detections"][0])
        counts[name] = np.bincount(lite["classes"][0, :count].astype(int), minlength=num_classes)
    assert counts["converted"].max() > per_class  # the kernel's default of 100 per class
    np.testing.assert_array_equal(counts["fixed"], [per_class] * num_classes)
    reference = postprocess(encodings, scores, anchors)
    assert int(reference["num_detections"][0]) == per_class * num_classes


def test_class_wise_kernel_skips_column_t_on_t_threads_and_the_layout_avoids_it():
    # The LiteRT bug `ClassColumnLayout` works around (class_column_layout.py): on T threads
    # the class-wise kernel never processes score column T. One box per column here.
    num_real = 5
    layout = ClassColumnLayout.thread_safe(num_real)
    rng = np.random.default_rng(3)
    anchors = _random_anchors(rng)
    anchors[:, 2:] = 0.01
    encodings = np.zeros([1, NUM_ANCHORS, 4], np.float32)
    for columns, expect_loss in ((num_real + 7, True), (layout.num_columns, False)):
        postprocess = DetectionPostProcess(
            num_classes=columns, max_detections=2 * columns, use_regular_nms=True
        )
        content = _convert_postprocess(postprocess, anchors, columns)
        scores = np.zeros([1, NUM_ANCHORS, columns], np.float32)
        # Identity: every column holds a class; the layout: only its class columns do.
        holding = range(columns) if expect_loss else layout.class_columns
        for anchor, column in enumerate(holding):
            scores[0, anchor, column] = 0.9
        for threads in range(1, 9):
            runner = Interpreter(model_content=content, num_threads=threads).get_signature_runner(
                "serving_default"
            )
            lite = runner(encodings=encodings, scores=scores)
            found = set(lite["classes"][0, : int(lite["num_detections"][0])].astype(int).tolist())
            missing = set(holding) - found
            if expect_loss and threads > 1:
                assert missing == {threads}, (threads, missing)
            else:
                assert not missing, (threads, missing)
