"""Fine-tune R50-FPN 512 on your own data: COCO JSON (default), CSV or a VOC-style folder.

Defaults expect `annotations/train.json` + `images/train/` and `annotations/val.json` +
`images/val/`; point elsewhere with `--data.train.path` / `--data.train.image_dir` (and
`data.eval`). Other formats: `--data.train.format csv --data.train.path train.csv
--data.train.classes_file classes.csv`, or `--data.train.format voc --data.train.path
my_voc --data.train.split trainval --data.train.classes_file classes.txt`. Images are
letterboxed to 512 x 512; 10k steps of 8 images with drops at 7.5k and 9k, an in-training
COCO evaluation every 1k steps keeping `best.keras`. Run `retinanet-debug` on the data first:
objects smaller than ~20 px at 512 need smaller anchors (`--model.anchor_sizes`).

With a mobile preset (`--model.preset retinanet_mobilenetv2_fpnlite_320`) and ImageNet
weights the backbone's BatchNorm stays frozen and the trainer recomputes the FPN-Lite /
head BatchNorm statistics from 200 training images at every checkpoint
(`--evaluation.precise_bn_images`), so a short run (`--schedule.total_steps`) evaluates with
the statistics its weights were trained with.
"""

from __future__ import annotations

from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.data.resize_and_pad import LETTERBOX
from keras_retinanet.training.recipes.recipe import Recipe
from keras_retinanet.training.train_config import (
    FORMAT_COCO_JSON,
    CheckpointConfig,
    DataConfig,
    DatasetSpec,
    EvaluationConfig,
    ModelConfig,
    ScheduleConfig,
    TrainConfig,
)

CUSTOM_PRESET = "retinanet_resnet50_fpn_512"
CUSTOM_IMAGE_SIZE = 512
CUSTOM_BATCH_SIZE = 8
CUSTOM_TOTAL_STEPS = 10_000
CUSTOM_STEP_BOUNDARIES = (7_500, 9_000)
CUSTOM_CHECKPOINT_EVERY_N_STEPS = 500
CUSTOM_EVAL_EVERY_N_STEPS = 1_000


def custom_config() -> TrainConfig:
    """The custom-data fine-tuning run."""
    return TrainConfig(
        name="custom",
        model=ModelConfig(preset=CUSTOM_PRESET),
        data=DataConfig(
            train=DatasetSpec(
                format=FORMAT_COCO_JSON, path="annotations/train.json", image_dir="images/train"
            ),
            eval=DatasetSpec(
                format=FORMAT_COCO_JSON, path="annotations/val.json", image_dir="images/val"
            ),
            global_batch_size=CUSTOM_BATCH_SIZE,
            resize=ResizeConfig(mode=LETTERBOX, size=CUSTOM_IMAGE_SIZE),
        ),
        schedule=ScheduleConfig(
            total_steps=CUSTOM_TOTAL_STEPS, step_boundaries=CUSTOM_STEP_BOUNDARIES
        ),
        checkpoint=CheckpointConfig(
            model_dir="runs/custom_retinanet_resnet50_fpn_512",
            every_n_steps=CUSTOM_CHECKPOINT_EVERY_N_STEPS,
        ),
        evaluation=EvaluationConfig(every_n_steps=CUSTOM_EVAL_EVERY_N_STEPS),
    )


CUSTOM_RECIPE = Recipe(name="custom", description=__doc__, build=custom_config)
