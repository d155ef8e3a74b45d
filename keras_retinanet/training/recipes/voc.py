"""R50-FPN on Pascal VOC 2007 (trainval -> test), shorter side 600 / longer side <= 1000.

VOC 2007 trainval has 5,011 images: 8k steps of 16 images are ~25 epochs, with the learning
rate dropped by 10 at 6k. The data comes from TFDS `voc/2007` (`--data_dir`) or a VOC folder:
`--data.train.format voc --data.train.path VOCdevkit/VOC2007 --data.train.split trainval`
(and `--data.eval.* ... --data.eval.split test`). Difficult objects are ignored in matching
and in the COCO-style evaluation (reported: COCO AP and AP50, the VOC-style number).
"""

from __future__ import annotations

from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.training.recipes.recipe import Recipe
from keras_retinanet.training.train_config import (
    FORMAT_TFDS,
    CheckpointConfig,
    DataConfig,
    DatasetSpec,
    ScheduleConfig,
    TrainConfig,
)

VOC_TFDS_NAME = "voc/2007"
VOC_SHORTER_SIDE = 600
VOC_MAX_LONGER_SIDE = 1000
VOC_TOTAL_STEPS = 8_000
VOC_STEP_BOUNDARIES = (6_000,)
VOC_CHECKPOINT_EVERY_N_STEPS = 500


def voc_config() -> TrainConfig:
    """The VOC 2007 training run."""
    return TrainConfig(
        name="voc",
        data=DataConfig(
            train=DatasetSpec(format=FORMAT_TFDS, path=VOC_TFDS_NAME, split="train+validation"),
            eval=DatasetSpec(format=FORMAT_TFDS, path=VOC_TFDS_NAME, split="test"),
            resize=ResizeConfig(shorter_side=VOC_SHORTER_SIDE, max_longer_side=VOC_MAX_LONGER_SIDE),
        ),
        schedule=ScheduleConfig(total_steps=VOC_TOTAL_STEPS, step_boundaries=VOC_STEP_BOUNDARIES),
        checkpoint=CheckpointConfig(
            model_dir="runs/voc_retinanet_resnet50_fpn", every_n_steps=VOC_CHECKPOINT_EVERY_N_STEPS
        ),
    )


VOC_RECIPE = Recipe(
    name="voc",
    description=__doc__,
    build=voc_config,
    aliases={"data_dir": ("data.train.tfds_data_dir", "data.eval.tfds_data_dir")},
)
