"""Builds the RetinaNet and the classification loss of one `AblationVariant`."""

from __future__ import annotations

import keras

from keras_retinanet.ablation.ablation_variant import LOSS_FOCAL, AblationVariant, octave_scales
from keras_retinanet.losses.alpha_balanced_cross_entropy import AlphaBalancedCrossEntropy
from keras_retinanet.losses.focal_loss import FocalLoss
from keras_retinanet.losses.ohem_loss import OhemLoss
from keras_retinanet.models.retinanet import ANCHOR_SIZE_PER_STRIDE, MIN_LEVEL, RetinaNet
from keras_retinanet.ops.anchor_generator import AnchorGenerator
from keras_retinanet.presets import build_model
from keras_retinanet.training.model_builder import model_overrides
from keras_retinanet.training.train_config import ModelConfig


def variant_anchor_generator(model: ModelConfig, variant: AblationVariant) -> AnchorGenerator:
    """The anchors of `variant`: the base config's levels and base sizes, its scales and ratios.

    Args:
        model: the base `ModelConfig` (levels, `anchor_sizes` or the paper's 4 x stride).
        variant: gives `scales_per_octave` and `aspect_ratios`.

    Returns:
        An `AnchorGenerator` with `variant.anchors_per_location` anchors per cell.
    """
    strides = [2**level for level in range(MIN_LEVEL, model.resolved_max_level + 1)]
    sizes = model.anchor_sizes or tuple(ANCHOR_SIZE_PER_STRIDE * stride for stride in strides)
    return AnchorGenerator(
        strides=strides,
        sizes=sizes,
        scales=octave_scales(variant.scales_per_octave),
        aspect_ratios=variant.aspect_ratios,
    )


def build_variant_model(
    model: ModelConfig, variant: AblationVariant, num_classes: int
) -> RetinaNet:
    """The uncompiled `RetinaNet` of the base `model` with the variant's anchors and prior.

    Build it under the strategy's scope, after seeding.

    Args:
        model: the base `ModelConfig` (preset and overrides).
        variant: the anchors and the prior probability.
        num_classes: number of object classes.

    Returns:
        The model.
    """
    overrides = model_overrides(model)
    overrides["anchor_generator"] = variant_anchor_generator(model, variant)
    overrides["prior_probability"] = variant.prior_probability
    return build_model(
        model.preset,
        num_classes=num_classes,
        backbone_weights=model.backbone_weights,
        **overrides,
    )


def build_classification_loss(variant: AblationVariant) -> keras.losses.Loss:
    """`FocalLoss(alpha, gamma)`, `AlphaBalancedCrossEntropy(alpha)` at gamma 0, or `OhemLoss`."""
    if variant.loss == LOSS_FOCAL and variant.focal_gamma == 0.0:
        return AlphaBalancedCrossEntropy(alpha=variant.focal_alpha)
    if variant.loss == LOSS_FOCAL:
        return FocalLoss(alpha=variant.focal_alpha, gamma=variant.focal_gamma)
    return OhemLoss(
        negatives_per_positive=variant.ohem_negatives_per_positive,
        batch_size_per_image=variant.ohem_batch_size_per_image,
    )
