"""Every exported file in every client: LiteRT (XNNPACK and builtin, 1-8 threads), MediaPipe.

Files: float32 and int8, class-wise and fast NMS, a 2-class model and a 12-class one (the
2-class model's trained weights with its class outputs tiled, so every one of the 12
classes is detected and a class that a thread count loses shows). `mediapipe` is installed
by `make test` (the `[dev]` extra); without it the MediaPipe checks are skipped, saying so.
"""

import functools
import os

import keras
import numpy as np
import pytest
from test_tflite_exporter import (
    TINY_CLASS_NAMES,
    TINY_SIZE,
    artifacts_dir,
    build_tiny_model,
    calibration_scenes,
    synthetic_scenes,
    trained_tiny_model,
)

from keras_retinanet.export import ClassColumnLayout, TFLiteDetector, export_tflite, read_metadata
from keras_retinanet.export.conformance_check import (
    DEFAULT_THREAD_COUNTS,
    REFERENCE_RUN,
    check_conformance,
)

MANY_CLASSES = 12
# Class k of the 12-class model copies class k % 2 of the trained model, with its logit
# lowered by this much per pair, so the scores of the copies differ.
LOGIT_STEP = 0.05
MIN_DETECTED_CLASSES = MANY_CLASSES  # every class must be detected on the scenes
MIN_RECALL = 0.9

try:
    import mediapipe  # noqa: F401

    HAVE_MEDIAPIPE = True
except ImportError:  # pragma: no cover - make test installs it
    HAVE_MEDIAPIPE = False


