"""Generated shapes on textured backgrounds: a full run on a laptop CPU in minutes, offline.

The `retinanet_mobilenetv2_035_fpn_128` preset (MobileNetV2-0.35, 64-channel FPN, two-conv
heads with BatchNorm, P3-P6) at 128 x 128 from random initialisation (no download): the
variant that learned fastest per CPU second among those compared on this data (FPN-Lite
separable convs and wider heads learned slower and ran slower on a 2-core CPU). Choices
that differ from the paper, all for a from-scratch run of minutes:

* anchors of base size 2 x stride (16 ... 128 px): objects are 12-102 px here, and with the
  paper's 32 px smallest anchor a quarter of them would reach IoU 0.5 with no anchor
  (`retinanet-debug` shows it);
* AdamW, lr 0.002 for 16 images, cosine decay after 100 warmup steps (SGD at the paper's
  rate is stable but needs tens of thousands of steps);
* BatchNorm momentum 0.9 (with keras.applications' 0.999 the moving statistics lag far
  behind the weights and inference-mode outputs are wrong after a short run);
* float32: for a model this small, mixed bfloat16 is not faster on the CPU.
"""

from __future__ import annotations

from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.data.resize_and_pad import LETTERBOX
from keras_retinanet.training.lr_schedule import SCHEDULE_COSINE
from keras_retinanet.training.recipes.recipe import Recipe
from keras_retinanet.training.train_config import (
    FORMAT_SHAPES,
    OPTIMIZER_ADAM,
    CheckpointConfig,
    DataConfig,
    DatasetSpec,
    EvaluationConfig,
    ModelConfig,
    OptimizerConfig,
    RuntimeConfig,
    ScheduleConfig,
    TrainConfig,
)

SHAPES_PRESET = "retinanet_mobilenetv2_035_fpn_128"
SHAPES_IMAGE_SIZE = 128
SHAPES_TRAIN_IMAGES = 4_000
SHAPES_EVAL_IMAGES = 300
SHAPES_TRAIN_SEED = 0
SHAPES_EVAL_SEED = 1
# Base anchor sizes of P3..P7: 2 x stride.
SHAPES_ANCHOR_SIZES = (16.0, 32.0, 64.0, 128.0)
SHAPES_LEARNING_RATE = 0.002  # AdamW, for 16 images
SHAPES_WEIGHT_DECAY = 1e-4
# From scratch in 2k steps the BatchNorm moving statistics must follow the weights quickly.
SHAPES_BATCH_NORM_MOMENTUM = 0.9
SHAPES_TOTAL_STEPS = 2_000
SHAPES_WARMUP_STEPS = 100
SHAPES_CHECKPOINT_EVERY_N_STEPS = 250
SHAPES_EVAL_EVERY_N_STEPS = 500
SHAPES_PRECISION = "float32"


def shapes_config() -> TrainConfig:
    """The generated-shapes training run."""
    return TrainConfig(
        name="shapes",
        model=ModelConfig(
            preset=SHAPES_PRESET,
            backbone_weights=None,
            batch_norm_momentum=SHAPES_BATCH_NORM_MOMENTUM,
            image_size=SHAPES_IMAGE_SIZE,
            anchor_sizes=SHAPES_ANCHOR_SIZES,
        ),
        data=DataConfig(
            train=DatasetSpec(
                format=FORMAT_SHAPES,
                num_images=SHAPES_TRAIN_IMAGES,
                image_size=SHAPES_IMAGE_SIZE,
                seed=SHAPES_TRAIN_SEED,
            ),
            eval=DatasetSpec(
                format=FORMAT_SHAPES,
                num_images=SHAPES_EVAL_IMAGES,
                image_size=SHAPES_IMAGE_SIZE,
                seed=SHAPES_EVAL_SEED,
            ),
            resize=ResizeConfig(mode=LETTERBOX, size=SHAPES_IMAGE_SIZE),
        ),
        optimizer=OptimizerConfig(
            name=OPTIMIZER_ADAM,
            base_learning_rate=SHAPES_LEARNING_RATE,
            weight_decay=SHAPES_WEIGHT_DECAY,
        ),
        schedule=ScheduleConfig(
            kind=SCHEDULE_COSINE,
            total_steps=SHAPES_TOTAL_STEPS,
            warmup_steps=SHAPES_WARMUP_STEPS,
            step_boundaries=(),
        ),
        checkpoint=CheckpointConfig(
            model_dir="runs/shapes", every_n_steps=SHAPES_CHECKPOINT_EVERY_N_STEPS
        ),
        evaluation=EvaluationConfig(every_n_steps=SHAPES_EVAL_EVERY_N_STEPS),
        runtime=RuntimeConfig(precision=SHAPES_PRECISION),
    )


SHAPES_RECIPE = Recipe(name="shapes", description=__doc__, build=shapes_config)
