"""Keras callback that scores the model with COCO box mAP during `fit`."""

import os
import time
import warnings
from collections.abc import Iterable
from typing import Any

import keras

from keras_retinanet.evaluation.coco_evaluator import CocoEvaluator
from keras_retinanet.evaluation.detections_to_original import rescale_detections
from keras_retinanet.evaluation.inference_mode_check import check_inference_mode

# Box format the evaluator takes (`ymin, xmin, ymax, xmax`, absolute pixels).
EVALUATOR_BOX_FORMAT = "yxyx"

NO_DETECTIONS_WARNING = (
    "The COCO evaluation found no detection at all: every class score is below the "
    "detection threshold (DetectionDecoder.score_threshold) on every image, so AP is 0. "
    "The model is likely not trained enough yet (more steps, or a higher learning rate "
    "for a short run), or the evaluation images differ from the training images "
    "(size, normalisation)."
)

# Axes of the height and width in a batch of images `[B, H, W, C]`.
_HEIGHT_AXIS = 1
_WIDTH_AXIS = 2


class CocoMetricCallback(keras.callbacks.Callback):
    """Runs COCO evaluation every `every_n_epochs` epochs and adds the metrics to `logs`.

    The evaluation dataset yields `(images, meta)` batches:

    * `images`: `[B, H, W, 3]`, the network input (resized and padded at the bottom/right).
    * `meta["image_id"]`: int64 `[B]`, ground-truth image ids.
    * `meta["scale"]`: float32 `[B, 2]`, `(scale_y, scale_x)` = resized / original size.
    * `meta["original_size"]`: int32 `[B, 2]`, `(height, width)` of the original images.

    The model's `predict_on_batch(images)` must return a dict with `"boxes"` `[B, D, 4]` in
    `model.bounding_box_format` (pixels of the network input, or relative to it for `rel_*`
    formats), `"scores"` `[B, D]`, `"classes"` `[B, D]` (contiguous 0-based, -1 for padding)
    and `"num_detections"` `[B]`. Boxes are converted to `yxyx`, mapped back to the original
    images with `rescale_detections` and scored by the evaluator.

    Metrics are written into the epoch's `logs` as `prefix + name` (`val_AP`, `val_AP50`, ...),
    so callbacks listed AFTER this one (e.g. `ModelCheckpoint(monitor="val_AP", mode="max")`)
    and the returned `History` see them. Epochs without evaluation add nothing to `logs`
    (`ModelCheckpoint` then warns that the monitored value is missing and skips that epoch).
    An evaluation without a single detection warns: `check_inference_mode` on its first
    batch names the BatchNorm moving statistics when they are the cause, otherwise
    `NO_DETECTIONS_WARNING` says that nothing scored above the threshold.

    Args:
        dataset: Finite iterable of `(images, meta)` batches, e.g. a `tf.data.Dataset`; it is
            iterated once per evaluation, so it must not repeat forever.
        evaluator: The `CocoEvaluator` holding the ground truth; reset before each evaluation.
        every_n_epochs: Evaluate after epochs `n, 2n, ...` (1-based).
        prefix: Prefix of the metric names in `logs`.
        results_path: If set, the detections of each evaluation are written there as a COCO
            results JSON; a `{epoch}` field in the path is filled with the 1-based epoch.
        verbose: If True, prints the metrics and pycocotools' summary table after each
            evaluation.
    """

    def __init__(
        self,
        dataset: Iterable[tuple[Any, dict[str, Any]]],
        evaluator: CocoEvaluator,
        every_n_epochs: int = 1,
        prefix: str = "val_",
        results_path: str | os.PathLike | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__()
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}.")
        self.dataset = dataset
        self.evaluator = evaluator
        self.every_n_epochs = every_n_epochs
        self.prefix = prefix
        self.results_path = results_path
        self.verbose = verbose
        self.last_metrics: dict[str, float] = {}

    def evaluate(self, epoch: int | None = None) -> dict[str, float]:
        """Scores `self.model` on the whole dataset.

        Args:
            epoch: 0-based epoch, used only to fill `{epoch}` in `results_path`.

        Returns:
            The evaluator's metrics, unprefixed (`{"AP": ..., "AP50": ..., ...}`).
        """
        if self.model is None:
            raise ValueError("CocoMetricCallback has no model: call set_model() or use fit().")
        box_format = getattr(self.model, "bounding_box_format", None)
        if box_format is None:
            raise ValueError(
                "The model has no `bounding_box_format` attribute; CocoMetricCallback needs it "
                "to read the predicted boxes."
            )
        start = time.perf_counter()
        self.evaluator.reset_state()
        first_images = None
        num_detections = 0
        for images, meta in self.dataset:
            outputs = self.model.predict_on_batch(images)
            if first_images is None:
                first_images = images
            num_detections += int(keras.ops.sum(outputs["num_detections"]))
            boxes = outputs["boxes"]
            if box_format.lower() != EVALUATOR_BOX_FORMAT:
                boxes = keras.utils.bounding_boxes.convert_format(
                    boxes,
                    source=box_format,
                    target=EVALUATOR_BOX_FORMAT,
                    height=int(images.shape[_HEIGHT_AXIS]),
                    width=int(images.shape[_WIDTH_AXIS]),
                )
            boxes_original_yxyx = rescale_detections(boxes, meta["scale"], meta["original_size"])
            self.evaluator.update_state(
                image_ids=meta["image_id"],
                boxes=boxes_original_yxyx,
                scores=outputs["scores"],
                classes=outputs["classes"],
                num_detections=outputs["num_detections"],
            )
        metrics = self.evaluator.result()
        if num_detections == 0 and first_images is not None:
            # Nothing detected at all: warn, naming BatchNorm statistics when batch
            # statistics would detect (one batch), else the score threshold.
            check = check_inference_mode(self.model, first_images)
            if check is None or not check.statistics_mismatch:
                warnings.warn(NO_DETECTIONS_WARNING, UserWarning, stacklevel=2)

        if self.results_path is not None:
            path = os.fspath(self.results_path)
            if epoch is not None:
                path = path.format(epoch=epoch + 1)
            self.evaluator.write_results_json(path)
        if self.verbose:
            formatted = ", ".join(f"{self.prefix}{k}={v:.4f}" for k, v in metrics.items())
            seconds = time.perf_counter() - start
            print(f"COCO evaluation ({seconds:.1f}s): {formatted}")
            print(self.evaluator.summary_text(), end="")
        self.last_metrics = metrics
        return metrics

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Evaluates after every `every_n_epochs`-th epoch and adds the metrics to `logs`."""
        if (epoch + 1) % self.every_n_epochs != 0:
            return
        metrics = self.evaluate(epoch)
        if logs is not None:
            logs.update({f"{self.prefix}{name}": value for name, value in metrics.items()})
