"""TrainConfig: the paper's defaults, recipe overrides, validation, dict round trips."""

import dataclasses
import json

import numpy as np
import pytest
from conftest_training import shapes_spec, tiny_config

from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.training.coupled_weight_decay_sgd import CoupledWeightDecaySGD
from keras_retinanet.training.lr_schedule import WarmupCosineDecay, WarmupStepDecay
from keras_retinanet.training.optimizer_builder import build_optimizer
from keras_retinanet.training.recipes import RECIPES, get_recipe
from keras_retinanet.training.train_config import (
    CheckpointConfig,
    DataConfig,
    DatasetSpec,
    EvaluationConfig,
    ModelConfig,
    OptimizerConfig,
    RuntimeConfig,
    ScheduleConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
)


def test_defaults_are_the_papers():
    config = TrainConfig(
        name="paper", data=DataConfig(train=shapes_spec(4, 0), eval=shapes_spec(4, 1))
    )
    assert config.model.preset == "retinanet_resnet50_fpn"
    assert config.model.backbone_weights == "imagenet"
    assert (config.model.focal_alpha, config.model.focal_gamma) == (0.25, 2.0)
    assert config.data.global_batch_size == 16
    assert (config.data.resize.shorter_side, config.data.resize.max_longer_side) == (800, 1333)
    assert config.data.augmentation.flip_probability == 0.5
    assert config.data.augmentation.scale_jitter_range is None
    assert config.optimizer.learning_rate(16) == 0.01
    assert (config.optimizer.momentum, config.optimizer.weight_decay) == (0.9, 1e-4)
    assert config.schedule.kind == "step"
    assert config.schedule.total_steps == 90_000
    assert config.schedule.step_boundaries == (60_000, 80_000)
    assert config.schedule.step_factor == 0.1
    assert (config.schedule.warmup_steps, config.schedule.warmup_start_factor) == (500, 1 / 3)


def test_learning_rate_scales_linearly_with_the_batch():
    optimizer = OptimizerConfig()
    # 0.01 for 16 images -> 0.02 for 32, 0.08 for 128, 0.00125 for 2.
    assert [optimizer.learning_rate(b) for b in (16, 32, 128, 2)] == [0.01, 0.02, 0.08, 0.00125]


def test_build_optimizer_from_config():
    optimizer = build_optimizer(OptimizerConfig(), ScheduleConfig(), global_batch_size=32)
    assert isinstance(optimizer, CoupledWeightDecaySGD)
    schedule = optimizer._learning_rate
    assert isinstance(schedule, WarmupStepDecay)
    # Batch 32: full rate 0.02; warmup from 0.02 / 3; / 10 at 60k and again at 80k.
    np.testing.assert_allclose(
        [float(schedule(s)) for s in (0, 500, 60_000, 80_000)],
        [0.02 / 3, 0.02, 0.002, 0.0002],
        rtol=1e-5,
    )
    assert (optimizer.momentum, optimizer.l2_weight_decay) == (0.9, 1e-4)


def test_recipes_are_short_overrides():
    coco = get_recipe("coco").build()
    assert coco.data.train == DatasetSpec(format="tfds", path="coco/2017", split="train")
    assert coco.data.eval.split == "validation"
    # Everything else of COCO is the base config.
    assert coco.model == ModelConfig()
    assert coco.optimizer == OptimizerConfig()
    assert coco.schedule == ScheduleConfig()
    assert coco.checkpoint.resume_data == "reseed"

    mobile = get_recipe("coco_mobile").build()
    assert mobile.model.preset == "retinanet_mobilenetv2_fpnlite_320"
    assert mobile.data.global_batch_size == 128
    assert mobile.optimizer.learning_rate(128) == pytest.approx(0.08)
    assert mobile.optimizer.weight_decay == 4e-5
    assert (mobile.schedule.kind, mobile.schedule.total_steps) == ("cosine", 50_000)
    assert mobile.data.resize.fixed_output_size == (320, 320)

    voc = get_recipe("voc").build()
    assert (voc.data.resize.shorter_side, voc.data.resize.max_longer_side) == (600, 1000)
    assert voc.schedule.step_boundaries == (6_000,)

    custom = get_recipe("custom").build()
    assert custom.data.train.format == "coco_json"
    assert custom.evaluation.every_n_steps == 1_000

    shapes = get_recipe("shapes").build()
    assert shapes.model.backbone_weights is None
    assert shapes.model.anchor_sizes == (16.0, 32.0, 64.0, 128.0)  # P3-P6 at 128 px
    assert shapes.model.preset == "retinanet_mobilenetv2_035_fpnlite_128"  # FPN-Lite
    assert (shapes.model.foreground_iou_threshold, shapes.model.background_iou_threshold) == (
        0.4,
        0.3,
    )
    assert shapes.model.focal_gamma == 1.0 and shapes.model.focal_alpha == 0.25
    assert shapes.data.cache
    assert shapes.data.train.seed != shapes.data.eval.seed


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_configs_round_trip_through_json(name):
    config = RECIPES[name].build()
    as_json = json.loads(json.dumps(config_to_dict(config)))
    assert config_from_dict(TrainConfig, as_json) == config


