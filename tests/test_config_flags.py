"""Flags generated from the config dataclasses: parsing, applying, help, aliases."""

import argparse
import json

import pytest

from keras_retinanet.cli.config_flags import (
    add_aliases,
    add_config_flags,
    apply_flags,
    config_fields,
    explicit_values,
    field_docs,
    load_overrides,
    parse_value,
    resolve_aliases,
)
from keras_retinanet.training.recipes import get_recipe
from keras_retinanet.training.train_config import (
    DatasetSpec,
    ModelConfig,
    ScheduleConfig,
    TrainConfig,
    config_to_dict,
)


def parse(config, argv, aliases=None):
    parser = argparse.ArgumentParser()
    add_config_flags(parser, config)
    fields = {path: hint for path, hint, _, _ in config_fields(type(config))}
    add_aliases(parser, aliases or {}, fields)
    namespace = parser.parse_args(argv)
    values = explicit_values(namespace)
    values.update(resolve_aliases(namespace, aliases or {}))
    return apply_flags(config, values)


def test_every_leaf_field_is_a_flag():
    paths = [path for path, _, _, _ in config_fields(TrainConfig)]
    for expected in (
        "name",
        "schedule.total_steps",
        "data.train.format",
        "data.eval.tfds_data_dir",
        "data.resize.shorter_side",
        "data.augmentation.scale_jitter_range",
        "optimizer.weight_decay",
        "model.anchor_sizes",
        "checkpoint.every_n_steps",
        "evaluation.max_images",
        "runtime.precision",
    ):
        assert expected in paths
    assert len(paths) == len(set(paths))


@pytest.mark.parametrize(
    "hint, text, expected",
    [
        (int, "90000", 90000),
        (float, "1e-4", 1e-4),
        (bool, "false", False),
        (bool, "Yes", True),
        (str | None, "none", None),
        (int | None, "12", 12),
        (tuple[int, ...], "60000, 80000", (60000, 80000)),
        (tuple[int, ...], "", ()),
        (tuple[float, float] | None, "0.8,1.2", (0.8, 1.2)),
        (tuple[float, float] | None, "None", None),
    ],
)
def test_parse_value(hint, text, expected):
    assert parse_value(hint, text) == expected


def test_parse_value_errors():
    with pytest.raises(argparse.ArgumentTypeError, match="expected int"):
        parse_value(int, "1.5")
    with pytest.raises(argparse.ArgumentTypeError, match="true or false"):
        parse_value(bool, "maybe")


def test_flags_override_single_fields():
    coco = get_recipe("coco").build()
    config = parse(
        coco,
        [
            "--schedule.total_steps",
            "180000",
            "--schedule.step_boundaries",
            "120000,160000",
            "--data.global_batch_size",
            "32",
            "--optimizer.weight_decay",
            "0",
            "--model.backbone_weights",
            "none",
        ],
    )
    assert config.schedule == ScheduleConfig(
        total_steps=180_000, step_boundaries=(120_000, 160_000)
    )
    assert config.data.global_batch_size == 32
    assert config.optimizer.weight_decay == 0.0
    assert config.model == ModelConfig(backbone_weights=None)
    # Untouched parts are the recipe's own objects.
    assert config.evaluation is coco.evaluation


def test_changing_the_format_starts_from_an_empty_spec():
    coco = get_recipe("coco").build()
    config = parse(
        coco,
        [
            "--data.train.format",
            "coco_json",
            "--data.train.path",
            "instances_train2017.json",
            "--data.train.image_dir",
            "train2017",
        ],
    )
    # The TFDS name and split did not carry over into the COCO JSON spec.
    assert config.data.train == DatasetSpec(
        format="coco_json", path="instances_train2017.json", image_dir="train2017"
    )
    # Same format: other fields are kept.
    same = parse(coco, ["--data.train.format", "tfds", "--data.train.split", "train[:1%]"])
    assert same.data.train == DatasetSpec(format="tfds", path="coco/2017", split="train[:1%]")


def test_invalid_combinations_raise():
    coco = get_recipe("coco").build()
    with pytest.raises(ValueError, match="only apply to kind='step'"):
        parse(coco, ["--schedule.kind", "cosine"])
    with pytest.raises(ValueError, match="needs \\['image_dir'\\]"):
        parse(coco, ["--data.train.format", "coco_json", "--data.train.path", "a.json"])
    with pytest.raises(ValueError, match="has no field"):
        apply_flags(coco, {"schedule.learning_rate": 0.1})


def test_aliases_set_several_fields():
    recipe = get_recipe("coco")
    config = parse(recipe.build(), ["--data_dir", "/data/tfds"], recipe.aliases)
    assert config.data.train.tfds_data_dir == "/data/tfds"
    assert config.data.eval.tfds_data_dir == "/data/tfds"


def test_field_docs_read_the_attributes_section():
    docs = field_docs(ScheduleConfig)
    assert docs["total_steps"] == "optimizer steps of the whole run."
    assert docs["kind"].startswith('"step" (drops by `step_factor`')
    assert "cosine decay" in docs["kind"]  # continuation line joined
    # A shared entry documents each name.
    assert (
        "FPN options"
        in field_docs(__import__("keras_retinanet").presets.ModelPreset)["fpn_channels"]
    )


def test_help_shows_field_docs_and_defaults(capsys):
    parser = argparse.ArgumentParser(prog="x")
    add_config_flags(parser, get_recipe("coco").build())
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--schedule.total_steps INT optimizer steps of the whole run. (default: 90000)" in text
    assert "--schedule.step_boundaries A,B,..." in text and "(default: 60000,80000)" in text


def test_json_overrides(tmp_path):
    path = tmp_path / "overrides.json"
    path.write_text(
        json.dumps(
            {
                "schedule": {"total_steps": 1000, "step_boundaries": [500]},
                "checkpoint": {"every_n_steps": 500},
            }
        )
    )
    values = load_overrides(str(path))
    assert values == {
        "schedule.total_steps": 1000,
        "schedule.step_boundaries": (500,),
        "checkpoint.every_n_steps": 500,
    }
    config = apply_flags(get_recipe("coco").build(), values)
    assert config_to_dict(config)["schedule"]["step_boundaries"] == [500]
