"""`recipes/demo.py` (what `make demo` runs) end to end at a toy size: every stage does what
the README says it does, checked by redoing it from the files the demo wrote."""

import json
import os

import keras
import numpy as np
import PIL.Image
import pytest

from keras_retinanet.data import ShapesDataset
from keras_retinanet.evaluation import evaluate_detector
from keras_retinanet.export import TFLiteDetector
from keras_retinanet.export.conformance_check import check_conformance
from keras_retinanet.export.detector_evaluation import evaluate_detector_on_elements
from recipes import demo

pytestmark = pytest.mark.slow

STEPS = 4
# Area-independent COCO metrics (the size split is the evaluator's business).
OVERALL = ("AP", "AP50", "AP75", "AR100")


def test_demo_trains_scores_the_held_out_split_and_exports_a_working_int8_file(tmp_path):
    out = str(tmp_path / "demo")
    argv = ["--output-dir", out, "--steps", str(STEPS), "--train-images", "32"]
    argv += ["--eval-images", "8", "--calibration-images", "8"]
    assert demo.main(argv) == 0
    with open(os.path.join(out, "summary.json")) as handle:
        summary = json.load(handle)
    config = demo.demo_config(demo.build_parser().parse_args(argv))
    train_spec, eval_spec = config.data.train, config.data.eval
    assert (train_spec.num_images, eval_spec.num_images) == (32, 8)
    assert train_spec.seed != eval_spec.seed  # held out: another generator seed

    # Training ran exactly the steps asked for.
    assert summary["config"]["steps"] == STEPS
    model = keras.models.load_model(os.path.join(out, "run", "last.keras"))
    assert int(model.optimizer.iterations) == STEPS

    # The reported AP is the saved model's on the held-out split.
    held_out = ShapesDataset(eval_spec.num_images, eval_spec.image_size, seed=eval_spec.seed)
    again = evaluate_detector(model, held_out, config.data.resize)
    for name in OVERALL:
        assert summary["keras_metrics"][name] == pytest.approx(again[name], abs=1e-6), name

    # The int8 file: full-integer, the size reported, it loads in LiteRT and its
    # held-out scores are the ones reported.
    assert summary["tflite_float_ops"] == []
    tflite_path = os.path.join(out, "retinanet_int8.tflite")
    assert os.path.getsize(tflite_path) == summary["tflite_size_bytes"] > 0
    detector = TFLiteDetector(tflite_path, num_threads=demo.TFLITE_THREADS)
    assert detector.input_size == (config.data.resize.size,) * 2
    rescored = evaluate_detector_on_elements(
        detector.detect, held_out.as_dataset(), held_out.class_names, held_out.category_ids
    )
    for name in OVERALL:
        assert summary["tflite_int8_metrics"][name] == pytest.approx(rescored[name], abs=1e-6)

    # The file loads in every client (MediaPipe Tasks' ObjectDetector too, where installed:
    # `make test` installs it) and agrees on 1-8 LiteRT threads (tests/test_conformance.py).
    report = check_conformance(tflite_path, [held_out.render(i)[0] for i in range(2)])
    assert report.ok, report.summary()
    assert any(run.name == "mediapipe" for run in report.runs) or report.skipped

    # The PNG shows the first held-out images (boxes drawn over them at most).
    size = eval_spec.image_size
    with PIL.Image.open(os.path.join(out, "detections.png")) as sheet:
        assert sheet.size == (demo.PNG_IMAGES * size, size)
        pixels = np.asarray(sheet.convert("RGB"))
    for index in range(demo.PNG_IMAGES):
        image, _ = held_out.render(index)
        same = np.all(pixels[:, index * size : (index + 1) * size] == image, axis=-1)
        assert same.mean() > 0.8, (index, same.mean())
