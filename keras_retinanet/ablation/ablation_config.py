"""Typed configuration of an ablation grid: one base `TrainConfig` and what to vary.

`shapes_ablation_config()` is the default: the `shapes` recipe (its model and data) cut to
a budget that runs the whole grid on a shared 2-core CPU in about 50 minutes: 64 px images,
8 per step, 300 steps, Adam at 3e-3 per 16 images (every run of every table uses it, with
the same seeds). `smoke_ablation_config()` shrinks it to a few steps of a tiny model for
tests. `recipes/ablate.py` turns every field into a flag (`--base.schedule.total_steps 2000`,
`--base.data.train.format coco_json ...`).
"""

from __future__ import annotations

import dataclasses

from keras_retinanet.ablation.ablation_table import TABLE_NAMES
from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.data.resize_and_pad import LETTERBOX
from keras_retinanet.losses.focal_loss import DEFAULT_ALPHA, DEFAULT_GAMMA
from keras_retinanet.ops.box_matcher import (
    DEFAULT_BACKGROUND_IOU_THRESHOLD,
    DEFAULT_FOREGROUND_IOU_THRESHOLD,
)
from keras_retinanet.training.distribution_strategy import STRATEGY_MULTI_WORKER, STRATEGY_TPU
from keras_retinanet.training.recipes.shapes import shapes_config
from keras_retinanet.training.train_config import OPTIMIZER_ADAM, OptimizerConfig, TrainConfig

# Budget of the measured grid on the shapes data (see docs/ablations.md). On the shared
# 2-core machine a run's first 100 steps (graph tracing included) took 1.5-2.5 minutes and
# later steps 0.12-0.25 s at 64 px and 8 images, against ~1-2 s per step at 128 px and 16
# images: 21 runs of 300 steps fit in about 50 minutes, 128 px would not.
# Optimizer: earlier 400-step probes of the reference run at 128 px gave AP 1.4% with Adam
# at 1e-3 and 6.7% with Adam at 3e-3 (for 16 images): the higher rate trains further.
ABLATION_OPTIMIZER = OPTIMIZER_ADAM
ABLATION_LEARNING_RATE = 3e-3  # for 16 images (scaled linearly to the batch)
ABLATION_IMAGE_SIZE = 64
ABLATION_BATCH_SIZE = 8
ABLATION_TOTAL_STEPS = 300
ABLATION_WARMUP_STEPS = 50
ABLATION_STEPS_PER_EPOCH = 100
ABLATION_TRAIN_IMAGES = 1_024
ABLATION_EVAL_IMAGES = 128
# The model and box matching the grid of docs/ablations.md was measured with (the paper's
# matching and gamma; the shapes recipe has since moved on, see its docstring).
ABLATION_PRESET = "retinanet_mobilenetv2_035_fpn_128"
DEFAULT_OUTPUT_DIR = "runs/ablations"
# Losses of the first steps kept per run (the prior table shows them).
DEFAULT_RECORDED_STEPS = 20
# Figure 4: gammas applied to the base model's predictions, and held-out images used.
FIGURE_GAMMAS = (0.0, 0.5, 1.0, 2.0)
FIGURE_MAX_IMAGES = 128

# --smoke: a few steps of a tiny model on 64 px images.
SMOKE_IMAGE_SIZE = 64
SMOKE_STEPS = 2
SMOKE_BATCH_SIZE = 2
SMOKE_TRAIN_IMAGES = 8
SMOKE_EVAL_IMAGES = 4
SMOKE_CHANNELS = 16
# Fewer layers than MobileNetV2: each eager smoke step costs less.
SMOKE_BACKBONE = "mobilenetv3small_minimalistic"
SMOKE_RECORDED_STEPS = 2
SMOKE_FIGURE_IMAGES = 2


