"""export_tflite: parity with the Keras model, the output contract, int8 accuracy, errors.

The tiny models and their exports are built once per process (`functools.cache`) and
shared with test_edgetpu_readiness.py and test_tflite_scripts.py, which import them.
"""

import atexit
import functools
import os
import shutil
import tempfile
import time
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tensorflow.lite.tools import flatbuffer_utils

import keras_retinanet as kr
from keras_retinanet.data import ShapesDataset
from keras_retinanet.data.input_pipeline import (
    ResizeConfig,
    build_eval_pipeline,
    build_train_pipeline,
)
from keras_retinanet.export import (
    OUTPUT_NAMES,
    POSTPROCESS_OP_NAME,
    ExportError,
    TFLiteDetector,
    export_tflite,
    letterbox,
    read_tflite_graph,
)
from keras_retinanet.export.detector_evaluation import (
    evaluate_detector_on_elements,
    keras_letterbox_detector,
)
from keras_retinanet.export.quantization_fallback import DEFAULT_ERROR_RATIO_THRESHOLD
from keras_retinanet.export.tflite_exporter import (
    INPUT_NAME,
    SIGNATURE_KEY,
    _collect_calibration_images,
)
from keras_retinanet.export.tflite_model_runner import EDGETPU_CUSTOM_OP, find_edgetpu_library

# ----------------------------------------------------------------------------- tiny model
TINY_SIZE = 128
TINY_CLASS_NAMES = ("square", "disc")
TINY_STEPS = 80
TINY_LEARNING_RATE = 3e-3
TINY_SEED = 1234
# Parity: detections above this score are compared one to one.
PARITY_MIN_SCORE = 0.1
PARITY_MIN_DETECTIONS = 2
BOX_TOLERANCE_NORMALISED = 1e-3
SCORE_TOLERANCE = 1e-5

# ----------------------------------------------------------------------------- int8 accuracy
# RetinaNet trained briefly on 128 px shapes; int8 must stay within 1 AP point of Keras.
ACCURACY_SIZE = 128
ACCURACY_TRAIN_IMAGES = 200
ACCURACY_VAL_IMAGES = 96
ACCURACY_CALIBRATION_IMAGES = 100
ACCURACY_STEPS = 800
ACCURACY_BATCH = 8
ACCURACY_LEARNING_RATE = 2e-3
SHAPES_MIN_SIZE = 28
SHAPES_MAX_OBJECTS = 3
MAX_AP_DROP = 0.01  # 1.0 COCO AP point
MIN_FLOAT_AP = 0.05  # the model must really detect something

_ARTIFACTS = tempfile.mkdtemp(prefix="test_tflite_")
atexit.register(shutil.rmtree, _ARTIFACTS, ignore_errors=True)


