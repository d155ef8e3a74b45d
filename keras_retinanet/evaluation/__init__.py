"""COCO evaluation: ground truth, mAP evaluator, detection rescaling and a Keras callback."""

from keras_retinanet.evaluation.coco_evaluator import CocoEvaluator
from keras_retinanet.evaluation.coco_ground_truth import build_coco_ground_truth
from keras_retinanet.evaluation.coco_metric_callback import CocoMetricCallback
from keras_retinanet.evaluation.detections_to_original import rescale_detections
from keras_retinanet.evaluation.evaluate_detector import coco_evaluator_for, evaluate_detector
from keras_retinanet.evaluation.inference_mode_check import (
    InferenceModeCheck,
    check_inference_mode,
)

__all__ = [
    "CocoEvaluator",
    "CocoMetricCallback",
    "InferenceModeCheck",
    "build_coco_ground_truth",
    "check_inference_mode",
    "coco_evaluator_for",
    "evaluate_detector",
    "rescale_detections",
]