@dataclasses.dataclass(frozen=True)
class AblationConfig:
    """An ablation grid.

    Of `base`, every run uses the model (its `focal_alpha` / `focal_gamma` define the
    reference row), data, optimizer, schedule, runtime (seed, precision, strategy) and
    evaluation settings (batch size, max_images, in-training every_n_steps). Its
    `checkpoint.every_n_steps` is the Keras epoch length; the other checkpoint fields do
    not apply (runs are short: each run's folder holds its model and result, and a
    finished run is reused instead of resumed).

    Attributes:
        base: the training run every ablation row modifies.
        tables: which tables to run, from `TABLE_NAMES`.
        output_dir: folder of the tables (`<table>.md/.csv/.json`, `ablations.md`,
            `results.json`), the figure and `runs/<run key>/`.
        recorded_steps: the first steps whose losses each run keeps.
        figure: draw the paper's Figure 4 (needs matplotlib, the `[plot]` extra).
        figure_gammas: gammas of Figure 4.
        figure_max_images: held-out images whose anchors Figure 4 uses; None: all.
        rerun: train again even when a run's result exists.
        save_models: keep every run's `model.keras` (the reference run's is always kept,
            Figure 4 reads it).
        run_eagerly: run training steps eagerly: no graph tracing, so quicker for a
            handful of steps (--smoke), far slower for real runs.
        cache_train_images: decode (or render) the training images once and keep them in
            memory for all runs (`InMemoryDataset`); only for data that fits in memory.
    """

    base: TrainConfig
    tables: tuple[str, ...] = TABLE_NAMES
    output_dir: str = DEFAULT_OUTPUT_DIR
    recorded_steps: int = DEFAULT_RECORDED_STEPS
    figure: bool = True
    figure_gammas: tuple[float, ...] = FIGURE_GAMMAS
    figure_max_images: int | None = FIGURE_MAX_IMAGES
    rerun: bool = False
    save_models: bool = False
    run_eagerly: bool = False
    cache_train_images: bool = False

    def __post_init__(self):
        unknown = sorted(set(self.tables) - set(TABLE_NAMES))
        if unknown or not self.tables or len(set(self.tables)) != len(self.tables):
            raise ValueError(
                f"`tables` must be distinct names from {TABLE_NAMES}; got {self.tables}."
            )
        if self.base.data.eval is None or not self.base.evaluation.at_end:
            raise ValueError(
                "Ablations report COCO AP of every run: set `base.data.eval` and keep "
                "`base.evaluation.at_end` true."
            )
        if self.base.runtime.strategy in (STRATEGY_MULTI_WORKER, STRATEGY_TPU):
            raise ValueError(
                "Ablation runs support the default and mirrored strategies only; got "
                f"{self.base.runtime.strategy!r}."
            )
        if self.base.runtime.steps_per_execution != 1:
            raise ValueError("Ablation runs record every step: keep steps_per_execution = 1.")
        if self.base.data.resize.fixed_output_size is None:
            raise ValueError(
                "Ablation runs encode targets in the input pipeline and need one input size: "
                "use --base.data.resize.mode letterbox (or stretch)."
            )
        if self.recorded_steps < 1:
            raise ValueError(f"`recorded_steps` must be >= 1; got {self.recorded_steps}.")
        if not self.figure_gammas or min(self.figure_gammas) < 0:
            raise ValueError(f"`figure_gammas` must be >= 0; got {self.figure_gammas}.")
        if self.figure_max_images is not None and self.figure_max_images < 1:
            raise ValueError(f"`figure_max_images` must be >= 1; got {self.figure_max_images}.")


