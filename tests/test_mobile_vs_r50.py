"""benchmarks/mobile_vs_r50.py: both models get the shapes recipe's budget; smoke run."""

import dataclasses
import json

import pytest

from keras_retinanet.training.recipes.shapes import shapes_config


@pytest.fixture(scope="module")
def script(benchmark_module):
    return benchmark_module("mobile_vs_r50")


def test_only_the_architecture_and_r50s_learning_rate_differ(script, tmp_path):
    args = script.build_parser().parse_args([])
    mobile = script.model_config("mobile", args, str(tmp_path))
    r50 = script.model_config("r50", args, str(tmp_path))
    mobilenetv2 = script.model_config("mobilenetv2_fpnlite", args, str(tmp_path))
    recipe = shapes_config()
    assert mobile.model == recipe.model
    assert mobilenetv2.model == dataclasses.replace(
        recipe.model, preset="retinanet_mobilenetv2_fpnlite_320", max_level=6
    )
    assert mobilenetv2.optimizer == recipe.optimizer
    assert mobile.optimizer == recipe.optimizer
    assert r50.model.preset == "retinanet_resnet50_fpn_512"
    assert r50.model.backbone_frozen_batch_norm is False
    assert r50.model.backbone_frozen_stages == 0
    assert r50.model.resolved_max_level == mobile.model.resolved_max_level == 6
    # By default R50-FPN normalises its FPN and subnets like the mobile preset does.
    assert r50.model.fpn_batch_norm is r50.model.head_batch_norm is True
    for config in (mobile, mobilenetv2, r50):
        assert script.fpn_and_head_batch_norm(config) is True
    assert r50.optimizer == dataclasses.replace(
        recipe.optimizer, base_learning_rate=script.R50_LEARNING_RATE
    )
    # Everything else (data, anchors, matching, loss, schedule) is the recipe's.
    same_model_fields = dataclasses.replace(
        r50.model,
        preset=mobile.model.preset,
        max_level=None,
        backbone_frozen_batch_norm=None,
        backbone_frozen_stages=None,
        fpn_batch_norm=None,
        head_batch_norm=None,
    )
    assert same_model_fields == recipe.model
    for config in (mobile, mobilenetv2, r50):
        assert config.data == recipe.data
        assert config.schedule == recipe.schedule


def test_r50_flags_choose_the_paper_heads_and_its_learning_rate(script, tmp_path):
    args = script.build_parser().parse_args(
        ["--r50-heads", "paper", "--r50-learning-rate", "0.0005"]
    )
    r50 = script.model_config("r50", args, str(tmp_path))
    mobile = script.model_config("mobile", args, str(tmp_path))
    assert r50.model.fpn_batch_norm is r50.model.head_batch_norm is False
    assert script.fpn_and_head_batch_norm(r50) is False
    assert r50.optimizer.base_learning_rate == 0.0005
    # The mobile model keeps the recipe's rate and heads.
    assert mobile.optimizer.base_learning_rate == shapes_config().optimizer.base_learning_rate
    assert script.fpn_and_head_batch_norm(mobile) is True


def test_smoke_run_reports_every_model_and_the_verdicts(script, tmp_path, capsys):
    out = tmp_path / "mobile_vs_r50.json"
    assert script.main(["--smoke", "--out", str(out), "--work-dir", str(tmp_path)]) == 0
    document = json.loads(out.read_text())
    assert document["smoke"] is True
    models = document["models"]
    assert set(models) == {"mobile", "mobilenetv2_fpnlite", "r50"}
    assert models["mobilenetv2_fpnlite"]["preset"] == "retinanet_mobilenetv2_fpnlite_320"
    assert models["mobilenetv2_fpnlite"]["input_size"] == models["r50"]["input_size"] == 128
    for row in models.values():
        assert row["steps"] == 2
        assert row["fpn_and_head_batch_norm"] is True
        assert 0 <= row["metrics"]["AP50"] <= 1
    assert models["r50"]["learning_rate"] == script.R50_LEARNING_RATE
    # R50-FPN at 128 px costs many times either FPN-Lite model's forward FLOPs.
    mobile, mobilenetv2, r50 = (models[key]["forward_gflops"] for key in script.MODELS)
    assert r50 > 10 * mobilenetv2 > 10 * mobile > 0
    targets = document["targets"]
    assert set(targets) == {"mobile", "mobilenetv2_fpnlite"}
    for key, target in targets.items():
        assert target["flop_fraction"] == models[key]["forward_gflops"] / r50
        assert target["gap_points"] == pytest.approx(
            script.POINTS * (models["r50"]["metrics"]["AP50"] - models[key]["metrics"]["AP50"])
        )
        assert target["met"] == (target["gap_points"] <= script.TARGET_AP50_GAP)
        assert "within 5 points" in target["target"]
    printed = capsys.readouterr().out
    for target in targets.values():
        verdict = "MET" if target["met"] else "NOT MET"
        assert f"{target['target']}: {verdict} (gap" in printed


def test_verdicts_need_r50_and_judge_each_mobile_model(script):
    def row(ap50, gflops):
        return {"metrics": {"AP50": ap50}, "forward_gflops": gflops}

    assert script.verdicts({"mobile": row(0.5, 0.1)}) == {}
    targets = script.verdicts(
        {"mobile": row(0.60, 0.1), "mobilenetv2_fpnlite": row(0.70, 0.5), "r50": row(0.70, 5.0)}
    )
    assert targets["mobile"]["gap_points"] == pytest.approx(10.0)
    assert targets["mobile"]["met"] is False
    assert targets["mobilenetv2_fpnlite"]["gap_points"] == pytest.approx(0.0)
    assert targets["mobilenetv2_fpnlite"]["met"] is True
    assert targets["mobilenetv2_fpnlite"]["flop_fraction"] == pytest.approx(0.1)


def test_steps_that_are_no_multiple_of_the_checkpoint_interval_are_kept(script, tmp_path):
    args = script.build_parser().parse_args(["--steps", "400"])
    for key in script.MODELS:
        config = script.model_config(key, args, str(tmp_path))
        assert config.schedule.total_steps == 400
        assert 400 % config.checkpoint.every_n_steps == 0
