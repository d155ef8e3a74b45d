"""The edge presets (issue 6) and the plumbing of `benchmarks/mobile_targets.py`.

The measurements themselves (int8 size, LiteRT latency, readiness, accuracy) take ~45 minutes
and live in `benchmarks/MOBILE.md`; here: the presets are FPN-Lite as specified, the mobile
model costs a small fraction of R50-FPN's FLOPs, both models of the accuracy comparison get
the same budget, and the target verdicts compare the right numbers.
"""

import dataclasses

import pytest

from keras_retinanet.presets import (
    DEMO_LITE_CHANNELS,
    DEMO_LITE_HEAD_DEPTH,
    LITE_CHANNELS,
    PRESETS,
    build_model,
)

LITE_PRESETS = sorted(name for name in PRESETS if "_fpnlite_" in name)


@pytest.fixture(scope="module")
def mobile_targets(benchmark_module):
    return benchmark_module("mobile_targets")


@pytest.mark.parametrize("name", LITE_PRESETS)
def test_lite_presets_are_fpn_lite(name):
    preset = PRESETS[name]
    if name.endswith("_128"):  # the demo's: narrower and shallower, P3-P6
        assert preset.image_size == 128 and preset.max_level == 6
        assert preset.fpn_channels == preset.head_channels == DEMO_LITE_CHANNELS == 64
        assert preset.head_depth == DEMO_LITE_HEAD_DEPTH == 2
    else:
        assert preset.image_size == 320
        assert preset.fpn_channels == preset.head_channels == LITE_CHANNELS == 128
    assert preset.fpn_separable and preset.head_separable
    assert preset.fpn_batch_norm and preset.head_batch_norm
    assert preset.fpn_activation == preset.head_activation == "relu6"
    if "mobilenetv3" in name:
        # Hard-swish and squeeze-excite do not map onto the Edge TPU: minimalistic only.
        assert preset.backbone.endswith("_minimalistic")


def test_mobile_flops_are_a_small_fraction_of_r50(mobile_targets):
    side = 320
    mobile = build_model(mobile_targets.MOBILE_PRESET, 5, None)
    r50 = build_model(mobile_targets.R50_PRESET, 5, None, image_shape=(side, side, 3))
    mobile_gflops = mobile_targets.forward_gflops(mobile, side)
    r50_gflops = mobile_targets.forward_gflops(r50, side)
    # Measured: 2.16 and ~47 GFLOPs (R50-FPN costs ~121.7 at 512 px; x (320/512)^2 = 47.5).
    assert 1.8 < mobile_gflops < 2.6
    assert 40.0 < r50_gflops < 55.0
    assert mobile_gflops / r50_gflops < 0.06


def test_both_models_of_the_comparison_get_the_same_budget(mobile_targets, tmp_path):
    args = mobile_targets.build_parser().parse_args(["--steps", "60", "--log-every", "20"])
    mobile = mobile_targets.train_config("mobile", args, str(tmp_path / "m"))
    r50 = mobile_targets.train_config("r50", args, str(tmp_path / "r"))
    assert mobile.model.preset == "retinanet_mobilenetv2_fpnlite_320"
    assert r50.model.preset == "retinanet_resnet50_fpn_512"
    for config in (mobile, r50):
        assert config.model.resolved_image_size == 320
        assert config.model.backbone_weights is None
        assert config.schedule.total_steps == 60
        assert config.schedule.warmup_steps == 6
        assert config.data.global_batch_size == 4
        assert config.data.resize.fixed_output_size == (320, 320)
    # Random initialisation: nothing of the ResNet may stay frozen.
    assert r50.model.backbone_frozen_stages == 0
    assert r50.model.backbone_frozen_batch_norm is False
    # Everything but the model's name, preset, output folder and precision is equal.
    assert mobile.data == r50.data
    assert mobile.optimizer == r50.optimizer
    assert mobile.schedule == r50.schedule
    assert mobile.evaluation == r50.evaluation
    assert dataclasses.replace(mobile.model, preset=r50.model.preset) == r50.model
    # The shapes recipe's split: training seed 0, held-out seed 1, rendered at 128 px.
    assert (mobile.data.train.seed, mobile.data.eval.seed) == (0, 1)
    assert mobile.data.train.image_size == mobile.data.eval.image_size == 128


def _results(size_bytes, median_ms, float_ap, int8_ap, mobile_ap50, r50_ap50):
    latency = [
        {"threads": t, "median_ms": median_ms, "p90_ms": median_ms, "min_ms": median_ms}
        for t in (1, 2)
    ]
    for entry in latency:
        entry["foreign_cpus"] = 0.0
    readiness = {"verdict": ["all 196 ops before the post-process op map"], "ready": True}
    return {
        "deployment": [
            {
                "preset": "retinanet_mobilenetv2_fpnlite_320",
                "int8_bytes": size_bytes,
                "latency": latency,
                "readiness": readiness,
            }
        ],
        "int8_drop": {
            "keras_float": {"AP": float_ap},
            "tflite_int8": {"AP": int8_ap},
            "ap_drop_points": 100 * (float_ap - int8_ap),
        },
        "training": {
            "mobile": {"metrics": {"AP50": mobile_ap50}},
            "r50": {"metrics": {"AP50": r50_ap50}},
        },
        "flop_ratio_320": 0.046,
    }


def test_verdicts(mobile_targets):
    args = mobile_targets.build_parser().parse_args([])
    met = {
        v["target"].split(":")[0]: v["met"]
        for v in mobile_targets.verdicts(_results(3_917_344, 14.0, 0.40, 0.395, 0.60, 0.64), args)
    }
    assert list(met.values()) == [True, True, True, True, True]
    checks = mobile_targets.verdicts(_results(5_100_000, 21.2, 0.40, 0.385, 0.50, 0.56), args)
    assert [check["met"] for check in checks] == [False, False, True, False, False]
    assert "drop 1.50" in checks[3]["measured"]
    assert "gap 6.00" in checks[4]["measured"]
    assert "uninformative" not in checks[4]["measured"]
    barely = mobile_targets.verdicts(_results(3_917_344, 14.0, 0.0, 0.0, 0.001, 0.002), args)
    assert "uninformative" in barely[4]["measured"]