def synthetic_scenes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two 128 px images with a red square (class 0) and a blue disc (class 1) each.

    Returns:
        `(uint8 [2, 128, 128, 3], float32 boxes [2, 2, 4] yxyx px, int32 classes [2, 2])`;
        every object lies at least 16 px inside the image.
    """
    rng = np.random.default_rng(0)
    images = rng.integers(90, 130, size=(2, TINY_SIZE, TINY_SIZE, 3)).astype(np.uint8)
    boxes = np.array(
        [[[20, 24, 60, 72], [70, 64, 112, 104]], [[24, 70, 68, 110], [76, 16, 108, 60]]],
        np.float32,
    )
    classes = np.array([[0, 1], [1, 0]], np.int32)
    rows, cols = np.mgrid[:TINY_SIZE, :TINY_SIZE] + 0.5
    for image, image_boxes, image_classes in zip(images, boxes, classes):
        for (ymin, xmin, ymax, xmax), class_id in zip(image_boxes, image_classes):
            if class_id == 0:
                image[int(ymin) : int(ymax), int(xmin) : int(xmax)] = (230, 40, 40)
            else:
                inside = ((rows - (ymin + ymax) / 2) / ((ymax - ymin) / 2)) ** 2 + (
                    (cols - (xmin + xmax) / 2) / ((xmax - xmin) / 2)
                ) ** 2 <= 1
                image[inside] = (40, 40, 230)
    return images, boxes, classes


def calibration_scenes() -> list[np.ndarray]:
    """The two scenes, flipped and with noise: 8 uint8 calibration images."""
    images, _, _ = synthetic_scenes()
    rng = np.random.default_rng(1)
    variants = [images, images[:, :, ::-1], images[:, ::-1], images[:, ::-1, ::-1]]
    noisy = [np.clip(v + rng.integers(-10, 11, v.shape), 0, 255) for v in variants]
    return [np.asarray(image, np.uint8) for batch in noisy for image in batch]


def build_tiny_model(num_classes: int = len(TINY_CLASS_NAMES), **kwargs) -> kr.RetinaNet:
    """An untrained mobilenetv2_035 RetinaNet with a 32-channel FPN and head."""
    arguments = {
        "backbone": "mobilenetv2_035",
        "backbone_weights": None,
        "backbone_frozen_batch_norm": True,
        "fpn_channels": 32,
        "head_channels": 32,
        "head_depth": 1,
    }
    arguments.update(kwargs)
    return kr.RetinaNet(num_classes, **arguments)


@functools.cache
def trained_tiny_model() -> kr.RetinaNet:
    """The tiny model trained `TINY_STEPS` steps on the two scenes (~15 s on 2 cores).

    BatchNorm stays frozen (no ImageNet weights here) so training and inference agree.
    Its top detections score 0.5-0.8 on the scenes.
    """
    keras.utils.set_random_seed(TINY_SEED)
    images, boxes, classes = synthetic_scenes()
    model = build_tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(TINY_LEARNING_RATE))
    batch = (images.astype(np.float32), {"boxes": boxes, "classes": classes})
    model.fit(
        tf.data.Dataset.from_tensors(batch).repeat(),
        steps_per_epoch=TINY_STEPS,
        epochs=1,
        verbose=0,
    )
    return model


@functools.cache
def tiny_export(quantization: str, use_regular_nms: bool = False) -> tuple[str, object]:
    """`(path, ExportReport)` of the trained tiny model exported at 128 px."""
    nms = "regular" if use_regular_nms else "fast"
    path = os.path.join(_ARTIFACTS, f"tiny_{quantization}_{nms}.tflite")
    report = export_tflite(
        trained_tiny_model(),
        path,
        image_size=TINY_SIZE,
        quantization=quantization,
        representative_images=calibration_scenes() if quantization == "int8" else None,
        labels=TINY_CLASS_NAMES,
        use_regular_nms=use_regular_nms,
    )
    return path, report


def keras_detections_with_nms(model: kr.RetinaNet, images: np.ndarray, class_wise: bool):
    """The Keras model's detections with class-wise or class-agnostic NMS."""
    if class_wise:
        return model.predict_on_batch(images.astype(np.float32))
    raw = model(images.astype(np.float32), training=False)
    decoder = kr.DetectionDecoder.from_config(
        {**model.detection_decoder.get_config(), "class_wise_nms": False}
    )
    return model.decode_predictions(raw, images.shape[1:3], decoder)


def artifacts_dir() -> str:
    """A folder that lives as long as the test process."""
    return _ARTIFACTS


# ----------------------------------------------------------------------------- parity


