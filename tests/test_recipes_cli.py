"""Every console command: --help, and a tiny end-to-end run (train, evaluate, predict, debug)."""

import importlib
import json
import os

import keras
import numpy as np
import PIL.Image
import pytest
from conftest_training import TINY_IMAGE_SIZE, TINY_SHAPES_FLAGS

from keras_retinanet.cli import debug, evaluate, predict, train
from keras_retinanet.data import ShapesDataset
from keras_retinanet.training.mixed_precision import global_precision, set_global_precision
from keras_retinanet.training.recipes import RECIPES

EVAL_DATA_FLAGS = (
    "--data.format", "shapes",
    "--data.num_images", "4",
    "--data.image_size", str(TINY_IMAGE_SIZE),
    "--data.seed", "1",
)  # fmt: skip


@pytest.mark.parametrize("command", [train, evaluate, predict, debug])
def test_every_command_has_help(command, capsys):
    argv = ["shapes", "--help"] if command is train else ["--help"]
    with pytest.raises(SystemExit) as exit_info:
        command.main(argv)
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: retinanet-")
    assert "--resize.mode" in text or command is train


def test_train_lists_recipes_and_recipe_scripts_print_their_config(capsys):
    assert train.main(["--list"]) == 0
    listing = capsys.readouterr().out
    for name in RECIPES:
        assert f"  {name} " in listing
    for name in RECIPES:
        script = importlib.import_module(f"recipes.train_{name}")
        assert script.main(["--print-config"]) == 0
        config = json.loads(capsys.readouterr().out)
        assert config["name"] == name
    with pytest.raises(SystemExit):
        train.main(["shapes", "--schedule.kind", "cosine", "--schedule.step_boundaries", "5"])
    assert "only apply to kind='step'" in capsys.readouterr().err


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_setting_only_the_length_gives_a_working_run(recipe, capsys):
    # 300 steps: shorter than every recipe's warmup or checkpoint interval somewhere.
    config, _ = train.build_config(recipe, ["--schedule.total_steps", "300"])
    schedule = config.schedule
    assert schedule.total_steps == 300
    assert schedule.warmup_steps < 300
    assert all(0 < b < 300 for b in schedule.step_boundaries)
    assert 300 % config.checkpoint.every_n_steps == 0
    assert config.evaluation.every_n_steps <= 300
    default = RECIPES[recipe].build()
    # Step boundaries keep their fraction of the run (60k, 80k of 90k -> 200, 267 of 300).
    fractions = [b / default.schedule.total_steps for b in default.schedule.step_boundaries]
    assert list(schedule.step_boundaries) == [round(f * 300) for f in fractions]
    # What was derived is printed, with the flag that sets it.
    err = capsys.readouterr().err
    if config.checkpoint.every_n_steps != default.checkpoint.every_n_steps:
        assert f"--checkpoint.every_n_steps {config.checkpoint.every_n_steps} (was " in err


def test_values_the_user_sets_are_not_derived(capsys):
    argv = ["--schedule.total_steps", "300", "--schedule.warmup_steps", "20"]
    config, _ = train.build_config("coco", [*argv, "--checkpoint.every_n_steps", "100"])
    assert (config.schedule.warmup_steps, config.checkpoint.every_n_steps) == (20, 100)
    assert config.schedule.step_boundaries == (200, 267)
    err = capsys.readouterr().err
    assert "--schedule.step_boundaries 200,267 (was 60000,80000)" in err
    assert "warmup_steps" not in err and "every_n_steps" not in err
    # A combination the user made that cannot work is still refused, with the reason.
    with pytest.raises(SystemExit):
        train.build_config("coco", [*argv, "--checkpoint.every_n_steps", "7"])
    assert "multiple of `checkpoint.every_n_steps`" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """`retinanet-train shapes` for 4 steps of 2 images at 64 px, evaluating every 2 steps."""
    model_dir = str(tmp_path_factory.mktemp("shapes_run"))
    policy = global_precision()
    try:
        code = train.main(
            [
                "shapes", *TINY_SHAPES_FLAGS,
                "--checkpoint.model_dir", model_dir,
                "--data.global_batch_size", "2",
                "--schedule.total_steps", "4",
                "--schedule.warmup_steps", "1",
                "--checkpoint.every_n_steps", "2",
                "--checkpoint.log_every_n_steps", "1",
                "--evaluation.every_n_steps", "2",
                "--evaluation.max_images", "4",
            ]
        )  # fmt: skip
    finally:
        set_global_precision(policy)
    assert code == 0
    return model_dir