def test_partial_dicts_take_defaults_and_unknown_fields_fail():
    partial = {
        "name": "x",
        "data": {"train": {"format": "shapes", "num_images": 2, "image_size": 64, "seed": 0}},
        "evaluation": {"at_end": False},
        "schedule": {"total_steps": 2000, "step_boundaries": [1000], "warmup_steps": 10},
        "checkpoint": {"every_n_steps": 1000},
    }
    config = config_from_dict(TrainConfig, partial)
    assert config.schedule.step_boundaries == (1000,)
    assert config.optimizer == OptimizerConfig()
    with pytest.raises(ValueError, match="no fields \\['learning_rate'\\]"):
        config_from_dict(ScheduleConfig, {"learning_rate": 0.1})
    with pytest.raises(ValueError, match="must be a int"):
        config_from_dict(ScheduleConfig, {"total_steps": "many"})


@pytest.mark.parametrize(
    "spec_kwargs, message",
    [
        ({"format": "coco_json", "path": "a.json"}, "needs \\['image_dir'\\]"),
        ({"format": "tfds", "path": "coco/2017"}, "needs \\['split'\\]"),
        ({"format": "csv", "path": "a.csv", "classes_file": "c.csv", "split": "x"}, "do not apply"),
        ({"format": "shapes", "num_images": 4, "image_size": 64, "seed": 0, "path": "x"},
         "do not apply"),
        ({"format": "shapes", "num_images": 4, "image_size": 64, "seed": 0, "on_error": "skip"},
         "no malformed"),
        ({"format": "parquet"}, "format"),
    ],
)  # fmt: skip
def test_dataset_spec_rejects_missing_and_foreign_fields(spec_kwargs, message):
    with pytest.raises(ValueError, match=message):
        DatasetSpec(**spec_kwargs)


