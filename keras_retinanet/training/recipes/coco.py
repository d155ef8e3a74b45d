"""The paper's R50-FPN on COCO 2017: SGD 0.01 for 16 images, 90k steps, drops at 60k / 80k.

Every default of `TrainConfig` already is the paper's 1x schedule (shorter side 800, longer
side <= 1333, horizontal flip, momentum 0.9, coupled weight decay 1e-4, Detectron's 500-step
warmup from lr / 3); this recipe adds the data: TFDS `coco/2017` (train / validation,
prepared beforehand; `--data_dir` points at it). For COCO JSON instead:
`--data.train.format coco_json --data.train.path instances_train2017.json
--data.train.image_dir train2017` (and the same for `data.eval`). With another global batch
the learning rate scales linearly; scale `--schedule.total_steps` and the boundaries by
16 / batch to keep the number of epochs (~12.2).
"""

from __future__ import annotations

from keras_retinanet.training.recipes.recipe import Recipe
from keras_retinanet.training.train_config import (
    FORMAT_TFDS,
    RESUME_DATA_RESEED,
    CheckpointConfig,
    DataConfig,
    DatasetSpec,
    TrainConfig,
)

COCO_TFDS_NAME = "coco/2017"
# Checkpoint (and log `last.keras`) every 2,500 steps; evaluate the final model on all 5k
# validation images.
COCO_CHECKPOINT_EVERY_N_STEPS = 2_500


def coco_config() -> TrainConfig:
    """The paper's COCO training run."""
    return TrainConfig(
        name="coco",
        data=DataConfig(
            train=DatasetSpec(format=FORMAT_TFDS, path=COCO_TFDS_NAME, split="train"),
            eval=DatasetSpec(format=FORMAT_TFDS, path=COCO_TFDS_NAME, split="validation"),
        ),
        checkpoint=CheckpointConfig(
            model_dir="runs/coco_retinanet_resnet50_fpn",
            every_n_steps=COCO_CHECKPOINT_EVERY_N_STEPS,
            # Replaying up to 90k x 16 images after a resume would take hours.
            resume_data=RESUME_DATA_RESEED,
        ),
    )


COCO_RECIPE = Recipe(
    name="coco",
    description=__doc__,
    build=coco_config,
    aliases={"data_dir": ("data.train.tfds_data_dir", "data.eval.tfds_data_dir")},
)
