"""COCO box mAP of a model on a loader's images (used after training and by the CLI)."""

from __future__ import annotations

import itertools
import os

import keras

from keras_retinanet.data import DetectionDataset
from keras_retinanet.data.input_pipeline import ResizeConfig, build_eval_pipeline
from keras_retinanet.evaluation import CocoEvaluator, CocoMetricCallback, build_coco_ground_truth


def build_coco_callback(
    loader: DetectionDataset,
    resize: ResizeConfig,
    batch_size: int,
    max_images: int | None = None,
    results_path: str | os.PathLike | None = None,
    every_n_epochs: int = 1,
    verbose: bool = False,
) -> CocoMetricCallback:
    """A `CocoMetricCallback` over the first `max_images` images of `loader`.

    Args:
        loader: the evaluation loader; its `records()` give the ground truth.
        resize: the resize of the evaluation pipeline (the training one).
        batch_size: images per batch.
        max_images: evaluate only the first this many images (None: all).
        results_path: where to write the COCO results JSON (None: nowhere).
        every_n_epochs: evaluation period when used as a `fit` callback.
        verbose: print pycocotools' summary table.

    Returns:
        The callback; call `set_model(model)` and `evaluate()` to use it outside `fit`.
    """
    records = list(itertools.islice(loader.records(), max_images))
    if not records:
        raise ValueError(f"{type(loader).__name__} has no images to evaluate.")
    ground_truth = build_coco_ground_truth(records, loader.class_names, loader.category_ids)
    evaluator = CocoEvaluator(ground_truth, loader.category_ids)
    elements = loader.as_dataset()
    if max_images is not None:
        elements = elements.take(max_images)
    dataset = build_eval_pipeline(elements, batch_size=batch_size, resize=resize)
    return CocoMetricCallback(
        dataset,
        evaluator,
        every_n_epochs=every_n_epochs,
        results_path=results_path,
        verbose=verbose,
    )


def evaluate_coco(
    model: keras.Model,
    loader: DetectionDataset,
    resize: ResizeConfig,
    batch_size: int,
    max_images: int | None = None,
    results_path: str | os.PathLike | None = None,
    verbose: bool = False,
) -> dict[str, float]:
    """COCO box metrics of `model` on `loader`.

    Args:
        model: a `RetinaNet` (its `predict_on_batch` returns decoded detections).
        loader: the evaluation loader.
        resize: the evaluation resize (what the model was trained with).
        batch_size: images per batch.
        max_images: only the first this many images (None: all).
        results_path: if set, the detections are written there as COCO results JSON
            (`[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]`, original
            image pixels).
        verbose: print pycocotools' summary table.

    Returns:
        `{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"}` in [0, 1] (-1 where a size
        range has no ground truth).
    """
    if getattr(model, "num_classes", loader.num_classes) != loader.num_classes:
        raise ValueError(
            f"The model predicts {model.num_classes} classes but the dataset has "
            f"{loader.num_classes} ({loader.class_names})."
        )
    callback = build_coco_callback(
        loader, resize, batch_size, max_images, results_path, verbose=verbose
    )
    callback.set_model(model)
    return callback.evaluate()
