"""A guard against a silent AP 0: inference-mode scores that batch statistics would not give.

When the BatchNorm moving statistics are far from the batch statistics the weights were
trained with (a moving average with momentum 0.999 after a short run, or new BatchNorm
layers still near mean 0 / variance 1), a detector whose loss fell well scores every anchor
below the detection threshold in inference mode, while the same model called with
`training=True` (batch statistics) detects. `check_inference_mode` compares the two on one
batch and warns, naming the cause and the fix. The evaluation runs it when an evaluation
found no detection at all; the trainer runs it once at the end of training.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import keras
import numpy as np

from keras_retinanet.callbacks.precise_batch_norm import trainable_batch_norm_layers
from keras_retinanet.ops.detection_decoder import DEFAULT_SCORE_THRESHOLD

# Name of the class-logit output of `RetinaNet.call` (`[B, A, K]`).
CLASSIFICATION_OUTPUT = "classification"

STATISTICS_WARNING = (
    "Inference-mode predictions have no class score above {threshold:g} on {images} image(s) "
    "where training-mode predictions (batch statistics) have {anchors} anchor(s) above it "
    "(best score {inference:.3f} vs {training:.3f}). Cause: the BatchNorm moving statistics "
    "do not match the statistics the weights were trained with (an exponential moving "
    "average with a high momentum, e.g. keras.applications' 0.999, after a short run, or "
    "new BatchNorm layers still near mean 0 / variance 1), so the model detects nothing "
    "and scores AP 0. Fix: recompute them from training images with "
    "keras_retinanet.callbacks.PreciseBatchNorm / recompute_batch_norm_statistics (the "
    "trainer does so unless `evaluation.precise_bn_images` is 0), or freeze the pretrained "
    "backbone's BatchNorm (`backbone_frozen_batch_norm=True`)."
)


@dataclasses.dataclass(frozen=True)
class InferenceModeCheck:
    """Best class scores of one batch in inference and in training mode.

    Attributes:
        score_threshold: the detection threshold compared against.
        num_images: images in the batch.
        inference_max_score: highest sigmoid class score in inference mode.
        training_max_score: the same with batch statistics (`training=True`).
        training_anchors_above: anchor-class scores above the threshold in training mode.
    """

    score_threshold: float
    num_images: int
    inference_max_score: float
    training_max_score: float
    training_anchors_above: int

    @property
    def statistics_mismatch(self) -> bool:
        """No inference-mode score above the threshold where training mode has some."""
        return (
            self.inference_max_score <= self.score_threshold
            and self.training_max_score > self.score_threshold
        )


def _class_logits(model: keras.Model, images: Any, training: bool) -> np.ndarray:
    outputs = model(images, training=training)
    if not isinstance(outputs, dict) or CLASSIFICATION_OUTPUT not in outputs:
        raise ValueError(
            f"check_inference_mode needs a model returning {{{CLASSIFICATION_OUTPUT!r}: logits "
            f"[B, A, K]}} (a RetinaNet); got {type(outputs).__name__}."
        )
    return keras.ops.convert_to_numpy(outputs[CLASSIFICATION_OUTPUT]).astype(np.float64)


def _sigmoid(logit: float) -> float:
    return float(0.5 * (1.0 + np.tanh(0.5 * logit)))  # no overflow for large |logit|


def check_inference_mode(
    model: keras.Model,
    images: Any,
    score_threshold: float | None = None,
    warn: bool = True,
) -> InferenceModeCheck | None:
    """Compares inference-mode and training-mode class scores on one batch; may warn.

    The training-mode call changes nothing: every variable of the model (the BatchNorm
    moving statistics included) is restored afterwards.

    Args:
        model: a `RetinaNet` (a model returning `{"classification": [B, A, K] logits}`).
        images: one batch `[B, H, W, 3]` in the model's input format.
        score_threshold: the detection threshold; None: the model's
            `detection_decoder.score_threshold` (0.05 without one).
        warn: issue a `UserWarning` naming the cause and the fix on a mismatch.

    Returns:
        The `InferenceModeCheck`, or None when the model has no trainable BatchNorm
        (both modes then compute the same thing; nothing is run).
    """
    if not trainable_batch_norm_layers(model):
        return None
    if score_threshold is None:
        decoder = getattr(model, "detection_decoder", None)
        score_threshold = getattr(decoder, "score_threshold", DEFAULT_SCORE_THRESHOLD)
    inference = _class_logits(model, images, training=False)
    saved = [keras.ops.convert_to_numpy(variable) for variable in model.weights]
    try:
        training = _class_logits(model, images, training=True)
    finally:
        for variable, value in zip(model.weights, saved, strict=True):
            variable.assign(value)
    check = InferenceModeCheck(
        score_threshold=float(score_threshold),
        num_images=int(inference.shape[0]),
        inference_max_score=_sigmoid(inference.max()),
        training_max_score=_sigmoid(training.max()),
        # sigmoid(x) > t  <=>  x > log(t / (1 - t))
        training_anchors_above=int(
            (training > np.log(score_threshold / (1.0 - score_threshold))).sum()
        ),
    )
    if warn and check.statistics_mismatch:
        warnings.warn(
            STATISTICS_WARNING.format(
                threshold=check.score_threshold,
                images=check.num_images,
                anchors=check.training_anchors_above,
                inference=check.inference_max_score,
                training=check.training_max_score,
            ),
            UserWarning,
            stacklevel=2,
        )
    return check