def test_cross_field_validation(tmp_path):
    base = tiny_config(str(tmp_path))
    with pytest.raises(ValueError, match=r"multiple of `checkpoint\.every_n_steps`"):
        dataclasses.replace(
            base, schedule=ScheduleConfig(total_steps=5, warmup_steps=1, step_boundaries=())
        )
    with pytest.raises(ValueError, match=r"evaluation\.every_n_steps"):
        dataclasses.replace(base, evaluation=EvaluationConfig(every_n_steps=3))
    with pytest.raises(ValueError, match=r"`data\.eval` is not set"):
        dataclasses.replace(
            base,
            data=dataclasses.replace(base.data, eval=None),
            evaluation=EvaluationConfig(at_end=True),
        )
    with pytest.raises(ValueError, match="takes 64x64 inputs"):
        dataclasses.replace(base, data=dataclasses.replace(base.data, resize=ResizeConfig()))
    with pytest.raises(ValueError, match="not supported with the multi_worker"):
        dataclasses.replace(
            base,
            runtime=RuntimeConfig(strategy="multi_worker", precision="float32"),
            evaluation=EvaluationConfig(every_n_steps=2),
        )
    coco = RECIPES["coco"].build()
    with pytest.raises(ValueError, match="TPUs need one static input size"):
        dataclasses.replace(coco, runtime=RuntimeConfig(strategy="tpu"))
    with pytest.raises(ValueError, match="steps_per_execution"):
        dataclasses.replace(base, runtime=RuntimeConfig(steps_per_execution=3))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: ScheduleConfig(kind="cosine"), "only apply to kind='step'"),
        (lambda: ScheduleConfig(step_boundaries=(80_000, 60_000)), "strictly increasing"),
        (lambda: ScheduleConfig(total_steps=100, warmup_steps=100, step_boundaries=()),
         "below total_steps"),
        (lambda: OptimizerConfig(base_learning_rate=0.0), "base_learning_rate"),
        (lambda: OptimizerConfig(momentum=1.5), "momentum"),
        (lambda: CheckpointConfig(resume_data="rewind"), "resume_data"),
        (lambda: ModelConfig(preset="retinanet_vgg16"), "Unknown preset"),
        (lambda: ModelConfig(anchor_sizes=(16.0, 32.0)), "5 positive sizes"),
        (lambda: ModelConfig(background_iou_threshold=0.6), "background_iou_threshold"),
        (lambda: RuntimeConfig(strategy="horovod"), "runtime.strategy"),
        (lambda: RuntimeConfig(precision="int8"), "runtime.precision"),
    ],
)  # fmt: skip
def test_sub_configs_reject_bad_values(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_cosine_recipe_schedule_is_built(tmp_path):
    config = RECIPES["coco_mobile"].build()
    optimizer = build_optimizer(config.optimizer, config.schedule, 128)
    schedule = optimizer._learning_rate
    assert isinstance(schedule, WarmupCosineDecay)
    # 0.08 / 3 at step 0, 0.08 after the 1k warmup, 0.04 half way through the decay.
    np.testing.assert_allclose(
        [float(schedule(s)) for s in (0, 1000, 25_500, 50_000)],
        [0.08 / 3, 0.08, 0.04, 0.0],
        rtol=1e-5,
        atol=1e-9,
    )


def test_adam_option_builds_adamw_without_norm_decay():
    import keras

    from keras_retinanet.training.train_config import OPTIMIZER_ADAM

    config = OptimizerConfig(name=OPTIMIZER_ADAM, base_learning_rate=0.002, weight_decay=1e-4)
    adam = build_optimizer(config, ScheduleConfig(), global_batch_size=16)
    assert isinstance(adam, keras.optimizers.AdamW)
    assert adam.weight_decay == pytest.approx(1e-4)
    gamma = keras.Variable(np.ones(2), name="gamma")
    kernel = keras.Variable(np.ones(2), name="kernel")
    assert not adam._use_weight_decay(gamma)
    assert adam._use_weight_decay(kernel)
    with pytest.raises(ValueError, match="SGD settings"):
        OptimizerConfig(name=OPTIMIZER_ADAM, momentum=0.5)
    with pytest.raises(ValueError, match=r"optimizer\.name"):
        OptimizerConfig(name="rmsprop")


def test_with_total_steps_keeps_every_step(tmp_path):
    from keras_retinanet.training.train_config import with_total_steps

    config = get_recipe("shapes").build()  # warmup 100, checkpoint every 250 steps
    longer = with_total_steps(config, 2_000)
    assert (longer.schedule.total_steps, longer.checkpoint.every_n_steps) == (2_000, 250)
    assert longer.schedule.warmup_steps == 100
    odd = with_total_steps(config, 400)  # 250 does not divide 400: one epoch of 400
    assert (odd.schedule.total_steps, odd.checkpoint.every_n_steps) == (400, 400)
    short = with_total_steps(config, 4)
    assert (short.schedule.total_steps, short.checkpoint.every_n_steps) == (4, 4)
    assert short.schedule.warmup_steps == 2
    with pytest.raises(ValueError, match="steps"):
        with_total_steps(config, 0)
    # The paper's schedule: warmup halved to fit, boundaries at the same fractions.
    paper = with_total_steps(get_recipe("coco").build(), 900)
    assert paper.schedule.step_boundaries == (600, 800)
    assert paper.schedule.warmup_steps == 450


def test_verbose_auto_is_a_bar_on_terminals_and_log_lines_elsewhere():
    from keras_retinanet.training.train_config import RuntimeConfig

    auto = RuntimeConfig()
    assert auto.verbose == "auto"
    assert (auto.fit_verbose(is_terminal=True), auto.fit_verbose(is_terminal=False)) == (1, 2)
    # Keras' levels stay available, also as the ints of an older config.json.
    assert RuntimeConfig(verbose="0").fit_verbose(True) == 0
    assert RuntimeConfig(verbose=2).verbose == "2"
    with pytest.raises(ValueError, match=r"runtime\.verbose"):
        RuntimeConfig(verbose="loud")