@pytest.mark.parametrize(
    "use_regular_nms, threads", [(False, 2), (True, 4)], ids=["fast_nms", "class_wise_nms"]
)
def test_float32_detections_match_keras_predict(use_regular_nms, threads):
    # Fast NMS equals the Keras decoder with class-agnostic NMS and a class-wise file
    # equals `predict`, on several threads (test_conformance.py runs 1-8 and 12 classes).
    model = trained_tiny_model()
    path, _ = tiny_export("float32", use_regular_nms)
    images, _, _ = synthetic_scenes()
    keras_detections = keras_detections_with_nms(model, images, class_wise=use_regular_nms)
    detector = TFLiteDetector(path, num_threads=threads)
    assert detector.uses_regular_nms == use_regular_nms
    assert detector.num_threads == threads
    lite_detections = detector.predict(images)

    for index in range(len(images)):
        keras_scores = np.asarray(keras_detections["scores"][index])
        lite_scores = lite_detections["scores"][index]
        count = int(np.sum(keras_scores > PARITY_MIN_SCORE))
        assert count >= PARITY_MIN_DETECTIONS, "the tiny model must produce real detections"
        assert int(np.sum(lite_scores > PARITY_MIN_SCORE)) == count
        keras_boxes = np.asarray(keras_detections["boxes"][index][:count]) / TINY_SIZE
        lite_boxes = lite_detections["boxes"][index][:count] / TINY_SIZE
        np.testing.assert_allclose(lite_boxes, keras_boxes, atol=BOX_TOLERANCE_NORMALISED)
        np.testing.assert_array_equal(
            lite_detections["classes"][index][:count],
            np.asarray(keras_detections["classes"][index][:count]),
        )
        np.testing.assert_allclose(lite_scores[:count], keras_scores[:count], atol=SCORE_TOLERANCE)
        assert float(keras_scores[0]) > 0.5  # confident, not prior-level noise


def test_keras_letterbox_detector_takes_the_files_nms_flavour():
    model = trained_tiny_model()
    images, _, _ = synthetic_scenes()
    expected = keras_detections_with_nms(model, images[:1], class_wise=False)
    detections = keras_letterbox_detector(model, (TINY_SIZE, TINY_SIZE), class_wise_nms=False)(
        images[0]
    )
    count = int(expected["num_detections"][0])
    assert int(detections["num_detections"][0]) == count > 0
    np.testing.assert_allclose(detections["scores"][0][:count], expected["scores"][0][:count])
    assert model.detection_decoder.class_wise_nms  # the model's own decoder is untouched


def test_export_default_is_the_model_decoders_class_wise_nms(tmp_path):
    model = trained_tiny_model()
    report = export_tflite(model, str(tmp_path / "default.tflite"), image_size=TINY_SIZE)
    assert report.use_regular_nms == model.detection_decoder.class_wise_nms is True
    assert TFLiteDetector(report.path).uses_regular_nms


def test_detect_maps_boxes_back_to_the_original_image():
    path, _ = tiny_export("float32")
    detector = TFLiteDetector(path)
    images, _, _ = synthetic_scenes()
    # The scene upscaled 2x: letterboxing shrinks it back to 128 px (scale 1/2, the same
    # pixels) and detect() maps the boxes back to the 256 px image.
    large = np.repeat(np.repeat(images[0], 2, axis=0), 2, axis=1)
    on_network = detector.predict(images[0])
    on_original = detector.detect(large)
    assert on_original["classes"][0, 0] == on_network["classes"][0, 0]
    np.testing.assert_allclose(on_original["boxes"][0, 0] / 2, on_network["boxes"][0, 0], atol=1.0)
    count = int(on_original["num_detections"][0])
    assert np.all(on_original["boxes"][0, :count] <= 256.0)
    assert np.all(on_original["boxes"][0, count:] == 0.0)
    assert np.all(on_original["classes"][0, count:] == -1)


