"""Precise BatchNorm statistics: population mean / variance recomputed from training batches.

An exponential moving average is a poor estimate of the statistics a short fine-tuning run
ends with: with keras.applications' momentum 0.999 (the MobileNets) the average still holds
mostly its initial values after a few hundred steps, and new BatchNorm layers (FPN-Lite,
BatchNorm heads) start at mean 0 / variance 1. Inference mode then normalises with
statistics the weights were never trained with, and a model whose loss fell well can score
AP 0. Following detectron2's `PreciseBN` hook and Wu & Johnson, "Rethinking 'Batch' in
BatchNorm" (2021), `recompute_batch_norm_statistics` replaces the moving statistics of every
trainable BatchNorm by the equal-weight average of the statistics of N training batches,
computed with the current weights; `PreciseBatchNorm` does it from `fit`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

logger = logging.getLogger(__name__)

# detectron2's PreciseBN default: 200 iterations (of its batch); Wu & Johnson find a few
# hundred images enough for stable population statistics.
DEFAULT_PRECISE_BN_IMAGES = 200
# With momentum 0 a training-mode call writes the batch statistics themselves into the
# moving mean / variance: `moving = moving * momentum + batch * (1 - momentum)`.
_BATCH_STATISTICS_MOMENTUM = 0.0


def trainable_batch_norm_layers(model: keras.Layer) -> list[keras.layers.BatchNormalization]:
    """The BatchNorm layers of `model` (nested models and layers included) that train.

    A BatchNorm with `trainable=False` runs in inference mode even in a training-mode call
    (Keras 3), so its moving statistics never change: those are left out.
    """
    layers = model._flatten_layers(include_self=True, recursive=True)
    return [
        layer
        for layer in layers
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]


def _images_of(batch: Any) -> Any:
    """The images of a batch: `images`, `(images, ...)` or `{"images": images, ...}`."""
    if isinstance(batch, (tuple, list)):
        return batch[0]
    if isinstance(batch, dict):
        if "images" not in batch:
            raise ValueError(
                f"A batch given as a dict needs an 'images' entry; got keys {sorted(batch)}."
            )
        return batch["images"]
    return batch


def recompute_batch_norm_statistics(
    model: keras.Model,
    batches: Iterable[Any],
    num_images: int = DEFAULT_PRECISE_BN_IMAGES,
) -> int:
    """Sets the moving statistics of every trainable BatchNorm to their population values.

    Runs `model(images, training=True)` on batches of `batches` until `num_images` images
    were seen; for each trainable BatchNorm the new moving mean (variance) is the average
    of the per-batch means (variances) of its input, each batch weighted by its number of
    images. The variance is the biased batch variance, the quantity Keras' own moving
    average follows (torch averages the unbiased one; with the hundreds of values per
    channel of a detector's feature maps they differ by < 1%). Every other variable of the
    model (trainable weights, frozen BatchNorms, random-generator states) is restored
    bit-identically afterwards, and each layer's momentum is put back.

    Args:
        model: the model (a `RetinaNet` or any Keras model).
        batches: an iterable of image batches `[B, H, W, 3]`, `(images, ...)` tuples or
            `{"images": ...}` dicts in the model's input format (the training images through
            the inference preprocessing). Only the first `num_images` images are read, so
            it may repeat forever; batch sizes like the training batch give the statistics
            the weights were trained with.
        num_images: images to average over (>= 1).

    Returns:
        The number of BatchNorm layers updated (0 when the model has no trainable one; the
        batches are then not read).

    Raises:
        ValueError: `num_images` < 1, or `batches` yields no images.
    """
    if not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"`num_images` must be an int >= 1; got {num_images!r}.")
    layers = trainable_batch_norm_layers(model)
    if not layers:
        return 0
    statistics_ids = {
        id(variable) for layer in layers for variable in (layer.moving_mean, layer.moving_variance)
    }
    kept = [variable for variable in model.weights if id(variable) not in statistics_ids]
    kept_values = [keras.ops.convert_to_numpy(variable) for variable in kept]
    momenta = [layer.momentum for layer in layers]
    sums_mean = [np.zeros(layer.moving_mean.shape, np.float64) for layer in layers]
    sums_variance = [np.zeros(layer.moving_variance.shape, np.float64) for layer in layers]
    seen = 0
    try:
        for layer in layers:
            layer.momentum = _BATCH_STATISTICS_MOMENTUM
        for batch in batches:
            images = _images_of(batch)
            count = min(int(keras.ops.shape(images)[0]), num_images - seen)
            if count <= 0:
                continue
            model(images[:count], training=True)
            for index, layer in enumerate(layers):
                sums_mean[index] += count * keras.ops.convert_to_numpy(layer.moving_mean)
                sums_variance[index] += count * keras.ops.convert_to_numpy(layer.moving_variance)
            seen += count
            if seen >= num_images:
                break
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        for variable, value in zip(kept, kept_values, strict=True):
            variable.assign(value)
    if seen == 0:
        raise ValueError("`batches` yielded no images to compute BatchNorm statistics from.")
    for index, layer in enumerate(layers):
        layer.moving_mean.assign((sums_mean[index] / seen).astype(np.float32))
        layer.moving_variance.assign((sums_variance[index] / seen).astype(np.float32))
    logger.info("Precise BatchNorm statistics of %d layers from %d images.", len(layers), seen)
    return len(layers)


@keras.saving.register_keras_serializable(package="keras_retinanet")
class PreciseBatchNorm(keras.callbacks.Callback):
    """Recomputes the BatchNorm population statistics during `fit` (detectron2's PreciseBN).

    At the end of every `every_n_epochs`-th epoch (and at the end of training when
    `at_train_end`), runs `recompute_batch_norm_statistics(model, dataset, num_images)`.
    List it BEFORE the callbacks that use the model in inference mode at epoch end (a COCO
    evaluation, `best.keras` / `last.keras` saving): Keras calls callbacks in list order.
    The pass only changes the moving statistics of trainable BatchNorms; training goes on
    from them (the moving average continues from the precise values).

    Args:
        dataset: iterable of image batches (see `recompute_batch_norm_statistics`), e.g. the
            training images through the evaluation pipeline. Not part of `get_config`: pass
            it again to `from_config(config, dataset=...)` or set `callback.dataset`.
        num_images: images per pass (default 200, as detectron2).
        every_n_epochs: run after epochs `n, 2n, ...` (1-based).
        at_train_end: also run in `on_train_end`, unless the last epoch already ran it.
    """

    def __init__(
        self,
        dataset: Iterable[Any] | None = None,
        num_images: int = DEFAULT_PRECISE_BN_IMAGES,
        every_n_epochs: int = 1,
        at_train_end: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(num_images, int) or num_images < 1:
            raise ValueError(f"`num_images` must be an int >= 1; got {num_images!r}.")
        if not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(f"`every_n_epochs` must be an int >= 1; got {every_n_epochs!r}.")
        self.dataset = dataset
        self.num_images = num_images
        self.every_n_epochs = every_n_epochs
        self.at_train_end = bool(at_train_end)
        self._current = False  # statistics recomputed since the last training step

    def recompute(self) -> int:
        """Runs the pass on `self.model` now; returns the number of layers updated."""
        if self.model is None:
            raise ValueError("PreciseBatchNorm has no model: call set_model() or use fit().")
        if self.dataset is None:
            raise ValueError("PreciseBatchNorm has no dataset: pass `dataset=` (training images).")
        updated = recompute_batch_norm_statistics(self.model, self.dataset, self.num_images)
        self._current = True
        return updated

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._current = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.every_n_epochs == 0:
            self.recompute()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.at_train_end and not self._current:
            self.recompute()

    def get_config(self) -> dict[str, Any]:
        return {
            "num_images": self.num_images,
            "every_n_epochs": self.every_n_epochs,
            "at_train_end": self.at_train_end,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], dataset: Iterable[Any] | None = None):
        return cls(dataset=dataset, **config)
