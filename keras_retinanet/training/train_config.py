"""Typed training configuration: one `TrainConfig` grouping seven small sub-configs.

`TrainConfig` holds `model`, `data`, `optimizer`, `schedule`, `checkpoint`, `evaluation` and
`runtime`; each is a frozen dataclass whose defaults are the paper's (R50-FPN, SGD lr 0.01 for
16 images, momentum 0.9, weight decay 1e-4, 90k iterations with drops at 60k and 80k, shorter
side 800 / longer side <= 1333, horizontal flip). A recipe is a function returning a
`TrainConfig` with a few fields replaced; the command line changes single fields
(`--schedule.total_steps 1000`) through `keras_retinanet.cli.config_flags`, which parses
with `config_parsing` (the one home of typed-config parsing). Configs are
immutable: change one with `dataclasses.replace`, never by assignment.

Every class validates its own fields in `__post_init__` and `TrainConfig` checks the
relations between sub-configs, so a bad combination fails before any TensorFlow work.
`config_to_dict` / `config_from_dict` (from `config_parsing`) convert to and from
JSON-ready dicts.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from keras_retinanet.callbacks.precise_batch_norm import DEFAULT_PRECISE_BN_IMAGES
from keras_retinanet.data.augmentation import PhotometricJitter, RandomCrop, RandomFlip, ScaleJitter
from keras_retinanet.data.augmentation.random_crop import DEFAULT_SIDE_FRACTION_RANGE
from keras_retinanet.data.detection_dataset import ON_ERROR_CHOICES, ON_ERROR_RAISE
from keras_retinanet.data.input_pipeline import (
    DEFAULT_MAX_BOXES,
    AugmentationConfig,
    ResizeConfig,
)
from keras_retinanet.losses.focal_loss import DEFAULT_ALPHA, DEFAULT_GAMMA
from keras_retinanet.losses.smooth_l1_loss import DEFAULT_BETA
from keras_retinanet.ops.box_matcher import (
    DEFAULT_BACKGROUND_IOU_THRESHOLD,
    DEFAULT_FOREGROUND_IOU_THRESHOLD,
)
from keras_retinanet.presets import PRESETS
from keras_retinanet.training.config_parsing import (  # noqa: F401 (re-exported)
    config_from_dict,
    config_to_dict,
    unwrap_optional,
)
from keras_retinanet.training.coupled_weight_decay_sgd import NORM_PARAMETER_PATTERN
from keras_retinanet.training.distribution_strategy import (
    STRATEGIES,
    STRATEGY_DEFAULT,
    STRATEGY_MULTI_WORKER,
    STRATEGY_TPU,
)
from keras_retinanet.training.lr_schedule import SCHEDULE_COSINE, SCHEDULE_KINDS, SCHEDULE_STEP
from keras_retinanet.training.mixed_precision import PRECISION_AUTO, PRECISIONS

# --- the paper's training setup (Lin et al. 2017, section 4.1) ---
PAPER_PRESET = "retinanet_resnet50_fpn"
PAPER_BATCH_SIZE = 16
PAPER_LEARNING_RATE = 0.01
PAPER_MOMENTUM = 0.9
PAPER_WEIGHT_DECAY = 1e-4
OPTIMIZER_SGD = "sgd"
OPTIMIZER_ADAM = "adam"
OPTIMIZERS = (OPTIMIZER_SGD, OPTIMIZER_ADAM)
PAPER_TOTAL_STEPS = 90_000
PAPER_STEP_BOUNDARIES = (60_000, 80_000)
PAPER_STEP_FACTOR = 0.1
# Detectron's warmup for RetinaNet: 500 iterations rising linearly from lr / 3.
DETECTRON_WARMUP_STEPS = 500
DETECTRON_WARMUP_START_FACTOR = 1.0 / 3.0
PAPER_FLIP_PROBABILITY = 0.5

DEFAULT_CHECKPOINT_EVERY_N_STEPS = 1_000
DEFAULT_CHECKPOINTS_KEPT = 2
DEFAULT_LOG_EVERY_N_STEPS = 100
# `RuntimeConfig.verbose`: "auto" picks by the output stream; the others are Keras' levels.
VERBOSE_AUTO = "auto"
VERBOSE_CHOICES = (VERBOSE_AUTO, "0", "1", "2")
DEFAULT_EVAL_BATCH_SIZE = 8
DEFAULT_SHUFFLE_BUFFER = 64

# --- dataset formats ---
FORMAT_SHAPES = "shapes"
FORMAT_COCO_JSON = "coco_json"
FORMAT_VOC = "voc"
FORMAT_CSV = "csv"
FORMAT_TFDS = "tfds"
FORMAT_TFRECORD = "tfrecord"
DATASET_FORMATS = (
    FORMAT_SHAPES,
    FORMAT_COCO_JSON,
    FORMAT_VOC,
    FORMAT_CSV,
    FORMAT_TFDS,
    FORMAT_TFRECORD,
)
# Per format: fields that must be set, and fields that may be set. Any other optional field
# must stay None, so that no flag is silently ignored.
_REQUIRED_FIELDS = {
    FORMAT_SHAPES: ("num_images", "image_size", "seed"),
    FORMAT_COCO_JSON: ("path", "image_dir"),
    FORMAT_VOC: ("path", "split"),
    FORMAT_CSV: ("path", "classes_file"),
    FORMAT_TFDS: ("path", "split"),
    FORMAT_TFRECORD: ("path", "classes_file"),
}
_OPTIONAL_FIELDS = {
    FORMAT_SHAPES: (),
    FORMAT_COCO_JSON: (),
    FORMAT_VOC: ("classes_file",),
    FORMAT_CSV: ("image_dir",),
    FORMAT_TFDS: ("tfds_data_dir",),
    FORMAT_TFRECORD: (),
}
_FORMAT_SPECIFIC_FIELDS = (
    "path",
    "image_dir",
    "classes_file",
    "split",
    "tfds_data_dir",
    "num_images",
    "image_size",
    "seed",
)

# --- what to do with the input stream when training resumes from a checkpoint ---
RESUME_DATA_REPLAY = "replay"
RESUME_DATA_RESEED = "reseed"
RESUME_DATA_POLICIES = (RESUME_DATA_REPLAY, RESUME_DATA_RESEED)


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; got {value!r}.")


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; got {value!r}.")


def _check_range(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"`{name}` must be a number in [{low}, {high}]; got {value!r}.")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which RetinaNet to build: a preset plus optional overrides of single options.

    Attributes:
        preset: a name of `keras_retinanet.presets.PRESETS`.
        backbone_weights: "imagenet" (downloaded by keras.applications), None for random
            initialisation, or a weights file.
        image_size: square input side overriding the preset's; None keeps the preset's
            (None there: variable input size).
        backbone: backbone overriding the preset's; None keeps it.
        backbone_frozen_batch_norm: freeze the backbone's BatchNorm; None: the backbone's
            default (True for ResNets, False for MobileNets).
        backbone_frozen_stages: leading frozen backbone stages; None: the backbone's default.
        batch_norm_momentum: momentum of the moving statistics of every trainable BatchNorm;
            None keeps the layers' defaults (0.999 in keras.applications MobileNets). Short
            runs from scratch need ~0.9, or inference uses statistics that lag behind.
        max_level: highest pyramid level overriding the preset's (5, 6 or 7); None keeps it.
        fpn_channels: FPN width overriding the preset's; None keeps it.
        fpn_batch_norm: BatchNorm in the FPN overriding the preset's; None keeps it.
        head_channels: subnet width overriding the preset's; None keeps it.
        head_depth: hidden convs per subnet overriding the preset's; None keeps it.
        head_batch_norm: BatchNorm in the subnets overriding the preset's; None keeps it.
        anchor_sizes: base anchor size (pixels) of each level P3..P`max_level`; None: the
            paper's 32, 64, ..., 512 (4 x stride).
        focal_alpha: alpha of the focal loss.
        focal_gamma: gamma of the focal loss.
        smooth_l1_beta: beta of the smooth L1 box loss.
        box_loss_weight: weight of the box loss in the total loss.
        foreground_iou_threshold: smallest IoU of a positive anchor.
        background_iou_threshold: IoU below which an anchor is a negative.
        allow_low_quality_matches: give every box its best anchor(s) even below the
            foreground threshold.
    """

    preset: str = PAPER_PRESET
    backbone_weights: str | None = "imagenet"
    image_size: int | None = None
    backbone: str | None = None
    backbone_frozen_batch_norm: bool | None = None
    backbone_frozen_stages: int | None = None
    batch_norm_momentum: float | None = None
    max_level: int | None = None
    fpn_channels: int | None = None
    fpn_batch_norm: bool | None = None
    head_channels: int | None = None
    head_depth: int | None = None
    head_batch_norm: bool | None = None
    anchor_sizes: tuple[float, ...] | None = None
    focal_alpha: float = DEFAULT_ALPHA
    focal_gamma: float = DEFAULT_GAMMA
    smooth_l1_beta: float = DEFAULT_BETA
    box_loss_weight: float = 1.0
    foreground_iou_threshold: float = DEFAULT_FOREGROUND_IOU_THRESHOLD
    background_iou_threshold: float = DEFAULT_BACKGROUND_IOU_THRESHOLD
    allow_low_quality_matches: bool = True

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"Unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}.")
        for name in ("image_size", "fpn_channels", "head_channels"):
            if getattr(self, name) is not None:
                _check_positive_int(f"model.{name}", getattr(self, name))
        for name in ("head_depth", "backbone_frozen_stages"):
            if getattr(self, name) is not None:
                _check_positive_int(f"model.{name}", getattr(self, name), minimum=0)
        if self.anchor_sizes is not None:
            if len(self.anchor_sizes) != self.num_levels or min(self.anchor_sizes) <= 0:
                raise ValueError(
                    f"`model.anchor_sizes` must hold {self.num_levels} positive sizes (one per "
                    f"level P3-P{self.resolved_max_level}); got {self.anchor_sizes}."
                )
        if self.batch_norm_momentum is not None:
            _check_range("model.batch_norm_momentum", self.batch_norm_momentum, 0.0, 1.0)
        _check_range("model.focal_alpha", self.focal_alpha, 0.0, 1.0)
        if self.focal_gamma < 0 or self.smooth_l1_beta <= 0 or self.box_loss_weight < 0:
            raise ValueError(
                "Need focal_gamma >= 0, smooth_l1_beta > 0 and box_loss_weight >= 0; got "
                f"{self.focal_gamma}, {self.smooth_l1_beta}, {self.box_loss_weight}."
            )
        if not 0.0 <= self.background_iou_threshold <= self.foreground_iou_threshold <= 1.0:
            raise ValueError(
                "Need 0 <= background_iou_threshold <= foreground_iou_threshold <= 1; got "
                f"{self.background_iou_threshold}, {self.foreground_iou_threshold}."
            )

    @property
    def resolved_max_level(self) -> int:
        """The highest pyramid level of the model (override or preset)."""
        return self.max_level if self.max_level is not None else PRESETS[self.preset].max_level

    @property
    def num_levels(self) -> int:
        """Number of pyramid levels, P3..P`resolved_max_level`."""
        return self.resolved_max_level - 2

    @property
    def resolved_image_size(self) -> int | None:
        """The square input side (override or preset), None for variable sizes."""
        return self.image_size if self.image_size is not None else PRESETS[self.preset].image_size


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Where one split's images and boxes come from.

    The fields that apply depend on `format` (set only those; the others must stay None):

    | format      | required                    | optional        |
    |-------------|-----------------------------|-----------------|
    | `shapes`    | num_images, image_size, seed|                 |
    | `coco_json` | path (JSON), image_dir      |                 |
    | `voc`       | path (VOC root), split      | classes_file    |
    | `csv`       | path (CSV), classes_file    | image_dir       |
    | `tfds`      | path (TFDS name), split     | tfds_data_dir   |
    | `tfrecord`  | path (glob), classes_file   |                 |

    On the command line, giving `--<split>.format` starts that split from an empty spec of the
    new format, so switching a recipe from TFDS to COCO JSON needs only the new format's fields.

    Attributes:
        format: one of "shapes", "coco_json", "voc", "csv", "tfds", "tfrecord".
        path: coco_json: the annotation JSON; voc: the VOC folder (e.g. VOCdevkit/VOC2007);
            csv: the annotations CSV; tfds: the TFDS name ("coco/2017"); tfrecord: a glob of
            TFRecord files.
        image_dir: coco_json: the image folder; csv: folder relative image paths start from.
        classes_file: csv: the class list CSV (`name,id` rows); voc: a text file with one
            class name per line (VOC's 20 classes when unset); tfrecord: a JSON object
            mapping category ids to names (`{"1": "cat"}`).
        split: tfds: the split ("train", "validation", "train[:10%]"); voc: the image set
            ("trainval", "test").
        tfds_data_dir: tfds: folder of the prepared TFDS data (TFDS's default when unset).
        num_images: shapes: number of generated images.
        image_size: shapes: side of the square generated images.
        seed: shapes: seed of the generated images (use different seeds for train and eval).
        on_error: "raise" or "skip": what to do with a malformed image (not for shapes).
    """

    DISCRIMINATOR: ClassVar[str] = "format"

    format: str = FORMAT_SHAPES
    path: str | None = None
    image_dir: str | None = None
    classes_file: str | None = None
    split: str | None = None
    tfds_data_dir: str | None = None
    num_images: int | None = None
    image_size: int | None = None
    seed: int | None = None
    on_error: str = ON_ERROR_RAISE

    def __post_init__(self):
        _check_choice("format", self.format, DATASET_FORMATS)
        _check_choice("on_error", self.on_error, ON_ERROR_CHOICES)
        required = _REQUIRED_FIELDS[self.format]
        allowed = set(required) | set(_OPTIONAL_FIELDS[self.format])
        missing = [name for name in required if getattr(self, name) is None]
        if missing:
            raise ValueError(f"A {self.format!r} dataset needs {missing}; got {self}.")
        extra = [
            name
            for name in _FORMAT_SPECIFIC_FIELDS
            if name not in allowed and getattr(self, name) is not None
        ]
        if extra:
            raise ValueError(
                f"{extra} do not apply to a {self.format!r} dataset (it uses {sorted(allowed)}); "
                f"got {self}."
            )
        if self.format == FORMAT_SHAPES:
            if self.on_error != ON_ERROR_RAISE:
                raise ValueError(
                    "Generated shapes have no malformed images: keep on_error='raise'."
                )
            _check_positive_int("num_images", self.num_images)
            _check_positive_int("image_size", self.image_size)
            _check_positive_int("seed", self.seed, minimum=0)


@dataclasses.dataclass(frozen=True)
class AugmentationSettings:
    """The training augmentations as plain numbers (see `input_pipeline.AugmentationConfig`).

    Attributes:
        flip_probability: chance of a horizontal flip; 0 disables it (the paper: 0.5).
        scale_jitter_range: `(low, high)` random factor on the resize scale; None: off.
        crop_probability: chance of a random crop of the original image; 0 disables it.
        crop_side_fraction_range: `(low, high)` side of the crop as a fraction of the image.
        photometric_probability: chance of brightness / contrast / saturation / hue jitter;
            0 disables it.
    """

    flip_probability: float = PAPER_FLIP_PROBABILITY
    scale_jitter_range: tuple[float, float] | None = None
    crop_probability: float = 0.0
    crop_side_fraction_range: tuple[float, float] = DEFAULT_SIDE_FRACTION_RANGE
    photometric_probability: float = 0.0

    def __post_init__(self):
        self.to_augmentation_config()  # validates every value

    def to_augmentation_config(self) -> AugmentationConfig:
        """The `AugmentationConfig` the input pipeline takes."""
        return AugmentationConfig(
            photometric=(
                PhotometricJitter(probability=self.photometric_probability)
                if self.photometric_probability > 0
                else None
            ),
            flip=RandomFlip(self.flip_probability) if self.flip_probability > 0 else None,
            crop=(
                RandomCrop(
                    probability=self.crop_probability,
                    side_fraction_range=tuple(self.crop_side_fraction_range),
                )
                if self.crop_probability > 0
                else None
            ),
            scale_jitter=(
                ScaleJitter(factor_range=tuple(self.scale_jitter_range))
                if self.scale_jitter_range is not None
                else None
            ),
        )


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The training and evaluation data and the input pipeline.

    Attributes:
        train: the training split.
        eval: the evaluation split (None: no evaluation).
        global_batch_size: images per training step over all replicas and workers.
        resize: how images are resized and padded (also for evaluation).
        augmentation: the training augmentations.
        max_boxes: rows of the padded ground truth per image; images with more objects keep
            the largest.
        shuffle: shuffle the training images (file order and a buffer of decoded images).
        shuffle_buffer: decoded images in the shuffle buffer.
        cache: keep the decoded training images (before augmentation) in memory after
            their first epoch; later epochs reshuffle all of them (seeded) instead of
            decoding again. Only for data that fits in memory (the generated shapes: 4,000
            images at 128 px are 197 MB); augmentation still draws anew every epoch.
    """

    train: DatasetSpec
    eval: DatasetSpec | None = None
    global_batch_size: int = PAPER_BATCH_SIZE
    resize: ResizeConfig = dataclasses.field(default_factory=ResizeConfig)
    augmentation: AugmentationSettings = dataclasses.field(default_factory=AugmentationSettings)
    max_boxes: int = DEFAULT_MAX_BOXES
    shuffle: bool = True
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER
    cache: bool = False

    def __post_init__(self):
        _check_positive_int("data.global_batch_size", self.global_batch_size)
        _check_positive_int("data.max_boxes", self.max_boxes)
        _check_positive_int("data.shuffle_buffer", self.shuffle_buffer, minimum=0)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """SGD with momentum and coupled (L2) weight decay (the paper's), or Adam; learning rate
    scaled by the batch.

    The learning rate used is `base_learning_rate * global_batch_size / reference_batch_size`
    (the linear scaling rule): the paper's 0.01 for 16 images becomes 0.02 for 32.

    Attributes:
        name: "sgd" (the paper's) or "adam" (Adam with decoupled weight decay, AdamW: much
            faster from random initialisation in short runs, e.g. the shapes demo).
        base_learning_rate: learning rate for `reference_batch_size` images per step.
        reference_batch_size: batch size `base_learning_rate` belongs to.
        momentum: SGD momentum (SGD only; must keep its default with Adam).
        nesterov: Nesterov momentum (SGD only).
        weight_decay: SGD: L2 weight decay added to the gradient before momentum (coupled,
            as in the paper and Detectron); Adam: decoupled weight decay (AdamW). 0
            disables it.
        no_decay_pattern: regular expression on variable paths exempt from weight decay
            (default: BatchNorm gamma / beta); None decays every trainable variable.
        global_clipnorm: clip the global gradient norm to this; None: no clipping.
    """

    name: str = OPTIMIZER_SGD
    base_learning_rate: float = PAPER_LEARNING_RATE
    reference_batch_size: int = PAPER_BATCH_SIZE
    momentum: float = PAPER_MOMENTUM
    nesterov: bool = False
    weight_decay: float = PAPER_WEIGHT_DECAY
    no_decay_pattern: str | None = NORM_PARAMETER_PATTERN
    global_clipnorm: float | None = None

    def __post_init__(self):
        if self.name not in OPTIMIZERS:
            raise ValueError(f"`optimizer.name` must be one of {OPTIMIZERS}; got {self.name!r}.")
        if self.name == OPTIMIZER_ADAM and (self.momentum != PAPER_MOMENTUM or self.nesterov):
            raise ValueError("`optimizer.momentum` and `optimizer.nesterov` are SGD settings.")
        if self.base_learning_rate <= 0:
            raise ValueError(
                f"`optimizer.base_learning_rate` must be > 0; got {self.base_learning_rate}."
            )
        _check_positive_int("optimizer.reference_batch_size", self.reference_batch_size)
        _check_range("optimizer.momentum", self.momentum, 0.0, 1.0)
        if self.weight_decay < 0:
            raise ValueError(f"`optimizer.weight_decay` must be >= 0; got {self.weight_decay}.")
        if self.global_clipnorm is not None and self.global_clipnorm <= 0:
            raise ValueError(
                f"`optimizer.global_clipnorm` must be > 0 or None; got {self.global_clipnorm}."
            )

    def learning_rate(self, global_batch_size: int) -> float:
        """The base learning rate scaled linearly to `global_batch_size`."""
        return self.base_learning_rate * global_batch_size / self.reference_batch_size


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """How long to train and how the learning rate moves (see `lr_schedule`).

    Both kinds start with a linear warmup from `warmup_start_factor` x lr to lr.

    Attributes:
        kind: "step" (drops by `step_factor` at each of `step_boundaries`) or "cosine"
            (cosine decay to `cosine_final_factor` x lr at `total_steps`).
        total_steps: optimizer steps of the whole run.
        warmup_steps: steps of the linear warmup (0: none).
        warmup_start_factor: learning rate at step 0 as a fraction of the full rate.
        step_boundaries: "step" only: steps at which the rate is multiplied by `step_factor`.
        step_factor: "step" only: factor applied at each boundary.
        cosine_final_factor: "cosine" only: final rate as a fraction of the full rate.
    """

    kind: str = SCHEDULE_STEP
    total_steps: int = PAPER_TOTAL_STEPS
    warmup_steps: int = DETECTRON_WARMUP_STEPS
    warmup_start_factor: float = DETECTRON_WARMUP_START_FACTOR
    step_boundaries: tuple[int, ...] = PAPER_STEP_BOUNDARIES
    step_factor: float = PAPER_STEP_FACTOR
    cosine_final_factor: float = 0.0

    def __post_init__(self):
        _check_choice("schedule.kind", self.kind, SCHEDULE_KINDS)
        _check_positive_int("schedule.total_steps", self.total_steps)
        _check_positive_int("schedule.warmup_steps", self.warmup_steps, minimum=0)
        if self.warmup_steps >= self.total_steps and self.warmup_steps > 0:
            raise ValueError(
                f"`schedule.warmup_steps` ({self.warmup_steps}) must be below total_steps "
                f"({self.total_steps})."
            )
        _check_range("schedule.warmup_start_factor", self.warmup_start_factor, 0.0, 1.0)
        if self.kind == SCHEDULE_COSINE and self.step_boundaries:
            raise ValueError(
                "`schedule.step_boundaries` only apply to kind='step'; clear them "
                "(--schedule.step_boundaries '') for a cosine schedule."
            )
        if self.kind == SCHEDULE_STEP:
            boundaries = list(self.step_boundaries)
            if boundaries != sorted(set(boundaries)) or any(
                not 0 < b < self.total_steps for b in boundaries
            ):
                raise ValueError(
                    "`schedule.step_boundaries` must be strictly increasing steps in "
                    f"(0, total_steps={self.total_steps}); got {self.step_boundaries}."
                )
            _check_range("schedule.step_factor", self.step_factor, 0.0, 1.0)
        _check_range("schedule.cosine_final_factor", self.cosine_final_factor, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    """Where the run writes, and how often it checkpoints.

    One Keras epoch is `every_n_steps` steps: at each epoch end the full training state
    (weights, optimizer slots, step) is checkpointed and `last.keras` is rewritten, so a
    killed run restarted with the same command resumes at the last multiple of
    `every_n_steps` with the same optimizer state.

    Attributes:
        model_dir: output folder: checkpoints/, logs/ (TensorBoard), last.keras, best.keras,
            config.json, inference_config.json, metrics.json.
        every_n_steps: steps between checkpoints (the Keras epoch length).
        keep: checkpoints kept on disk (the newest ones).
        resume: restart from the newest checkpoint in `model_dir` when there is one.
        resume_data: "replay": after a resume, skip the batches already trained on, so the
            run sees exactly the batches of an uninterrupted run (costs one pass of the input
            pipeline over them); "reseed": start a new, deterministic input order seeded by
            the resumed step (no replay cost; use it for long runs).
        tensorboard: write TensorBoard logs to `model_dir/logs`.
        log_every_n_steps: steps between TensorBoard training scalars.
        save_best: also keep `best.keras`, the model with the highest in-training COCO AP
            (needs `evaluation.every_n_steps`).
    """

    model_dir: str = "runs/retinanet"
    every_n_steps: int = DEFAULT_CHECKPOINT_EVERY_N_STEPS
    keep: int = DEFAULT_CHECKPOINTS_KEPT
    resume: bool = True
    resume_data: str = RESUME_DATA_REPLAY
    tensorboard: bool = True
    log_every_n_steps: int = DEFAULT_LOG_EVERY_N_STEPS
    save_best: bool = True

    def __post_init__(self):
        if not self.model_dir:
            raise ValueError("`checkpoint.model_dir` must not be empty.")
        _check_positive_int("checkpoint.every_n_steps", self.every_n_steps)
        _check_positive_int("checkpoint.keep", self.keep)
        _check_choice("checkpoint.resume_data", self.resume_data, RESUME_DATA_POLICIES)
        _check_positive_int("checkpoint.log_every_n_steps", self.log_every_n_steps)


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """COCO box mAP on `data.eval`.

    Attributes:
        at_end: evaluate the final model and write metrics.json (and detections.json).
        every_n_steps: also evaluate during training every this many steps (a multiple of
            `checkpoint.every_n_steps`); 0: never during training.
        max_images: evaluate only the first this many images; None: all.
        batch_size: images per evaluation batch.
        write_detections: write the detections as a COCO results JSON.
        precise_bn_images: training images whose batch statistics replace the moving
            statistics of every trainable BatchNorm (`keras_retinanet.callbacks.
            PreciseBatchNorm`) at each checkpoint, so before every in-training
            evaluation, `best.keras` / `last.keras` and the final model (and the int8
            export calibrated from them); 0: off (the moving averages are kept). Only
            models with trainable BatchNorm run it. 200 as detectron2's PreciseBN: a
            short run's moving average (momentum 0.99-0.999) is far from the statistics
            its weights were trained with, and inference mode then detects nothing.
    """

    at_end: bool = True
    every_n_steps: int = 0
    max_images: int | None = None
    batch_size: int = DEFAULT_EVAL_BATCH_SIZE
    write_detections: bool = True
    precise_bn_images: int = DEFAULT_PRECISE_BN_IMAGES

    def __post_init__(self):
        _check_positive_int("evaluation.every_n_steps", self.every_n_steps, minimum=0)
        _check_positive_int("evaluation.batch_size", self.batch_size)
        _check_positive_int("evaluation.precise_bn_images", self.precise_bn_images, minimum=0)
        if self.max_images is not None:
            _check_positive_int("evaluation.max_images", self.max_images)

    @property
    def enabled(self) -> bool:
        """Whether any evaluation happens."""
        return self.at_end or self.every_n_steps > 0


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Devices, numerics and reproducibility.

    Attributes:
        strategy: "default" (one device), "mirrored" (all local GPUs), "multi_worker"
            (MultiWorkerMirroredStrategy from the TF_CONFIG environment variable) or "tpu".
        tpu_address: TPU name or grpc address for "tpu" (None: the local / default TPU).
        precision: "auto" (mixed_bfloat16 on TPUs, GPUs with compute capability >= 8.0 and
            CPUs with AMX or AVX512-BF16, else float32), "float32", "mixed_bfloat16" or
            "mixed_float16". Entry points set it as the global Keras dtype policy.
        seed: seed of the weight initialisation, the data order and the augmentations.
        deterministic: make TensorFlow ops deterministic (slower; entry points enable it).
        steps_per_execution: training steps per `tf.function` call.
        verbose: "auto" (a progress bar on a terminal; otherwise, e.g. in a log file, a
            line every `checkpoint.log_every_n_steps` steps and one per epoch), or Keras
            `fit` verbosity "0" silent, "1" progress bar, "2" one line per epoch.
    """

    strategy: str = STRATEGY_DEFAULT
    tpu_address: str | None = None
    precision: str = PRECISION_AUTO
    seed: int = 0
    deterministic: bool = False
    steps_per_execution: int = 1
    verbose: str = VERBOSE_AUTO

    def __post_init__(self):
        _check_choice("runtime.strategy", self.strategy, STRATEGIES)
        _check_choice("runtime.precision", self.precision, PRECISIONS)
        _check_positive_int("runtime.seed", self.seed, minimum=0)
        _check_positive_int("runtime.steps_per_execution", self.steps_per_execution)
        if isinstance(self.verbose, int) and not isinstance(self.verbose, bool):
            object.__setattr__(self, "verbose", str(self.verbose))  # JSON of older runs
        _check_choice("runtime.verbose", self.verbose, VERBOSE_CHOICES)

    def fit_verbose(self, is_terminal: bool) -> int:
        """Keras `fit`'s `verbose` for this setting: "auto" is a progress bar (1) on a
        terminal and one line per epoch (2) elsewhere, where the trainer adds a
        `StepLogLine` too."""
        if self.verbose == VERBOSE_AUTO:
            return 1 if is_terminal else 2
        return int(self.verbose)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; recipes are short overrides of it.

    Attributes:
        name: the run's name (the recipe's).
        model: the model (`ModelConfig`).
        data: the data and input pipeline (`DataConfig`).
        optimizer: SGD and weight decay (`OptimizerConfig`).
        schedule: steps and learning-rate schedule (`ScheduleConfig`).
        checkpoint: outputs, checkpoints and resuming (`CheckpointConfig`).
        evaluation: COCO evaluation (`EvaluationConfig`).
        runtime: strategy, precision and seeds (`RuntimeConfig`).
    """

    name: str
    data: DataConfig
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)

    def __post_init__(self):
        every = self.checkpoint.every_n_steps
        if self.schedule.total_steps % every:
            raise ValueError(
                f"`schedule.total_steps` ({self.schedule.total_steps}) must be a multiple of "
                f"`checkpoint.every_n_steps` ({every}): a Keras epoch is one checkpoint interval."
            )
        if self.evaluation.every_n_steps % every:
            raise ValueError(
                f"`evaluation.every_n_steps` ({self.evaluation.every_n_steps}) must be a "
                f"multiple of `checkpoint.every_n_steps` ({every})."
            )
        if every % self.runtime.steps_per_execution:
            raise ValueError(
                f"`checkpoint.every_n_steps` ({every}) must be a multiple of "
                f"`runtime.steps_per_execution` ({self.runtime.steps_per_execution})."
            )
        if self.evaluation.enabled and self.data.eval is None:
            raise ValueError(
                "Evaluation is enabled but `data.eval` is not set; set it or turn evaluation "
                "off (--evaluation.at_end false --evaluation.every_n_steps 0)."
            )
        if self.runtime.strategy == STRATEGY_MULTI_WORKER and self.evaluation.every_n_steps:
            raise ValueError(
                "In-training evaluation is not supported with the multi_worker strategy (every "
                "worker would have to run it in lockstep); evaluate at the end instead "
                "(--evaluation.every_n_steps 0)."
            )
        if self.runtime.strategy == STRATEGY_MULTI_WORKER and self.runtime.steps_per_execution != 1:
            raise ValueError("The multi_worker strategy supports steps_per_execution=1 only.")
        side = self.model.resolved_image_size
        fixed = self.data.resize.fixed_output_size
        if self.runtime.strategy == STRATEGY_TPU and fixed is None:
            raise ValueError(
                "TPUs need one static input size: use --data.resize.mode letterbox (or "
                "stretch), or --data.resize.fixed_padded_size true."
            )
        if side is not None and fixed != (side, side):
            raise ValueError(
                f"The model takes {side}x{side} inputs (preset {self.model.preset!r}, "
                f"image_size override {self.model.image_size}) but data.resize produces "
                f"{'images of varying size' if fixed is None else fixed}; use "
                f"--data.resize.mode letterbox (or stretch) --data.resize.size {side}."
            )


# --------------------------------------------------------------------- dict conversion


# Fields that follow from `schedule.total_steps` (see `derived_from_total_steps`).
TOTAL_STEPS_DEPENDENTS = (
    "schedule.warmup_steps",
    "schedule.step_boundaries",
    "checkpoint.every_n_steps",
    "evaluation.every_n_steps",
)


def derived_from_total_steps(
    config: TrainConfig, steps: int, checkpoint_every: int | None = None
) -> dict[str, Any]:
    """The values of `TOTAL_STEPS_DEPENDENTS` for running `config` `steps` steps.

    * warmup: capped at half the run;
    * step boundaries: scaled by `steps / schedule.total_steps` (the same fractions of
      the run), rounded, kept inside `(0, steps)`;
    * checkpoint interval (one Keras epoch): kept when it divides `steps`, else `steps`
      itself (one epoch), so no step is dropped;
    * in-training evaluation interval: the nearest multiple of the checkpoint interval,
      at most `steps`; 0 stays 0.

    Args:
        config: the config to shorten or lengthen.
        steps: the new `schedule.total_steps`, `>= 1`.
        checkpoint_every: a checkpoint interval chosen by the user (then kept and used for
            the evaluation interval); None derives it.

    Returns:
        `{dotted path: value}` for the four dependent fields plus `schedule.total_steps`.
    """
    _check_positive_int("steps", steps)
    if checkpoint_every is None:
        every = min(config.checkpoint.every_n_steps, steps)
        if steps % every:
            every = steps
    else:
        every = checkpoint_every
    schedule = config.schedule
    scale = steps / schedule.total_steps
    boundaries = sorted({round(b * scale) for b in schedule.step_boundaries} - {0})
    evaluation_every = config.evaluation.every_n_steps
    if evaluation_every:
        multiple = max(1, min(round(evaluation_every / every), steps // every))
        evaluation_every = every * multiple
    return {
        "schedule.total_steps": steps,
        "schedule.warmup_steps": min(schedule.warmup_steps, steps // 2),
        "schedule.step_boundaries": tuple(b for b in boundaries if b < steps),
        "checkpoint.every_n_steps": every,
        "evaluation.every_n_steps": evaluation_every,
    }


def with_total_steps(config: TrainConfig, steps: int) -> TrainConfig:
    """`config` shortened (or lengthened) to exactly `steps` training steps, its dependent
    fields derived by `derived_from_total_steps`."""
    values = derived_from_total_steps(config, steps)
    sections: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        section, name = path.split(".")
        sections.setdefault(section, {})[name] = value
    return dataclasses.replace(
        config,
        **{
            section: dataclasses.replace(getattr(config, section), **fields)
            for section, fields in sections.items()
        },
    )