def test_uninitialised_rows_past_num_detections_are_zeroed_without_overflow():
    """Fast NMS leaves rows past num_detections uninitialised: huge or NaN values."""
    path, _ = tiny_export("float32")
    detector = TFLiteDetector(path)
    rows = detector.max_detections
    boxes = np.full((1, rows, 4), np.finfo(np.float32).max, np.float32)
    boxes[0, 0] = [0.25, 0.25, 0.5, 0.75]
    boxes[0, 2] = np.nan
    garbage = {
        "detection_boxes": boxes,
        "detection_scores": np.full((1, rows), np.nan, np.float32),
        "detection_classes": np.full((1, rows), 3e9, np.float32),
        "num_detections": np.asarray([1.0], np.float32),
    }
    garbage["detection_scores"][0, 0] = 0.9
    garbage["detection_classes"][0, 0] = 1.0
    detector._runner = lambda **_: garbage
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in the scaling would raise here
        out = detector.predict(np.zeros((TINY_SIZE, TINY_SIZE, 3), np.uint8))
    np.testing.assert_allclose(out["boxes"][0, 0], [32.0, 32.0, 64.0, 96.0])
    assert np.all(out["boxes"][0, 1:] == 0.0) and np.all(out["scores"][0, 1:] == 0.0)
    assert out["classes"][0, 0] == 1 and np.all(out["classes"][0, 1:] == -1)
    assert int(out["num_detections"][0]) == 1


def test_letterbox_geometry():
    # 100 x 50 (H x W) into 64 x 64: factor 0.64 -> 64 x 32 at the top-left.
    image = np.full([100, 50, 3], 255, np.uint8)
    result = letterbox(image, (64, 64))
    assert result.image.shape == (64, 64, 3)
    np.testing.assert_allclose(result.image[:, :32], 255.0)
    np.testing.assert_allclose(result.image[:, 32:], 0.0)
    np.testing.assert_allclose(result.scale, [64 / 100, 32 / 50])
    np.testing.assert_array_equal(result.original_size, [100, 50])
    # An image of the input size passes unchanged.
    same = letterbox(image[:64, :48], (64, 48))
    np.testing.assert_array_equal(same.image, image[:64, :48].astype(np.float32))
    np.testing.assert_array_equal(same.scale, [1.0, 1.0])
    with pytest.raises(ValueError, match="one RGB image"):
        letterbox(np.zeros([2, 8, 8, 3]), (8, 8))


def test_int8_top_detections_agree_with_keras():
    model = trained_tiny_model()
    path, _ = tiny_export("int8")
    images, _, _ = synthetic_scenes()
    keras_detections = model.predict_on_batch(images.astype(np.float32))
    lite_detections = TFLiteDetector(path).predict(images)
    for index in range(len(images)):
        keras_top = np.asarray(keras_detections["boxes"][index][0])
        lite_top = lite_detections["boxes"][index][0]
        assert lite_detections["classes"][index][0] == int(keras_detections["classes"][index][0])
        assert _iou(keras_top, lite_top) > 0.9
        assert (
            abs(lite_detections["scores"][index][0] - keras_detections["scores"][index][0]) < 0.05
        )


@pytest.mark.parametrize("quantization", ["float16", "dynamic"])
def test_float16_and_dynamic_exports_run_and_shrink(quantization):
    float_path, float_report = tiny_export("float32")
    path, report = tiny_export(quantization)
    assert report.quantization == quantization
    assert report.size_bytes < 0.6 * float_report.size_bytes
    assert report.inputs[0].dtype == "float32"
    images, _, _ = synthetic_scenes()
    reference = TFLiteDetector(float_path).predict(images)
    detections = TFLiteDetector(path).predict(images)
    for index in range(len(images)):
        assert detections["classes"][index][0] == reference["classes"][index][0]
        assert _iou(detections["boxes"][index][0], reference["boxes"][index][0]) > 0.9


# ----------------------------------------------------------------------------- contract


