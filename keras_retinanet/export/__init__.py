"""Export of a RetinaNet to LiteRT (`.tflite`) for Android and Coral Edge TPU deployment."""

from keras_retinanet.export.class_column_layout import ClassColumnLayout
from keras_retinanet.export.detection_postprocess import (
    POSTPROCESS_OP_NAME,
    DetectionPostProcess,
    anchors_to_center_size,
)
from keras_retinanet.export.detector_evaluation import (
    evaluate_detector_on_elements,
    keras_letterbox_detector,
)
from keras_retinanet.export.edgetpu_readiness import EdgeTpuReadiness, check_edgetpu_readiness
from keras_retinanet.export.letterbox import LetterboxResult, letterbox
from keras_retinanet.export.quantization_fallback import (
    QuantizationLayerError,
    measure_layer_errors,
)
from keras_retinanet.export.tflite_exporter import (
    OUTPUT_NAMES,
    QUANTIZATION_MODES,
    ExportError,
    ExportReport,
    Quantization,
    export_tflite,
    labels_path_for,
)
from keras_retinanet.export.tflite_graph import TFLiteGraph, read_tflite_graph
from keras_retinanet.export.tflite_metadata import DetectorMetadata, read_metadata
from keras_retinanet.export.tflite_model_runner import TFLiteDetector
from keras_retinanet.export.xnnpack_compatibility import XnnpackIssue, find_xnnpack_issues

__all__ = [
    "OUTPUT_NAMES",
    "POSTPROCESS_OP_NAME",
    "QUANTIZATION_MODES",
    "ClassColumnLayout",
    "DetectionPostProcess",
    "DetectorMetadata",
    "EdgeTpuReadiness",
    "ExportError",
    "ExportReport",
    "LetterboxResult",
    "Quantization",
    "QuantizationLayerError",
    "TFLiteDetector",
    "TFLiteGraph",
    "XnnpackIssue",
    "anchors_to_center_size",
    "check_edgetpu_readiness",
    "evaluate_detector_on_elements",
    "export_tflite",
    "find_xnnpack_issues",
    "keras_letterbox_detector",
    "labels_path_for",
    "letterbox",
    "measure_layer_errors",
    "read_metadata",
    "read_tflite_graph",
]
