"""MobileNetV2 FPN-Lite 320 on COCO 2017 for phones: batch 128, cosine decay with warmup.

Follows the TF Object Detection API's SSD MobileNetV2 FPN-Lite 320 schedule (22.2 AP there):
global batch 128, lr 0.08 (= 0.01 per 16 images, scaled linearly), 50k steps, cosine decay to
0 after a 1k-step warmup from lr / 3, momentum 0.9, L2 weight decay 4e-5; letterboxed 320 x
320 inputs, horizontal flip and random crops. Data from TFDS `coco/2017` (`--data_dir`).
The ImageNet backbone's BatchNorm is frozen (the default for pretrained backbones); the
FPN-Lite and head BatchNorms train and get precise statistics from 200 training images at
every checkpoint (`evaluation.precise_bn_images`).
"""

from __future__ import annotations

from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.data.resize_and_pad import LETTERBOX
from keras_retinanet.training.lr_schedule import SCHEDULE_COSINE
from keras_retinanet.training.recipes.coco import COCO_TFDS_NAME
from keras_retinanet.training.recipes.recipe import Recipe
from keras_retinanet.training.train_config import (
    FORMAT_TFDS,
    RESUME_DATA_RESEED,
    AugmentationSettings,
    CheckpointConfig,
    DataConfig,
    DatasetSpec,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainConfig,
)

MOBILE_PRESET = "retinanet_mobilenetv2_fpnlite_320"
MOBILE_IMAGE_SIZE = 320
MOBILE_BATCH_SIZE = 128
MOBILE_TOTAL_STEPS = 50_000
MOBILE_WARMUP_STEPS = 1_000
MOBILE_WEIGHT_DECAY = 4e-5
MOBILE_CROP_PROBABILITY = 0.5
MOBILE_CHECKPOINT_EVERY_N_STEPS = 1_000


def coco_mobile_config() -> TrainConfig:
    """The mobile COCO training run."""
    return TrainConfig(
        name="coco_mobile",
        model=ModelConfig(preset=MOBILE_PRESET),
        data=DataConfig(
            train=DatasetSpec(format=FORMAT_TFDS, path=COCO_TFDS_NAME, split="train"),
            eval=DatasetSpec(format=FORMAT_TFDS, path=COCO_TFDS_NAME, split="validation"),
            global_batch_size=MOBILE_BATCH_SIZE,
            resize=ResizeConfig(mode=LETTERBOX, size=MOBILE_IMAGE_SIZE),
            augmentation=AugmentationSettings(crop_probability=MOBILE_CROP_PROBABILITY),
        ),
        optimizer=OptimizerConfig(weight_decay=MOBILE_WEIGHT_DECAY),
        schedule=ScheduleConfig(
            kind=SCHEDULE_COSINE,
            total_steps=MOBILE_TOTAL_STEPS,
            warmup_steps=MOBILE_WARMUP_STEPS,
            step_boundaries=(),
        ),
        checkpoint=CheckpointConfig(
            model_dir="runs/coco_retinanet_mobilenetv2_fpnlite_320",
            every_n_steps=MOBILE_CHECKPOINT_EVERY_N_STEPS,
            resume_data=RESUME_DATA_RESEED,
        ),
    )


COCO_MOBILE_RECIPE = Recipe(
    name="coco_mobile",
    description=__doc__,
    build=coco_mobile_config,
    aliases={"data_dir": ("data.train.tfds_data_dir", "data.eval.tfds_data_dir")},
)