@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_output_signature_contract(quantization):
    path, report = tiny_export(quantization)
    interpreter = Interpreter(model_path=path)
    assert interpreter.get_signature_list() == {
        SIGNATURE_KEY: {"inputs": [INPUT_NAME], "outputs": list(OUTPUT_NAMES)}
    }
    runner = interpreter.get_signature_runner(SIGNATURE_KEY)
    input_detail = runner.get_input_details()[INPUT_NAME]
    expected_input = np.uint8 if quantization == "int8" else np.float32
    assert input_detail["dtype"] == expected_input
    assert list(input_detail["shape"]) == [1, TINY_SIZE, TINY_SIZE, 3]
    if quantization == "int8":
        # Raw pixels: scale 1, zero point 0, whatever range the calibration saw.
        assert input_detail["quantization"] == (1.0, 0)

    expected_shapes = {
        "detection_boxes": [1, 100, 4],
        "detection_classes": [1, 100],
        "detection_scores": [1, 100],
        "num_detections": [1],
    }
    outputs = runner.get_output_details()
    for name, shape in expected_shapes.items():
        assert list(outputs[name]["shape"]) == shape
        assert outputs[name]["dtype"] == np.float32

    # The file's graph outputs are named and ordered boxes, classes, scores, count.
    graph = read_tflite_graph(path)
    assert [t.name for t in graph.outputs] == list(OUTPUT_NAMES)
    assert [t.name for t in graph.inputs] == [INPUT_NAME]
    assert graph.ops[-1].op_type == POSTPROCESS_OP_NAME
    assert [t.name for t in report.outputs] == list(OUTPUT_NAMES)
    assert report.image_size == (TINY_SIZE, TINY_SIZE)
    assert report.op_summary[POSTPROCESS_OP_NAME] == 1

    result = runner(**{INPUT_NAME: np.zeros([1, TINY_SIZE, TINY_SIZE, 3], expected_input)})
    assert set(result) == set(OUTPUT_NAMES)


def test_labels_file_is_written_next_to_the_model():
    path, report = tiny_export("float32")
    assert report.labels_path == path.replace(".tflite", ".labels.txt")
    with open(report.labels_path, encoding="utf-8") as file:
        assert file.read().splitlines() == list(TINY_CLASS_NAMES)
    assert TFLiteDetector(path).labels == list(TINY_CLASS_NAMES)


def test_int8_report_lists_no_float_layers_and_int8_body():
    _, report = tiny_export("int8")
    assert report.quantization == "int8"
    assert report.float_ops == ()
    assert report.num_calibration_images == len(calibration_scenes())
    assert report.op_summary["DEQUANTIZE"] == 2  # the two float inputs of the post-process
    assert report.inputs[0].dtype == "uint8"


@functools.cache
def tiny_int8_auto_export():
    """The tiny model in int8 with `float_fallback="auto"` (errors measured)."""
    path = os.path.join(artifacts_dir(), "tiny_int8_auto.tflite")
    return export_tflite(
        trained_tiny_model(),
        path,
        image_size=TINY_SIZE,
        quantization="int8",
        representative_images=calibration_scenes(),
        float_fallback="auto",
    )


def test_float_fallback_auto_measures_every_layer():
    report = tiny_int8_auto_export()
    ratios = [error.error_ratio for error in report.layer_errors]
    assert len(ratios) > 50  # every quantized conv, add, ... of the body
    assert ratios == sorted(ratios, reverse=True)
    # Rounding alone gives ~0.29 steps (reshapes and concatenations of equal scales
    # ~0); a healthy small model has no layer near the threshold, so nothing is kept in
    # float.
    assert 0.2 < float(np.median(ratios)) < 0.4
    assert max(ratios) < DEFAULT_ERROR_RATIO_THRESHOLD
    assert report.float_fallback_nodes == ()
    assert report.float_ops == ()


def test_float_fallback_by_tensor_name_and_op_type():
    worst = tiny_int8_auto_export().layer_errors[0]
    path = os.path.join(artifacts_dir(), "tiny_int8_denylist.tflite")
    report = export_tflite(
        trained_tiny_model(),
        path,
        image_size=TINY_SIZE,
        quantization="int8",
        representative_images=calibration_scenes(),
        float_fallback=[worst.tensor_name, "LOGISTIC"],
    )
    assert set(report.float_fallback_nodes) == {worst.tensor_name, "LOGISTIC"}
    kept_types = sorted(op.split()[0] for op in report.float_ops)
    assert kept_types == sorted([worst.op_type, "LOGISTIC"])
    assert any(worst.tensor_name in op for op in report.float_ops)
    detections = TFLiteDetector(path).predict(synthetic_scenes()[0])
    assert int(detections["num_detections"][0]) > 0