@functools.cache
def many_class_model(num_classes: int = MANY_CLASSES) -> keras.Model:
    """The trained 2-class tiny model with more classes (class k = class k % 2, shifted)."""
    source = trained_tiny_model()
    model = build_tiny_model(num_classes=num_classes)
    model(np.zeros([1, TINY_SIZE, TINY_SIZE, 3], np.float32))
    for layer in model.layers:
        if layer.name != "classification_head":
            layer.set_weights(source.get_layer(layer.name).get_weights())
    head, source_head = (
        model.get_layer("classification_head"),
        source.get_layer("classification_head"),
    )
    for conv, source_conv in zip(head.hidden_convs, source_head.hidden_convs):
        conv.set_weights(source_conv.get_weights())
    kernel, bias = source_head.output_conv.get_weights()
    num_anchors = source_head.num_anchors
    k_source = len(TINY_CLASS_NAMES)
    columns = [
        anchor * k_source + k % k_source
        for anchor in range(num_anchors)
        for k in range(num_classes)
    ]
    shift = np.tile([-LOGIT_STEP * (k // k_source) for k in range(num_classes)], num_anchors)
    head.output_conv.set_weights([kernel[..., columns], bias[columns] + shift])
    return model


def many_class_names(num_classes: int = MANY_CLASSES) -> tuple[str, ...]:
    return tuple(f"{TINY_CLASS_NAMES[k % 2]}_{k}" for k in range(num_classes))


@functools.cache
def exported(quantization: str, class_wise: bool, many: bool) -> str:
    model = many_class_model() if many else trained_tiny_model()
    names = many_class_names() if many else TINY_CLASS_NAMES
    path = os.path.join(
        artifacts_dir(),
        f"conformance_{quantization}_{'cw' if class_wise else 'fast'}_{len(names)}.tflite",
    )
    export_tflite(
        model,
        path,
        image_size=TINY_SIZE,
        quantization=quantization,
        representative_images=calibration_scenes() if quantization == "int8" else None,
        labels=names,
        use_regular_nms=class_wise,
    )
    return path


def scenes() -> list[np.ndarray]:
    images, _, _ = synthetic_scenes()
    return [images[0], images[1], images[1][:, ::-1]]


@pytest.mark.parametrize("many", [False, True], ids=["2_classes", "12_classes"])
@pytest.mark.parametrize("class_wise", [True, False], ids=["class_wise", "fast"])
@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_every_runtime_loads_the_file_and_agrees(quantization, class_wise, many):
    model = many_class_model() if many else trained_tiny_model()
    path = exported(quantization, class_wise, many)
    report = check_conformance(path, scenes(), keras_model=model)
    print(report.summary())
    names = [run.name for run in report.runs]
    assert names[0] == REFERENCE_RUN
    expected = {f"litert-{k}-{t}" for k in ("xnnpack", "builtin") for t in DEFAULT_THREAD_COUNTS}
    assert expected <= set(names)
    assert HAVE_MEDIAPIPE == ("mediapipe" in names), report.skipped
    assert report.ok, report.summary()
    assert not report.missing_classes(MIN_RECALL), report.summary()
    # With class-wise NMS the Keras model detects every class on the scenes, so a class the
    # file lost could not hide (fast NMS keeps only each anchor's best class).
    detected = [name for name, value in report.per_class_recall.items() if value == value]
    if class_wise:
        assert len(detected) == (MIN_DETECTED_CLASSES if many else len(TINY_CLASS_NAMES))
    else:
        assert detected


def test_twelve_class_file_returns_every_class_on_every_thread_count():
    # The regression the column layout fixes: LiteRT's class-wise kernel on T threads never
    # processes score column T. Every class must come back on 1-8 threads.
    path = exported("float32", True, True)
    layout = TFLiteDetector(path).layout
    assert layout == ClassColumnLayout.thread_safe(MANY_CLASSES)
    assert layout.num_columns == MANY_CLASSES + 7
    images = scenes()
    for threads in DEFAULT_THREAD_COUNTS:
        detector = TFLiteDetector(path, num_threads=threads)
        classes = set()
        for image in images:
            out = detector.predict(image)
            classes |= set(out["classes"][0][: int(out["num_detections"][0])].tolist())
        assert classes == set(range(MANY_CLASSES)), (threads, sorted(classes))


def test_unpadded_class_wise_layout_would_lose_the_class_in_column_t():
    # The layout's own rule, checked against the kernel in test_detection_postprocess.py.
    identity = ClassColumnLayout.identity(MANY_CLASSES)
    assert [t for t in DEFAULT_THREAD_COUNTS if not identity.safe_on(t)] == [2, 3, 4, 6, 8]
    padded = ClassColumnLayout.thread_safe(MANY_CLASSES)
    assert all(padded.safe_on(t) for t in range(1, 9))
    assert not padded.safe_on(9)  # column 9 holds class 2


def test_metadata_labels_and_normalisation_are_read_back():
    path = exported("int8", True, True)
    metadata = read_metadata(path)
    assert metadata is not None
    assert metadata.image_size == (TINY_SIZE, TINY_SIZE)
    assert metadata.mean == (0.0,) and metadata.std == (1.0,)
    layout = ClassColumnLayout.thread_safe(MANY_CLASSES)
    assert list(metadata.labels) == layout.labels(many_class_names())
    detector = TFLiteDetector(path)
    assert detector.labels == list(many_class_names())


@pytest.mark.skipif(not HAVE_MEDIAPIPE, reason="mediapipe is not installed")
def test_mediapipe_refuses_a_file_without_metadata(tmp_path):
    path = str(tmp_path / "no_metadata.tflite")
    export_tflite(trained_tiny_model(), path, image_size=TINY_SIZE, metadata=False)
    report = check_conformance(path, scenes()[:1], thread_counts=(1,))
    mediapipe_run = next(run for run in report.runs if run.name == "mediapipe")
    assert not mediapipe_run.loaded
    assert "Metadata" in mediapipe_run.error


def test_thread_counts_that_would_skip_a_class_are_refused():
    path = exported("float32", True, True)
    with pytest.raises(ValueError, match="never processes score column 9"):
        TFLiteDetector(path, num_threads=9)
    # Timing only (tflite/benchmark.py) may run it there anyway.
    assert TFLiteDetector(path, num_threads=9, allow_regular_nms_threads=True).num_threads == 9


@pytest.mark.parametrize("num_classes", [3, 5])
def test_fewer_classes_than_placeholders_export_and_conform(tmp_path, num_classes):
    # K between 3 and 7: fewer real classes than the 7 placeholder columns (the demo has 5).
    path = str(tmp_path / f"classes_{num_classes}.tflite")
    report = export_tflite(
        many_class_model(num_classes),
        path,
        image_size=TINY_SIZE,
        labels=many_class_names(num_classes),
        use_regular_nms=True,
    )
    assert len(report.label_map) == num_classes + 7
    result = check_conformance(path, scenes()[:2], thread_counts=(1, 2, 3, 8))
    assert result.ok, result.summary()
    classes = set()
    for image in scenes():
        out = TFLiteDetector(path, num_threads=3).predict(image)
        classes |= set(out["classes"][0][: int(out["num_detections"][0])].tolist())
    assert classes == set(range(num_classes))
