"""`recipes/demo.py` (what `make demo` runs) end to end at a toy size: every stage runs and
writes what the README promises."""

import json
import os

import PIL.Image
import pytest

from recipes import demo

pytestmark = pytest.mark.slow


def test_demo_runs_every_stage_and_writes_its_outputs(tmp_path):
    out = str(tmp_path / "demo")
    argv = ["--output-dir", out, "--steps", "4", "--train-images", "32", "--eval-images", "8"]
    assert demo.main([*argv, "--calibration-images", "8"]) == 0

    with open(os.path.join(out, "summary.json")) as handle:
        summary = json.load(handle)
    assert summary["config"]["steps"] == 4
    for key in ("keras_metrics", "keras_class_agnostic_nms_metrics", "tflite_int8_metrics"):
        assert set(summary[key]) >= {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"}
        assert all(-1.0 <= value <= 1.0 for value in summary[key].values())
    # Full-integer export: nothing but the post-process op stayed float.
    assert summary["tflite_float_ops"] == []
    tflite_path = os.path.join(out, "retinanet_int8.tflite")
    assert os.path.getsize(tflite_path) == summary["tflite_size_bytes"] > 0
    assert os.path.exists(os.path.join(out, "run", "last.keras"))
    with PIL.Image.open(os.path.join(out, "detections.png")) as sheet:
        # Six 128 px held-out images side by side (fewer when the split is smaller).
        assert sheet.size == (demo.PNG_IMAGES * 128, 128)
