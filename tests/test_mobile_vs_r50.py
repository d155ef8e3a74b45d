"""benchmarks/mobile_vs_r50.py: both models get the shapes recipe's budget; smoke run."""

import dataclasses
import importlib
import json
import os
import sys

import pytest

from keras_retinanet.training.recipes.shapes import shapes_config

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


@pytest.fixture(scope="module")
def script():
    sys.path.insert(0, BENCHMARKS)
    try:
        yield importlib.import_module("mobile_vs_r50")
    finally:
        sys.path.remove(BENCHMARKS)


def test_only_the_architecture_differs(script, tmp_path):
    args = script.build_parser().parse_args([])
    mobile = script.model_config("mobile", args, str(tmp_path))
    r50 = script.model_config("r50", args, str(tmp_path))
    recipe = shapes_config()
    assert mobile.model == recipe.model
    assert r50.model.preset == "retinanet_resnet50_fpn_512"
    assert r50.model.backbone_frozen_batch_norm is False
    assert r50.model.backbone_frozen_stages == 0
    assert r50.model.resolved_max_level == mobile.model.resolved_max_level == 6
    # Everything else (data, anchors, matching, loss, optimizer, schedule) is the recipe's.
    same_model_fields = dataclasses.replace(
        r50.model,
        preset=mobile.model.preset,
        max_level=None,
        backbone_frozen_batch_norm=None,
        backbone_frozen_stages=None,
    )
    assert same_model_fields == recipe.model
    for config in (mobile, r50):
        assert config.data == recipe.data
        assert config.optimizer == recipe.optimizer
        assert config.schedule == recipe.schedule


def test_smoke_run_reports_both_models_and_the_verdict(script, tmp_path, capsys):
    out = tmp_path / "mobile_vs_r50.json"
    assert script.main(["--smoke", "--out", str(out), "--work-dir", str(tmp_path)]) == 0
    document = json.loads(out.read_text())
    assert document["smoke"] is True
    mobile, r50 = document["models"]["mobile"], document["models"]["r50"]
    assert mobile["steps"] == r50["steps"] == 2
    # R50-FPN at 128 px costs many times the FPN-Lite model's forward FLOPs.
    assert r50["forward_gflops"] > 10 * mobile["forward_gflops"] > 0
    assert 0 <= mobile["metrics"]["AP50"] <= 1 and 0 <= r50["metrics"]["AP50"] <= 1
    assert document["target"]["flop_fraction"] < 0.1
    assert "within 5 points" in document["target"]["target"]
    assert "MET" in capsys.readouterr().out


def test_steps_that_are_no_multiple_of_the_checkpoint_interval_are_kept(script, tmp_path):
    args = script.build_parser().parse_args(["--steps", "400"])
    for key in script.MODELS:
        config = script.model_config(key, args, str(tmp_path))
        assert config.schedule.total_steps == 400
        assert 400 % config.checkpoint.every_n_steps == 0
