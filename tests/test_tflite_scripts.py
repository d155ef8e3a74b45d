"""The tflite/ command-line scripts: --help and a smoke run of each on a tiny model."""

import json
import os
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
from test_tflite_exporter import (
    TINY_CLASS_NAMES,
    TINY_SIZE,
    artifacts_dir,
    calibration_scenes,
    synthetic_scenes,
    tiny_export,
    trained_tiny_model,
)

from keras_retinanet.export import OUTPUT_NAMES

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS_DIR = os.path.join(REPO_ROOT, "tflite")
SCRIPTS = ("export.py", "check.py", "evaluate.py", "benchmark.py", "detect.py")
# A script run (TensorFlow import included) must finish well within this.
TIMEOUT_S = 300


def run_script(name: str, *arguments: str) -> subprocess.CompletedProcess:
    """Runs `python tflite/<name> arguments...` with the repository importable."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT, *filter(None, [environment.get("PYTHONPATH")])]
    )
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return subprocess.run(
        [sys.executable, os.path.join(SCRIPTS_DIR, name), *arguments],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=environment,
        cwd=REPO_ROOT,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    output = _ok(run_script(script, "--help"))
    assert output.startswith("usage:")


@pytest.fixture(scope="module")
def keras_model_path():
    path = os.path.join(artifacts_dir(), "tiny.keras")
    if not os.path.exists(path):
        trained_tiny_model().save(path)
    return path


def test_export_int8_with_calibration_images(keras_model_path, tmp_path):
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for index, image in enumerate(calibration_scenes()[:4]):
        PIL.Image.fromarray(image).save(calibration / f"{index}.png")
    out = tmp_path / "m_int8.tflite"
    report_json = tmp_path / "report.json"
    output = _ok(
        run_script(
            "export.py",
            "--model",
            keras_model_path,
            "--size",
            str(TINY_SIZE),
            "--quantize",
            "int8",
            "--calibration-data",
            f"images:{calibration}",
            "--num-calibration-images",
            "3",
            "--out",
            str(out),
            "--report-json",
            str(report_json),
        )
    )
    assert "int8, input 128x128, 2 classes" in output
    assert "calibrated on 3 images" in output
    assert "layers kept in float: none" in output
    assert "Edge TPU readiness:" in output
    assert out.exists() and (tmp_path / "m_int8.labels.txt").exists()
    report = json.loads(report_json.read_text())
    assert report["quantization"] == "int8"
    assert [o["name"] for o in report["outputs"]] == list(OUTPUT_NAMES)
    assert report["inputs"][0]["dtype"] == "uint8"


def test_export_reports_errors(keras_model_path, tmp_path):
    result = run_script(
        "export.py",
        "--model",
        keras_model_path,
        "--quantize",
        "int8",
        "--out",
        str(tmp_path / "x.tflite"),
    )
    assert result.returncode == 2
    assert "--quantize int8 needs --calibration-data" in result.stderr
    assert not (tmp_path / "x.tflite").exists()
    # Errors of the library (here: labels that do not match the model) exit with 1.
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\n")
    result = run_script(
        "export.py",
        "--model",
        keras_model_path,
        "--size",
        str(TINY_SIZE),
        "--labels",
        str(labels),
        "--out",
        str(tmp_path / "x.tflite"),
    )
    assert result.returncode == 1
    assert "error: 3 labels given but the model has num_classes=2" in result.stderr


def test_evaluate(keras_model_path, tmp_path):
    path, _ = tiny_export("float32")
    metrics_json = tmp_path / "metrics.json"
    output = _ok(
        run_script(
            "evaluate.py",
            path,
            "--data",
            f"shapes:4:{TINY_SIZE}",
            "--compare-keras",
            keras_model_path,
            "--json",
            str(metrics_json),
        )
    )
    assert "tflite" in output and "keras" in output
    metrics = json.loads(metrics_json.read_text())
    assert set(metrics) == {"tflite", "keras"}
    assert -1.0 <= metrics["tflite"]["AP"] <= 1.0
    # The float .tflite and the Keras model see the same letterboxed pixels.
    assert metrics["tflite"]["AP50"] == pytest.approx(metrics["keras"]["AP50"], abs=0.05)


def test_benchmark(tmp_path):
    float_path, _ = tiny_export("float32")
    int8_path, _ = tiny_export("int8")
    results_json = tmp_path / "bench.json"
    output = _ok(
        run_script(
            "benchmark.py",
            float_path,
            int8_path,
            "--threads",
            "1",
            "2",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--json",
            str(results_json),
        )
    )
    assert "median ms" in output and "p90 ms" in output
    rows = json.loads(results_json.read_text())
    assert [(os.path.basename(r["model"]), r["threads"]) for r in rows] == [
        ("tiny_float32_fast.tflite", 1),
        ("tiny_float32_fast.tflite", 2),
        ("tiny_int8_fast.tflite", 1),
        ("tiny_int8_fast.tflite", 2),
    ]
    assert all(r["median_ms"] > 0 and r["p90_ms"] >= r["median_ms"] for r in rows)
    assert rows[0]["size_bytes"] > rows[2]["size_bytes"]  # int8 is smaller


def test_detect_draws_labelled_boxes(tmp_path):
    path, _ = tiny_export("int8")
    images, _, _ = synthetic_scenes()
    image_path = tmp_path / "scene.png"
    PIL.Image.fromarray(images[0]).save(image_path)
    drawn = tmp_path / "drawn.png"
    output = _ok(run_script("detect.py", path, str(image_path), "--out", str(drawn)))
    assert "(CPU)" in output
    assert any(name in output for name in TINY_CLASS_NAMES)
    with PIL.Image.open(drawn) as result:
        pixels = np.asarray(result.convert("RGB"))
    assert pixels.shape == images[0].shape
    assert not np.array_equal(pixels, images[0])  # boxes were drawn


def test_evaluate_sorts_objects_by_annotation_area_like_retinanet_evaluate(tmp_path):
    # A detector that finds exactly the objects whose annotation area (the shapes'
    # visible pixels) is small: scored on the annotation areas APs = 1 and APm = 0. The
    # box areas put some of those objects among the medium ones (a disc covers ~79 % of
    # its box), which changes APs/APm: the script must score like `coco_evaluator_for`.
    import importlib

    from keras_retinanet.data import CocoJsonDataset, ShapesDataset
    from keras_retinanet.evaluation import coco_evaluator_for

    dataset = CocoJsonDataset(*ShapesDataset(12, image_size=128, seed=3).write_coco(tmp_path))
    small = 32.0**2
    found = {}
    flipped = 0
    for record, element in zip(dataset.records(), dataset.as_dataset().as_numpy_iterator()):
        keep = record.area < small
        boxes = record.boxes[keep]
        box_areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        flipped += int(np.sum(box_areas >= small))
        found[element["image"].tobytes()] = (record.image_id, boxes, record.classes[keep])
    assert flipped > 0  # the two areas disagree on some object of this data

    def detect(image):
        _, boxes, classes = found[image.tobytes()]
        count = len(boxes)
        return {
            "boxes": boxes[np.newaxis],
            "scores": np.ones([1, count], np.float32),
            "classes": classes[np.newaxis],
            "num_detections": np.array([count]),
        }

    sys.path.insert(0, SCRIPTS_DIR)
    try:
        evaluate = importlib.import_module("evaluate")
    finally:
        sys.path.remove(SCRIPTS_DIR)
    metrics = evaluate.evaluate_on_dataset(detect, dataset)
    reference = coco_evaluator_for(dataset)
    for image_id, boxes, classes in found.values():
        reference.update_state(
            [image_id], boxes[np.newaxis], np.ones([1, len(boxes)]), classes[np.newaxis]
        )
    assert metrics == pytest.approx(reference.result())
    assert metrics["APs"] == pytest.approx(1.0)
    assert metrics["APm"] == pytest.approx(0.0)


def test_check_runs_the_file_in_every_client(keras_model_path, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    scenes, _, _ = synthetic_scenes()
    for index, image in enumerate(scenes):
        PIL.Image.fromarray(image).save(images / f"scene_{index}.png")
    path, _ = tiny_export("int8", use_regular_nms=True)
    output = _ok(
        run_script(
            "check.py",
            path,
            "--data",
            f"images:{images}",
            "--model",
            keras_model_path,
            "--threads",
            "1",
            "2",
            "3",
        )
    )
    for run in ("litert-xnnpack-1", "litert-xnnpack-3", "litert-builtin-2"):
        assert f"{run}: ok" in output
    assert "per-class recall" in output
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        assert "skipped mediapipe" in output
    else:
        assert "mediapipe: ok" in output