def test_calibration_sources():
    image = np.full([64, 32, 3], 200, np.uint8)
    batch = np.stack([image, image])
    sources = [
        [image],
        batch,
        [{"image": image}],
        [(batch, {"boxes": None})],
        tf.data.Dataset.from_tensor_slices({"image": batch}),
    ]
    for source in sources:
        images = _collect_calibration_images(source, (48, 48), limit=3)
        assert images[0].shape == (1, 48, 48, 3)
        assert images[0].dtype == np.float32
        # Letterboxed: 64 x 32 -> 48 x 24 at the left, zeros on the right.
        np.testing.assert_allclose(images[0][0, :, :24], 200.0)
        np.testing.assert_allclose(images[0][0, :, 24:], 0.0)
    assert len(_collect_calibration_images([batch, batch], (48, 48), limit=3)) == 3


# ----------------------------------------------------------------------------- errors


def test_dynamic_input_size_must_be_given(tmp_path):
    with pytest.raises(ExportError, match="dynamic input size"):
        export_tflite(build_tiny_model(), tmp_path / "m.tflite", image_size=None)


def test_static_input_size_must_agree(tmp_path):
    model = build_tiny_model(image_shape=(TINY_SIZE, TINY_SIZE, 3))
    with pytest.raises(ExportError, match="fixed to"):
        export_tflite(model, tmp_path / "m.tflite", image_size=256)


def test_batch_larger_than_one_is_refused(tmp_path):
    with pytest.raises(ExportError, match="batch"):
        export_tflite(build_tiny_model(), tmp_path / "m.tflite", batch_size=2)


def test_unsupported_quantization_name(tmp_path):
    with pytest.raises(ExportError, match="Unsupported quantization 'int4'"):
        export_tflite(build_tiny_model(), tmp_path / "m.tflite", quantization="int4")


def test_labels_must_match_num_classes(tmp_path):
    with pytest.raises(ExportError, match="num_classes=2"):
        export_tflite(build_tiny_model(), tmp_path / "m.tflite", labels=["a", "b", "c"])


def test_int8_needs_representative_images(tmp_path):
    with pytest.raises(ExportError, match="representative_images"):
        export_tflite(build_tiny_model(), tmp_path / "m.tflite", quantization="int8")


@pytest.mark.parametrize(
    "options",
    [{"representative_images": [np.zeros([8, 8, 3])]}, {"float_fallback": "auto"}],
)
def test_int8_only_options_are_refused_for_float(tmp_path, options):
    with pytest.raises(ExportError, match="int8"):
        export_tflite(build_tiny_model(), tmp_path / "m.tflite", **options)


def test_not_a_retinanet(tmp_path):
    inputs = keras.Input([32, 32, 3])
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ExportError, match="RetinaNet"):
        export_tflite(model, tmp_path / "m.tflite", image_size=32)


# ----------------------------------------------------------------------------- int8 accuracy


