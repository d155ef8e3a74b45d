"""Builds and compiles the `RetinaNet` a `TrainConfig` describes."""

from __future__ import annotations

from typing import Any

from keras_retinanet.losses import FocalLoss, SmoothL1Loss
from keras_retinanet.models.retinanet import MIN_LEVEL, RetinaNet
from keras_retinanet.ops import AnchorGenerator, BoxMatcher
from keras_retinanet.ops.anchor_generator import DEFAULT_ASPECT_RATIOS, DEFAULT_SCALES
from keras_retinanet.presets import build_model
from keras_retinanet.training.optimizer_builder import build_optimizer
from keras_retinanet.training.train_config import ModelConfig, TrainConfig

# ModelConfig fields passed to RetinaNet under the same name when they are set.
_OVERRIDE_FIELDS = (
    "backbone",
    "backbone_frozen_batch_norm",
    "backbone_frozen_stages",
    "batch_norm_momentum",
    "max_level",
    "fpn_channels",
    "fpn_batch_norm",
    "head_channels",
    "head_depth",
    "head_batch_norm",
)


def model_overrides(model: ModelConfig) -> dict[str, Any]:
    """`RetinaNet` keyword arguments that `model` sets on top of its preset.

    Args:
        model: the `ModelConfig`.

    Returns:
        The overridden arguments: the set optional fields, `image_shape` for an
        `image_size` override, the anchor generator for `anchor_sizes` and the box matcher.
    """
    overrides = {
        name: getattr(model, name) for name in _OVERRIDE_FIELDS if getattr(model, name) is not None
    }
    if model.image_size is not None:
        overrides["image_shape"] = (model.image_size, model.image_size, 3)
    if model.anchor_sizes is not None:
        strides = [2**level for level in range(MIN_LEVEL, model.resolved_max_level + 1)]
        overrides["anchor_generator"] = AnchorGenerator(
            strides=strides,
            sizes=model.anchor_sizes,
            scales=DEFAULT_SCALES,
            aspect_ratios=DEFAULT_ASPECT_RATIOS,
        )
    overrides["box_matcher"] = BoxMatcher(
        foreground_iou_threshold=model.foreground_iou_threshold,
        background_iou_threshold=model.background_iou_threshold,
        allow_low_quality_matches=model.allow_low_quality_matches,
    )
    return overrides


def build_retinanet(model: ModelConfig, num_classes: int) -> RetinaNet:
    """The (uncompiled) `RetinaNet` of `model` for `num_classes` classes.

    Build it under the strategy's scope and after setting the dtype policy.
    """
    return build_model(
        model.preset,
        num_classes=num_classes,
        backbone_weights=model.backbone_weights,
        **model_overrides(model),
    )


def compile_retinanet(retinanet: RetinaNet, config: TrainConfig) -> None:
    """Compiles `retinanet` with the run's losses, optimizer and execution settings.

    The optimizer is built right away (its variables exist before any checkpoint restore).
    """
    retinanet.compile(
        optimizer=build_optimizer(config.optimizer, config.schedule, config.data.global_batch_size),
        classification_loss=FocalLoss(
            alpha=config.model.focal_alpha, gamma=config.model.focal_gamma
        ),
        box_loss=SmoothL1Loss(beta=config.model.smooth_l1_beta),
        box_loss_weight=config.model.box_loss_weight,
        steps_per_execution=config.runtime.steps_per_execution,
    )
    optimizer = retinanet.optimizer
    inner = getattr(optimizer, "inner_optimizer", None)  # LossScaleOptimizer (float16)
    optimizer.build(retinanet.trainable_variables)
    if inner is not None and not inner.built:
        inner.build(retinanet.trainable_variables)