def shapes_ablation_base() -> TrainConfig:
    """The `shapes` recipe cut to the grid's budget: 64 px images, 8 per step, 300 steps of
    Adam at 3e-3 per 16 images (cosine, 50 warmup steps), no in-training evaluation, the
    `retinanet_mobilenetv2_035_fpn_128` model with the paper's box matching (IoU 0.5 / 0.4)
    and focal loss (alpha 0.25, gamma 2), everything else (anchors, augmentation, seeds)
    the recipe's."""
    recipe = shapes_config()
    data = dataclasses.replace(
        recipe.data,
        train=dataclasses.replace(
            recipe.data.train, num_images=ABLATION_TRAIN_IMAGES, image_size=ABLATION_IMAGE_SIZE
        ),
        eval=dataclasses.replace(
            recipe.data.eval, num_images=ABLATION_EVAL_IMAGES, image_size=ABLATION_IMAGE_SIZE
        ),
        resize=dataclasses.replace(recipe.data.resize, size=ABLATION_IMAGE_SIZE),
        global_batch_size=ABLATION_BATCH_SIZE,
        cache=False,  # the grid caches its rendered images itself (cache_train_images)
    )
    return dataclasses.replace(
        recipe,
        name="shapes_ablation",
        model=dataclasses.replace(
            recipe.model,
            preset=ABLATION_PRESET,
            image_size=ABLATION_IMAGE_SIZE,
            focal_alpha=DEFAULT_ALPHA,
            focal_gamma=DEFAULT_GAMMA,
            foreground_iou_threshold=DEFAULT_FOREGROUND_IOU_THRESHOLD,
            background_iou_threshold=DEFAULT_BACKGROUND_IOU_THRESHOLD,
        ),
        data=data,
        optimizer=OptimizerConfig(
            name=ABLATION_OPTIMIZER,
            base_learning_rate=ABLATION_LEARNING_RATE,
            reference_batch_size=recipe.optimizer.reference_batch_size,
        ),
        schedule=dataclasses.replace(
            recipe.schedule,
            total_steps=ABLATION_TOTAL_STEPS,
            warmup_steps=min(recipe.schedule.warmup_steps, ABLATION_WARMUP_STEPS),
        ),
        checkpoint=dataclasses.replace(
            recipe.checkpoint,
            model_dir=DEFAULT_OUTPUT_DIR,
            every_n_steps=ABLATION_STEPS_PER_EPOCH,
            tensorboard=False,
        ),
        evaluation=dataclasses.replace(recipe.evaluation, every_n_steps=0, at_end=True),
    )


def shapes_ablation_config() -> AblationConfig:
    """The measured grid of docs/ablations.md: every table on the shapes data (the 50 MB of
    rendered training images cached in memory)."""
    return AblationConfig(base=shapes_ablation_base(), cache_train_images=True)


def smoke_ablation_config(output_dir: str) -> AblationConfig:
    """A few eager steps of a tiny model (MobileNetV3-Small) on 64 px shapes: checks the
    whole grid in about a minute (21 runs).

    Args:
        output_dir: where the tables and runs go.
    """
    base = shapes_ablation_base()
    model = dataclasses.replace(
        base.model,
        backbone=SMOKE_BACKBONE,
        image_size=SMOKE_IMAGE_SIZE,
        fpn_channels=SMOKE_CHANNELS,
        head_channels=SMOKE_CHANNELS,
        head_depth=1,
        fpn_batch_norm=False,
        head_batch_norm=False,
    )
    data = dataclasses.replace(
        base.data,
        train=dataclasses.replace(
            base.data.train, num_images=SMOKE_TRAIN_IMAGES, image_size=SMOKE_IMAGE_SIZE
        ),
        eval=dataclasses.replace(
            base.data.eval, num_images=SMOKE_EVAL_IMAGES, image_size=SMOKE_IMAGE_SIZE
        ),
        global_batch_size=SMOKE_BATCH_SIZE,
        resize=ResizeConfig(mode=LETTERBOX, size=SMOKE_IMAGE_SIZE),
        shuffle_buffer=SMOKE_TRAIN_IMAGES,
    )
    smoke_base = dataclasses.replace(
        base,
        name="smoke_ablation",
        model=model,
        data=data,
        schedule=dataclasses.replace(base.schedule, total_steps=SMOKE_STEPS, warmup_steps=1),
        checkpoint=dataclasses.replace(base.checkpoint, every_n_steps=SMOKE_STEPS),
        evaluation=dataclasses.replace(base.evaluation, batch_size=SMOKE_EVAL_IMAGES),
        runtime=dataclasses.replace(base.runtime, precision="float32", verbose=0),
    )
    return AblationConfig(
        base=smoke_base,
        output_dir=output_dir,
        recorded_steps=SMOKE_RECORDED_STEPS,
        figure_max_images=SMOKE_FIGURE_IMAGES,
        run_eagerly=True,
        cache_train_images=True,
    )