def test_train_writes_the_run(trained_run):
    files = set(os.listdir(trained_run))
    assert {
        "config.json",
        "inference_config.json",
        "last.keras",
        "best.keras",
        "metrics.json",
        "detections.json",
        "train_result.json",
        "checkpoints",
        "logs",
    } <= files
    result = json.loads(open(os.path.join(trained_run, "train_result.json")).read())
    assert (result["initial_step"], result["final_step"]) == (0, 4)
    assert len(result["history"]["loss"]) == 2
    assert all(np.isfinite(result["history"]["loss"]))
    assert "val_AP" in result["history"]
    metrics = json.loads(open(os.path.join(trained_run, "metrics.json")).read())
    assert metrics["step"] == 4 and 0.0 <= metrics["AP"] <= 1.0
    latest = json.loads(open(os.path.join(trained_run, "checkpoints", "latest.json")).read())
    assert latest["step"] == 4
    model = keras.models.load_model(os.path.join(trained_run, "last.keras"), compile=False)
    assert model.num_classes == 5 and model.image_shape == (64, 64, 3)


def test_rerunning_a_finished_run_only_evaluates(trained_run, capsys):
    flags = json.loads(open(os.path.join(trained_run, "config.json")).read())
    before = os.path.getmtime(os.path.join(trained_run, "checkpoints", "latest.json"))
    config_path = os.path.join(trained_run, "config.json")
    policy = global_precision()
    try:
        assert train.main(["shapes", "--config", config_path]) == 0
    finally:
        set_global_precision(policy)
    assert "trained steps 4 -> 4" in capsys.readouterr().out
    result = json.loads(open(os.path.join(trained_run, "train_result.json")).read())
    assert (result["initial_step"], result["final_step"], result["history"]) == (4, 4, {})
    assert os.path.getmtime(os.path.join(trained_run, "checkpoints", "latest.json")) == before
    assert flags["schedule"]["total_steps"] == 4


def test_evaluate_writes_results_and_metrics(trained_run, tmp_path, capsys):
    results = str(tmp_path / "detections.json")
    metrics_path = str(tmp_path / "metrics.json")
    model = os.path.join(trained_run, "last.keras")
    code = evaluate.main(
        ["--model", model, *EVAL_DATA_FLAGS, "--results", results, "--metrics", metrics_path]
    )
    assert code == 0
    metrics = json.loads(open(metrics_path).read())
    assert set(metrics) == {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"}
    detections = json.loads(open(results).read())
    assert isinstance(detections, list)
    assert all(set(d) == {"image_id", "category_id", "bbox", "score"} for d in detections)
    assert "AP=" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        evaluate.main(["--model", model])  # no data


def test_predict_draws_pngs(trained_run, tmp_path):
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    shapes = ShapesDataset(2, image_size=96, seed=3)
    for index in range(2):
        image, _ = shapes.render(index)
        PIL.Image.fromarray(image).save(images_dir / f"shape_{index}.jpg")
    output = tmp_path / "out"
    code = predict.main(
        ["--model", os.path.join(trained_run, "last.keras"), "--output-dir", str(output),
         "--score-threshold", "0", str(images_dir)]
    )  # fmt: skip
    assert code == 0
    for index in range(2):
        drawn = PIL.Image.open(output / f"shape_{index}.png")
        assert drawn.size == (96, 96) and drawn.mode == "RGB"
    summary = json.loads((output / "detections.json").read_text())
    assert len(summary) == 2
    for detections in summary.values():
        for detection in detections:
            assert detection["class"] in shapes.class_names
            ymin, xmin, ymax, xmax = detection["box_yxyx"]
            assert 0 <= ymin <= ymax <= 96 and 0 <= xmin <= xmax <= 96


def test_draw_detections_paints_box_and_label():
    image = np.zeros((60, 80, 3), np.uint8)
    drawn = np.asarray(
        predict.draw_detections(
            image,
            np.array([[20.0, 10.0, 50.0, 70.0]]),
            np.array([2]),
            np.array([0.9]),
            ["a", "b", "c"],
        )
    )
    colour = predict.class_colour(2)
    assert tuple(drawn[35, 10]) == colour  # left edge of the box
    assert tuple(drawn[49, 40]) == colour  # bottom edge
    assert tuple(drawn[35, 40]) == (0, 0, 0)  # inside stays untouched
    assert (drawn[5:20, 10:40] == colour).all(axis=-1).any()  # label background above the box


def test_debug_prints_the_coverage_table(trained_run, capsys):
    model = os.path.join(trained_run, "last.keras")
    assert debug.main(["--model", model, *EVAL_DATA_FLAGS, "--worst", "2"]) == 0
    text = capsys.readouterr().out
    assert "anchors: sizes 16, 32, 64, 128 on strides 8, 16, 32, 64;" in text
    assert "size (px)" in text and "low-quality only" in text
    assert "4 images" in text
    assert debug.main(["--recipe", "shapes", "--max-images", "3", "--worst", "0"]) == 0
    assert "3 images" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        debug.main(["--preset", "retinanet_resnet50_fpn"])  # no data