@pytest.mark.slow
def test_int8_keeps_coco_ap_within_one_point_of_keras(tmp_path):
    """Trains ~2 minutes on 2 cores; the whole test takes ~3 minutes."""
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    shapes = {"image_size": ACCURACY_SIZE, "max_objects": SHAPES_MAX_OBJECTS}
    shapes["min_size"] = SHAPES_MIN_SIZE
    train = ShapesDataset(ACCURACY_TRAIN_IMAGES, seed=1, **shapes)
    val = ShapesDataset(ACCURACY_VAL_IMAGES, seed=2, **shapes)
    calibration = ShapesDataset(ACCURACY_CALIBRATION_IMAGES, seed=3, **shapes)
    resize = ResizeConfig(mode="letterbox", size=ACCURACY_SIZE)

    model = build_tiny_model(num_classes=train.num_classes, max_level=6)
    model.compile(optimizer=keras.optimizers.Adam(ACCURACY_LEARNING_RATE))
    pipeline = build_train_pipeline(
        train.as_dataset().cache(), ACCURACY_BATCH, resize=resize, seed=0
    ).repeat()
    model.fit(pipeline, steps_per_epoch=ACCURACY_STEPS, epochs=1, verbose=0)

    # Calibrate on batches of the real evaluation pipeline (resized like training).
    report = export_tflite(
        model,
        tmp_path / "shapes_int8.tflite",
        image_size=ACCURACY_SIZE,
        quantization="int8",
        representative_images=build_eval_pipeline(calibration.as_dataset(), 8, resize=resize),
        num_calibration_images=ACCURACY_CALIBRATION_IMAGES,
        labels=train.class_names,
    )
    size = (ACCURACY_SIZE, ACCURACY_SIZE)
    # The export's default NMS is class-agnostic: score the Keras model with the same NMS,
    # so the comparison measures quantization alone.
    keras_ap = evaluate_detector_on_elements(
        keras_letterbox_detector(model, size, class_wise_nms=False),
        val.as_dataset(),
        val.class_names,
    )["AP"]
    int8_ap = evaluate_detector_on_elements(
        TFLiteDetector(report.path, num_threads=2).detect, val.as_dataset(), val.class_names
    )["AP"]
    print(
        f"float Keras AP {100 * keras_ap:.2f}, int8 AP {100 * int8_ap:.2f}, "
        f"{time.perf_counter() - start:.0f} s"
    )
    assert keras_ap > MIN_FLOAT_AP
    assert int8_ap >= keras_ap - MAX_AP_DROP


def _iou(box_a: np.ndarray, box_b: np.ndarray) -> float:
    ymin, xmin = np.maximum(box_a[:2], box_b[:2])
    ymax, xmax = np.minimum(box_a[2:], box_b[2:])
    intersection = max(ymax - ymin, 0.0) * max(xmax - xmin, 0.0)
    area_a = (box_a[2] - box_a[0]) * (box_a[3] - box_a[1])
    area_b = (box_b[2] - box_b[0]) * (box_b[3] - box_b[1])
    return float(intersection / (area_a + area_b - intersection))


# ----------------------------------------------------------------------------- runner


def test_edgetpu_delegate_is_required_when_asked_or_compiled(tmp_path):
    if find_edgetpu_library() is not None:
        pytest.skip("libedgetpu is installed here")
    path, _ = tiny_export("int8")
    assert not TFLiteDetector(path).uses_edgetpu  # auto: CPU when there is no runtime
    with pytest.raises(RuntimeError, match="libedgetpu"):
        TFLiteDetector(path, use_edgetpu=True)
    # A model as edgetpu_compiler leaves it (its body in an "edgetpu-custom-op").
    model_object = flatbuffer_utils.read_model(path)
    flatbuffer_utils.rename_custom_ops(model_object, {POSTPROCESS_OP_NAME: EDGETPU_CUSTOM_OP})
    compiled = tmp_path / "tiny_edgetpu.tflite"
    flatbuffer_utils.write_model(model_object, str(compiled))
    with pytest.raises(RuntimeError, match="compiled by edgetpu_compiler"):
        TFLiteDetector(compiled)


def test_runner_rejects_a_model_without_the_signature(tmp_path):
    class Plain(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
        def double(self, x):
            return {"y": 2 * x}

    plain = Plain()
    directory = str(tmp_path / "saved")
    tf.saved_model.save(plain, directory, signatures={"double": plain.double})
    path = tmp_path / "plain.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(directory).convert())
    with pytest.raises(ValueError, match="no 'serving_default' signature"):
        TFLiteDetector(path)
    with pytest.raises(FileNotFoundError):
        TFLiteDetector(tmp_path / "missing.tflite")
