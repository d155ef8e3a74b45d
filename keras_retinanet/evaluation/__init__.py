"""COCO evaluation: ground truth, mAP evaluator, detection rescaling and a Keras callback."""

from keras_retinanet.evaluation.coco_evaluator import CocoEvaluator
from keras_retinanet.evaluation.coco_ground_truth import build_coco_ground_truth
from keras_retinanet.evaluation.coco_metric_callback import CocoMetricCallback
from keras_retinanet.evaluation.detections_to_original import rescale_detections
from keras_retinanet.evaluation.evaluate_detector import coco_evaluator_for, evaluate_detector

__all__ = [
    "CocoEvaluator",
    "CocoMetricCallback",
    "build_coco_ground_truth",
    "coco_evaluator_for",
    "evaluate_detector",
    "rescale_detections",
]
