"""One call that scores a detector with COCO mAP on any loader's data."""

import os

import keras

from keras_retinanet.data.detection_dataset import DetectionDataset
from keras_retinanet.data.input_pipeline import ResizeConfig, build_eval_pipeline
from keras_retinanet.evaluation.coco_evaluator import CocoEvaluator
from keras_retinanet.evaluation.coco_ground_truth import build_coco_ground_truth
from keras_retinanet.evaluation.coco_metric_callback import CocoMetricCallback

DEFAULT_EVAL_BATCH_SIZE = 8


def coco_evaluator_for(dataset: DetectionDataset) -> CocoEvaluator:
    """A `CocoEvaluator` holding the ground truth of a loader (from its records)."""
    ground_truth = build_coco_ground_truth(
        dataset.records(), dataset.class_names, dataset.category_ids
    )
    return CocoEvaluator(ground_truth, dataset.category_ids)


def evaluate_detector(
    model: keras.Model,
    dataset: DetectionDataset,
    resize: ResizeConfig,
    batch_size: int = DEFAULT_EVAL_BATCH_SIZE,
    results_path: str | os.PathLike | None = None,
    verbose: bool = False,
) -> dict[str, float]:
    """COCO box mAP of a model on a dataset.

    Images go through `build_eval_pipeline` with `resize` (use the size the model was
    trained for), the model's `predict_on_batch` detections are mapped back to original
    image pixels and scored by pycocotools.

    Args:
        model: a `RetinaNet` (or any model whose `predict_on_batch` returns the same dict
            and which has a `bounding_box_format` attribute).
        dataset: any `DetectionDataset` loader.
        resize: the evaluation resize configuration.
        batch_size: images per batch.
        results_path: if set, the detections are written there as COCO results JSON.
        verbose: print pycocotools' summary.

    Returns:
        `{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"}`.
    """
    callback = CocoMetricCallback(
        build_eval_pipeline(dataset.as_dataset(), batch_size, resize=resize),
        coco_evaluator_for(dataset),
        results_path=results_path,
        verbose=verbose,
    )
    callback.set_model(model)
    return callback.evaluate()
