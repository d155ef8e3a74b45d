"""Exports a `RetinaNet` to a `.tflite` file with LiteRT's built-in detection post-process.

The exported graph (one signature, `"serving_default"`):

    images [1, H, W, 3]  (uint8 for "int8", float32 otherwise; RGB pixels 0..255)
      -> the Keras model (normalisation inside)      -> logits [1, A, K], deltas [1, A, 4]
      -> sigmoid(logits)                             -> scores [1, A, K]
      -> TFLite_Detection_PostProcess(deltas, scores, anchors [A, 4] constant, normalised
         (yc, xc, h, w))                             -> the four outputs below

Outputs, named (signature keys and tensor names) and ordered as Android detectors
(TFLite Task Library / MediaPipe `ObjectDetector`, TF Object Detection API SSD exports)
expect them:

    0 "detection_boxes"    float32 [1, N, 4] normalised (ymin, xmin, ymax, xmax), not clipped
    1 "detection_classes"  float32 [1, N]    0-based class index into the labels file
    2 "detection_scores"   float32 [1, N]    sigmoid probability
    3 "num_detections"     float32 [1]       valid leading rows; rows past it are undefined

Look outputs up by name (`Interpreter.get_signature_runner("serving_default")` returns
them keyed by these names), not by position: converters have changed the order before.

Quantization modes (`Quantization`):

* "float32": no quantization (reference; parity with the Keras model).
* "float16": float16 weights, float32 compute (half the size; GPU delegates run fp16).
* "dynamic": int8 weights, float activations quantized on the fly (dynamic range).
* "int8": full-integer post-training quantization calibrated on representative images:
  uint8 input, every op in int8 except the post-process op (and the two DEQUANTIZE ops
  feeding it), which keeps float inputs. Required by the Coral Edge TPU.

Keras 3 models convert through `keras.export.ExportArchive` -> SavedModel ->
`tf.lite.TFLiteConverter.from_saved_model` (`from_concrete_functions` does not freeze
Keras 3 variables and fails at calibration).
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from tensorflow.lite.python import convert as tflite_convert
from tensorflow.lite.tools import flatbuffer_utils

from keras_retinanet.export.class_column_layout import ClassColumnLayout
from keras_retinanet.export.detection_postprocess import (
    BOXES,
    CLASSES,
    NUM_DETECTIONS,
    POSTPROCESS_OP_NAME,
    SCORES,
    DetectionPostProcess,
    anchors_to_center_size,
)
from keras_retinanet.export.letterbox import letterbox
from keras_retinanet.export.quantization_fallback import (
    DEFAULT_ERROR_RATIO_THRESHOLD,
    QuantizationLayerError,
    measure_layer_errors,
)
from keras_retinanet.export.tflite_graph import (
    read_tflite_graph,
    rewrite_io,
    set_custom_options,
)
from keras_retinanet.export.tflite_metadata import DetectorMetadata, add_metadata
from keras_retinanet.export.xnnpack_compatibility import (
    find_xnnpack_issues,
    raise_output_scales,
)

logger = logging.getLogger(__name__)

DEFAULT_IMAGE_SIZE = 320
DEFAULT_NUM_CALIBRATION_IMAGES = 100
# Images the automatic float fallback uses to measure per-layer quantization errors.
DEFAULT_NUM_DEBUG_IMAGES = 8
# LiteRT's detection post-process (and so the export) handles one image per call.
SUPPORTED_BATCH_SIZE = 1

SIGNATURE_KEY = "serving_default"
INPUT_NAME = "images"
OUTPUT_BOXES = "detection_boxes"
OUTPUT_CLASSES = "detection_classes"
OUTPUT_SCORES = "detection_scores"
OUTPUT_NUM_DETECTIONS = "num_detections"
# Graph output order of the written file (the Android detector convention).
OUTPUT_NAMES = (OUTPUT_BOXES, OUTPUT_CLASSES, OUTPUT_SCORES, OUTPUT_NUM_DETECTIONS)
_OUTPUT_OF_POSTPROCESS = {
    OUTPUT_BOXES: BOXES,
    OUTPUT_CLASSES: CLASSES,
    OUTPUT_SCORES: SCORES,
    OUTPUT_NUM_DETECTIONS: NUM_DETECTIONS,
}
# The labels file sits next to the model: `model.tflite` -> `model.labels.txt`.
LABELS_SUFFIX = ".labels.txt"

# uint8 input quantization that makes the input the raw pixel value.
PIXEL_SCALE = 1.0
PIXEL_ZERO_POINT = 0
# A float op in an int8 model: these ops legitimately stay float (they feed the
# post-process op, whose inputs are float by contract).
_FLOAT_TAIL_OPS = ("DEQUANTIZE", POSTPROCESS_OP_NAME)
_FLOAT_DTYPES = ("float32", "float16")
# Ops that only rescale the uint8 input (so its quantization may be redeclared).
_RESCALING_OPS = ("QUANTIZE", "DEQUANTIZE")
# `float_fallback="auto"`: denylist the layers whose quantization error is this many
# quantization steps (RMSE / scale) or more.
AUTO_FALLBACK = "auto"


class Quantization(str, enum.Enum):
    """How the exported model is quantized (see the module docstring)."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    DYNAMIC = "dynamic"
    INT8 = "int8"


QUANTIZATION_MODES = tuple(mode.value for mode in Quantization)


class ExportError(ValueError):
    """The model or the options cannot be exported; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class TensorReport:
    """A graph input or output of the written model.

    Attributes:
        name: signature key (`"images"`, `"detection_boxes"`, ...); also the tensor name.
        shape: static shape.
        dtype: "uint8", "float32", ...
        scale: quantization scale (None when not quantized).
        zero_point: quantization zero point (None when not quantized).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """What `export_tflite` wrote.

    Attributes:
        path: the `.tflite` file.
        size_bytes: its size.
        quantization: the `Quantization` mode name.
        image_size: `(H, W)` of the static input.
        num_classes: K.
        inputs: graph inputs (one: `"images"`).
        outputs: graph outputs in file order (`OUTPUT_NAMES`).
        float_ops: int8 mode: ops of the quantized body that compute in float (`"TYPE
            output_tensor"`), i.e. the layers kept float by the fallback; the DEQUANTIZE
            ops and the post-process op at the end are not listed (they are float by
            design). Empty for the other modes.
        float_fallback_nodes: tensor names denylisted from quantization.
        layer_errors: int8 with `float_fallback="auto"`: the measured per-layer errors,
            worst first (`QuantizationLayerError`).
        op_summary: `{op type: count}` of the written graph.
        labels_path: the labels file written next to the model (the label map, one
            line per score column).
        num_calibration_images: images used to calibrate ("int8"), else 0.
        use_regular_nms: the file runs class-wise NMS.
        label_map: one name per score column of the post-process op (class-wise files
            with more than 2 classes hold `"???"` placeholder columns).
        xnnpack_fixes: int8: ops whose output scale was raised so that XNNPACK accepts
            them (the issue before the fix).
        has_metadata: TFLite Model Metadata was written.
    """

    path: str
    size_bytes: int
    quantization: str
    image_size: tuple[int, int]
    num_classes: int
    inputs: tuple[TensorReport, ...]
    outputs: tuple[TensorReport, ...]
    float_ops: tuple[str, ...]
    float_fallback_nodes: tuple[str, ...]
    layer_errors: tuple[QuantizationLayerError, ...]
    op_summary: dict[str, int]
    labels_path: str
    num_calibration_images: int
    use_regular_nms: bool = False
    label_map: tuple[str, ...] = ()
    xnnpack_fixes: tuple[str, ...] = ()
    has_metadata: bool = False

    def summary(self) -> str:
        """A human-readable multi-line description."""
        lines = [
            f"{self.path}: {self.size_bytes / 1e6:.2f} MB, {self.quantization}, "
            f"input {self.image_size[0]}x{self.image_size[1]}, {self.num_classes} classes",
        ]
        for kind, tensors in (("input", self.inputs), ("output", self.outputs)):
            for tensor in tensors:
                quant = (
                    "" if tensor.scale is None else f" (q: {tensor.scale:g}, {tensor.zero_point})"
                )
                lines.append(f"  {kind} {tensor.name}: {tensor.dtype} {list(tensor.shape)}{quant}")
        ops = ", ".join(f"{name} x{count}" for name, count in self.op_summary.items())
        lines.append(f"  ops: {ops}")
        if self.quantization == Quantization.INT8.value:
            lines.append(f"  calibrated on {self.num_calibration_images} images")
            kept = ", ".join(self.float_ops) if self.float_ops else "none"
            lines.append(f"  layers kept in float: {kept}")
        nms = "class-wise (1-8 threads)" if self.use_regular_nms else "fast, class-agnostic"
        lines.append(f"  NMS: {nms}")
        for fix in self.xnnpack_fixes:
            lines.append(f"  output scale raised for XNNPACK: {fix}")
        lines.append(f"  metadata: {'written' if self.has_metadata else 'none'}")
        lines.append(f"  labels: {self.labels_path}")
        return "\n".join(lines)


def labels_path_for(model_path: str | os.PathLike) -> str:
    """The labels file that belongs to a model: `m.tflite` -> `m.labels.txt`."""
    root, _ = os.path.splitext(os.fspath(model_path))
    return root + LABELS_SUFFIX


def export_tflite(
    model: keras.Model,
    output_path: str | os.PathLike,
    image_size: int | Sequence[int] | None = DEFAULT_IMAGE_SIZE,
    quantization: Quantization | str = Quantization.FLOAT32,
    representative_images: Any = None,
    num_calibration_images: int = DEFAULT_NUM_CALIBRATION_IMAGES,
    labels: Sequence[str] | None = None,
    use_regular_nms: bool | None = None,
    max_detections: int | None = None,
    detections_per_class: int | None = None,
    score_threshold: float | None = None,
    iou_threshold: float | None = None,
    float_fallback: str | Sequence[str] | None = None,
    fallback_error_ratio: float = DEFAULT_ERROR_RATIO_THRESHOLD,
    batch_size: int = SUPPORTED_BATCH_SIZE,
    metadata: bool = True,
    model_name: str | None = None,
    model_description: str | None = None,
) -> ExportReport:
    """Converts a RetinaNet to a `.tflite` with the detection post-process op at the end.

    Args:
        model: a `keras_retinanet.RetinaNet` (anything with `num_classes`,
            `anchor_generator`, `box_coder` and `detection_decoder` and the raw
            `{"classification", "box"}` outputs).
        output_path: the `.tflite` file to write (folders are created).
        image_size: static input `(H, W)` or one int for a square. None: the model's own
            static input size (an error for a model with a dynamic size). Multiples of
            the largest stride (128 for P7) avoid any cropping in the FPN.
        quantization: one of `QUANTIZATION_MODES`.
        representative_images: "int8" only (required there): calibration images, any
            iterable or `tf.data.Dataset` of uint8/float RGB images `[h, w, 3]` or batches
            `[B, h, w, 3]`, loader elements (`{"image": ...}`), or input-pipeline batches
            `(images, targets)`. Each image is letterboxed to `image_size` exactly as
            `TFLiteDetector` does. Use images of the real input pipeline.
        num_calibration_images: most images taken from `representative_images`.
        labels: K class names for the labels file. None: "class_0",
            "class_1", ...
        use_regular_nms: None: the model decoder's flavour (class-wise, the paper's and
            the Keras default). True: class-wise NMS; the classes are spread over score
            columns so that LiteRT's multi-threaded class-wise kernel, which skips one
            column per thread count, skips only placeholder columns: the file is correct
            on 1-8 threads (`class_column_layout`; the label map carries `"???"` entries
            there, as COCO label maps carry gaps). False: LiteRT's fast class-agnostic NMS
            (each anchor keeps its best class, one NMS over all boxes; equals the Keras
            decoder with `class_wise_nms=False`), cheaper with many classes but a box can
            suppress an overlapping box of another class.
        max_detections: N. None: the decoder's (100).
        detections_per_class: class-wise NMS: most boxes kept per class before the best
            N over all classes. None: N (what the Keras decoder does). Written into the
            op's options (the converter drops it, and LiteRT then uses 100).
        score_threshold: None: the decoder's (0.05).
        iou_threshold: None: the decoder's (0.5).
        float_fallback: "int8" only: layers to keep in float. None: none. "auto": measure
            every layer's quantization error with the quantization debugger on a few
            calibration images and keep in float those whose RMSE reaches
            `fallback_error_ratio` quantization steps. A list: tensor names (as in the
            flatbuffer / `ExportReport.layer_errors`) or TFLite op types ("LOGISTIC")
            to denylist.
        fallback_error_ratio: threshold of `float_fallback="auto"`, in quantization steps
            (pure rounding gives ~0.29).
        batch_size: must be 1 (the post-process op is batch-1 only).
        metadata: write TFLite Model Metadata (input image and normalisation, the four
            outputs, the label map as an associated file), which MediaPipe Tasks'
            `ObjectDetector`, the TFLite Task Library and Android Studio require.
        model_name: the metadata's model name. None: the Keras model's name.
        model_description: the metadata's description. None: a generated summary.

    Every file is loaded and run once with LiteRT's default delegate (XNNPACK) and
    without delegates before it is written. For int8, quantized ops whose scales break
    XNNPACK's limits are fixed by raising their output scale
    (`xnnpack_compatibility`); what cannot be fixed fails the export, naming the layers.

    Returns:
        An `ExportReport`.

    Raises:
        ExportError: unsupported quantization name, batch size != 1, dynamic input size
            without `image_size`, an `image_size` the model's static input disagrees
            with, labels that do not match `num_classes`, "int8" without representative
            images, options given for a mode that does not use them, a file that LiteRT
            cannot load or run (with the layers XNNPACK refuses).
    """
    mode = _parse_quantization(quantization)
    height, width = _resolve_image_size(model, image_size)
    _check_model(model, batch_size)
    class_names = _resolve_labels(model, labels)
    if mode is Quantization.INT8:
        if representative_images is None:
            raise ExportError(
                "quantization='int8' needs `representative_images` (a few hundred images of "
                "the real input pipeline) to calibrate the activation ranges."
            )
        if num_calibration_images < 1:
            raise ExportError(f"num_calibration_images must be >= 1; got {num_calibration_images}.")
        if isinstance(float_fallback, str) and float_fallback != AUTO_FALLBACK:
            raise ExportError(
                f"float_fallback must be None, {AUTO_FALLBACK!r} or a list of tensor names / "
                f"op types; got {float_fallback!r}."
            )
    else:
        if representative_images is not None:
            raise ExportError(
                f"representative_images are only used by quantization='int8', not {mode.value!r}."
            )
        if float_fallback is not None:
            raise ExportError(f"float_fallback only applies to 'int8', not {mode.value!r}.")

    if use_regular_nms is None:
        use_regular_nms = bool(model.detection_decoder.class_wise_nms)
    layout = (
        ClassColumnLayout.thread_safe(model.num_classes)
        if use_regular_nms
        else ClassColumnLayout.identity(model.num_classes)
    )
    postprocess = DetectionPostProcess.from_model(
        layout.num_columns,
        model.box_coder,
        model.detection_decoder,
        use_regular_nms=use_regular_nms,
        max_detections=max_detections,
        detections_per_class=detections_per_class,
        nms_score_threshold=score_threshold,
        nms_iou_threshold=iou_threshold,
    )
    anchors = _normalised_anchors(model, height, width)

    with tempfile.TemporaryDirectory(prefix="retinanet_savedmodel_") as saved_model_dir:
        _write_saved_model(model, postprocess, layout, anchors, (height, width), saved_model_dir)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            saved_model_dir, signature_keys=[SIGNATURE_KEY]
        )
        fallback_nodes: tuple[str, ...] = ()
        layer_errors: tuple[QuantizationLayerError, ...] = ()
        num_calibrated = 0
        if mode is Quantization.INT8:
            calibration = _collect_calibration_images(
                representative_images, (height, width), num_calibration_images
            )
            num_calibrated = len(calibration)
            content, fallback_nodes, layer_errors = _convert_int8(
                converter, calibration, float_fallback, fallback_error_ratio
            )
        else:
            content = _convert_float(converter, mode)

    content = _finalize_io(content, fix_pixel_input=mode is Quantization.INT8)
    content = set_custom_options(content, POSTPROCESS_OP_NAME, postprocess.kernel_options())
    content, xnnpack_fixes = raise_output_scales(content)
    for issue in xnnpack_fixes:
        logger.info("raised the output scale for XNNPACK: %s", issue)
    _check_litert_runs(content)
    label_map = layout.labels(class_names)
    if metadata:
        content = add_metadata(
            content,
            DetectorMetadata(
                name=model_name or model.name,
                description=model_description
                or _describe(model, mode, (height, width), use_regular_nms),
                labels=tuple(label_map),
                image_size=(height, width),
            ),
        )
    output_path = os.fspath(output_path)
    directory = os.path.dirname(output_path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    labels_path = labels_path_for(output_path)
    with open(labels_path, "w", encoding="utf-8") as file:
        file.write("".join(f"{name}\n" for name in label_map))
    with open(output_path, "wb") as file:
        file.write(content)

    graph = read_tflite_graph(content)
    return ExportReport(
        path=output_path,
        size_bytes=len(content),
        quantization=mode.value,
        image_size=(height, width),
        num_classes=model.num_classes,
        inputs=tuple(_tensor_report(name, graph, "inputs") for name in (INPUT_NAME,)),
        outputs=tuple(_tensor_report(name, graph, "outputs") for name in OUTPUT_NAMES),
        float_ops=_float_body_ops(graph) if mode is Quantization.INT8 else (),
        float_fallback_nodes=fallback_nodes,
        layer_errors=layer_errors,
        op_summary=graph.op_counts(),
        labels_path=labels_path,
        num_calibration_images=num_calibrated,
        use_regular_nms=use_regular_nms,
        label_map=tuple(label_map),
        xnnpack_fixes=tuple(str(issue) for issue in xnnpack_fixes),
        has_metadata=bool(metadata),
    )


# ---------------------------------------------------------------------------- validation


def _parse_quantization(quantization: Quantization | str) -> Quantization:
    try:
        return Quantization(quantization)
    except ValueError:
        raise ExportError(
            f"Unsupported quantization {quantization!r}; choose one of {QUANTIZATION_MODES}."
        ) from None


def _resolve_image_size(model: keras.Model, image_size) -> tuple[int, int]:
    static = tuple(model.inputs[0].shape[1:3]) if model.inputs else (None, None)
    static_known = all(s is not None for s in static)
    if image_size is None:
        if not static_known:
            raise ExportError(
                f"The model has a dynamic input size {static}; pass image_size=(H, W) (or "
                "one int) for the static input of the .tflite."
            )
        return int(static[0]), int(static[1])
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or any(isinstance(s, bool) or int(s) != s or s < 1 for s in size):
        raise ExportError(f"image_size must be a positive int or (H, W); got {image_size!r}.")
    size = (int(size[0]), int(size[1]))
    for given, fixed in zip(size, static):
        if fixed is not None and fixed != given:
            raise ExportError(
                f"The model's input is fixed to {static}; it cannot be exported at {size}. "
                "Pass image_size=None to use the model's size."
            )
    return size


def _check_model(model: keras.Model, batch_size: int) -> None:
    for attribute in ("num_classes", "anchor_generator", "box_coder", "detection_decoder"):
        if not hasattr(model, attribute):
            raise ExportError(
                f"The model has no `{attribute}`: export_tflite takes a keras_retinanet RetinaNet."
            )
    if batch_size != SUPPORTED_BATCH_SIZE:
        raise ExportError(
            f"batch_size={batch_size} is not supported: TFLite_Detection_PostProcess "
            "handles one image per call, so the .tflite has a static batch of 1. Run the "
            "images one after the other (or several interpreters in parallel)."
        )
    static_batch = model.inputs[0].shape[0] if model.inputs else None
    if static_batch is not None and static_batch != SUPPORTED_BATCH_SIZE:
        raise ExportError(
            f"The model's input has a static batch of {static_batch}; the .tflite needs "
            "batch 1 (rebuild the model with a dynamic or unit batch)."
        )


def _resolve_labels(model: keras.Model, labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return [f"class_{index}" for index in range(model.num_classes)]
    names = [str(name) for name in labels]
    if len(names) != model.num_classes:
        raise ExportError(
            f"{len(names)} labels given but the model has num_classes={model.num_classes}; "
            "pass one name per class, in class-index order."
        )
    if any(not name or "\n" in name for name in names):
        raise ExportError("Labels must be non-empty single-line strings.")
    return names


# ---------------------------------------------------------------------------- the graph


def _normalised_anchors(model: keras.Model, height: int, width: int) -> np.ndarray:
    """Anchors `[A, 4]` (yc, xc, h, w) / (H, W, H, W), checked against the model's A."""
    anchors = anchors_to_center_size(model.anchor_generator(height, width), (height, width))
    raw = model(tf.zeros([1, height, width, 3], tf.float32), training=False)
    num_predicted = int(raw["box"].shape[1])
    if num_predicted != int(anchors.shape[0]):
        raise ExportError(
            f"At {height}x{width} the model predicts {num_predicted} anchors but its anchor "
            f"generator makes {int(anchors.shape[0])}; use a size that is a multiple of the "
            f"largest stride ({max(model.anchor_generator.strides)})."
        )
    return anchors.numpy()


def _write_saved_model(
    model: keras.Model,
    postprocess: DetectionPostProcess,
    layout: ClassColumnLayout,
    anchors: np.ndarray,
    image_size: tuple[int, int],
    directory: str,
) -> None:
    """Writes model -> sigmoid -> score columns -> post-process as a SavedModel."""
    anchors_constant = tf.constant(anchors, tf.float32)

    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = model(images, training=False)
        class_scores = _to_columns(tf.sigmoid(tf.cast(raw["classification"], tf.float32)), layout)
        box_encodings = tf.cast(raw["box"], tf.float32)
        detections = postprocess(box_encodings, class_scores, anchors_constant)
        return {name: detections[key] for name, key in _OUTPUT_OF_POSTPROCESS.items()}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name=SIGNATURE_KEY,
        fn=serve,
        input_signature=[
            tf.TensorSpec([SUPPORTED_BATCH_SIZE, *image_size, 3], tf.float32, name=INPUT_NAME)
        ],
    )
    archive.write_out(directory, verbose=False)


def _to_columns(class_scores: tf.Tensor, layout: ClassColumnLayout) -> tf.Tensor:
    """`[1, A, K]` scores -> `[1, A, C]` score columns (zeros in placeholder columns)."""
    if layout.is_identity:
        return class_scores
    pieces, start = [], 0
    columns = layout.column_classes
    while start < len(columns):
        end = start
        placeholder = columns[start] < 0
        while end < len(columns) and (columns[end] < 0) == placeholder:
            end += 1
        if placeholder:
            zero_column = tf.zeros_like(class_scores[..., :1])
            pieces.append(tf.repeat(zero_column, end - start, axis=-1))
        else:
            pieces.append(class_scores[..., columns[start] : columns[end - 1] + 1])
        start = end
    return tf.concat(pieces, axis=-1)


def _check_litert_runs(content: bytes) -> None:
    """Loads and runs the file with LiteRT's default delegate and without delegates."""
    issues = find_xnnpack_issues(content)
    if issues:
        raise ExportError(
            "XNNPACK, LiteRT's default delegate, would refuse these quantized layers, so the "
            "file would fail to load on Android: "
            + "; ".join(str(i) for i in issues)
            + ". Calibrate on more varied images of the real input pipeline, or keep the "
            "layers in float (float_fallback=[names])."
        )
    for resolver in (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
        try:
            interpreter = Interpreter(model_content=content, experimental_op_resolver_type=resolver)
            interpreter.allocate_tensors()
            detail = interpreter.get_input_details()[0]
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
            interpreter.invoke()
        except (RuntimeError, ValueError) as error:
            raise ExportError(
                f"LiteRT ({resolver.name}) cannot load or run the converted file: {error}"
            ) from error


def _describe(
    model: keras.Model, mode: Quantization, image_size: tuple[int, int], class_wise: bool
) -> str:
    nms = "class-wise" if class_wise else "class-agnostic (fast)"
    return (
        f"RetinaNet detector ({model.num_classes} classes, {mode.value}, input "
        f"{image_size[0]}x{image_size[1]} RGB 0..255) with {nms} NMS inside the file "
        "(TFLite_Detection_PostProcess), exported by keras-retinanet."
    )


# ---------------------------------------------------------------------------- conversion


def _convert_float(converter: tf.lite.TFLiteConverter, mode: Quantization) -> bytes:
    if mode is Quantization.FLOAT16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode is Quantization.DYNAMIC:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def _convert_int8(
    converter: tf.lite.TFLiteConverter,
    calibration: list[np.ndarray],
    float_fallback: str | Sequence[str] | None,
    fallback_error_ratio: float,
) -> tuple[bytes, tuple[str, ...], tuple[QuantizationLayerError, ...]]:
    """Calibrates once, then quantizes (with the denylist, if any)."""
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ({INPUT_NAME: image} for image in calibration)
    # Both sets: every builtin in int8, while the custom post-process op keeps float
    # inputs (TFLITE_BUILTINS_INT8 alone fails with "Quantization not yet supported").
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
        tf.lite.OpsSet.TFLITE_BUILTINS,
    ]
    converter.inference_input_type = tf.uint8
    # Calibrate only: the calibrated float model can then be quantized several times
    # (with and without a denylist) without re-running calibration. This is the route
    # `tf.lite.experimental.QuantizationDebugger` takes.
    converter._experimental_calibrate_only = True
    calibrated = converter.convert()

    layer_errors: tuple[QuantizationLayerError, ...] = ()
    if float_fallback is None:
        denylisted_nodes, denylisted_ops = [], []
    elif float_fallback == AUTO_FALLBACK:
        debug_images = calibration[:DEFAULT_NUM_DEBUG_IMAGES]
        layer_errors = tuple(measure_layer_errors(calibrated, debug_images))
        denylisted_nodes = [
            e.tensor_name for e in layer_errors if e.error_ratio >= fallback_error_ratio
        ]
        denylisted_ops = []
        for error in layer_errors:
            logger.info("quantization error %s", error)
    else:
        names = [str(name) for name in float_fallback]
        denylisted_ops = [name for name in names if name.isupper() and "/" not in name]
        denylisted_nodes = [name for name in names if name not in denylisted_ops]
    content = _quantize(calibrated, denylisted_nodes, denylisted_ops)
    return content, tuple(denylisted_nodes) + tuple(denylisted_ops), layer_errors


def _quantize(calibrated: bytes, denylisted_nodes: list[str], denylisted_ops: list[str]) -> bytes:
    return tflite_convert.mlir_quantize(
        calibrated,
        disable_per_channel=False,
        fully_quantize=False,
        input_data_type=tf.uint8,
        output_data_type=tf.float32,
        denylisted_nodes=denylisted_nodes or None,
        denylisted_ops=denylisted_ops or None,
    )


def _collect_calibration_images(
    source: Any, image_size: tuple[int, int], limit: int
) -> list[np.ndarray]:
    """Up to `limit` letterboxed float32 `[1, H, W, 3]` images from `source`."""
    images = [
        letterbox(image, image_size).image[np.newaxis]
        for image in itertools.islice(_iterate_images(source), limit)
    ]
    if not images:
        raise ExportError("representative_images yielded no image.")
    return images


def _iterate_images(source: Any) -> Iterator[np.ndarray]:
    """Single `[h, w, 3]` images from any of the accepted calibration sources."""
    if isinstance(source, tf.data.Dataset):
        source = source.as_numpy_iterator()
    elif isinstance(source, (np.ndarray, tf.Tensor)):
        source = [source]
    for element in source:
        yield from _images_of(element)


def _images_of(element: Any) -> Iterator[np.ndarray]:
    if isinstance(element, Mapping):
        for key in ("image", "images"):
            if key in element:
                yield from _images_of(element[key])
                return
        raise ExportError(
            f"A representative element is a dict without an 'image' key: {sorted(element)}."
        )
    if isinstance(element, (tuple, list)) and not isinstance(element, np.ndarray):
        # (images, targets) batches of the input pipeline: the images come first.
        yield from _images_of(element[0])
        return
    pixels = np.asarray(element)
    if pixels.ndim == 3:
        yield pixels
    elif pixels.ndim == 4:
        yield from pixels
    else:
        raise ExportError(
            f"Representative images must be [h, w, 3] or [B, h, w, 3]; got {pixels.shape}."
        )


# ---------------------------------------------------------------------------- file fixes


def _finalize_io(content: bytes, fix_pixel_input: bool) -> bytes:
    """Names the graph's input/outputs after the signature and orders the outputs."""
    graph = read_tflite_graph(content)
    signature = graph.signatures[SIGNATURE_KEY]
    outputs = signature["outputs"]
    missing = [name for name in OUTPUT_NAMES if name not in outputs]
    if missing:
        raise ExportError(f"The converted signature lacks the outputs {missing}: {signature}.")
    input_index = signature["inputs"][INPUT_NAME]
    content = rewrite_io(
        content,
        input_names={input_index: INPUT_NAME},
        output_order=[outputs[name] for name in OUTPUT_NAMES],
        output_names={outputs[name]: name for name in OUTPUT_NAMES},
    )
    if fix_pixel_input:
        content = _pin_pixel_input(content, input_index)
    return content


def _pin_pixel_input(content: bytes, input_index: int) -> bytes:
    """Makes the uint8 input mean raw pixels (scale 1, zero point 0).

    The converter derives the input's quantization from the calibration range; when the
    calibration images never reach 0 or 255 it is not exactly (1, 0), and an app that
    feeds plain uint8 pixels (what Android and Coral detectors do) would be off. The
    input only feeds a QUANTIZE op (requantizing to the first layer's int8 range) or,
    when that layer is kept in float, a DEQUANTIZE op: both merely rescale, so declaring
    the input as (1, 0) is exact (pixels outside the calibrated range saturate in the
    QUANTIZE op as they would anyway).
    """
    graph = read_tflite_graph(content)
    tensor = graph.inputs[0]
    if tensor.scale == (PIXEL_SCALE,) and tensor.zero_point == (PIXEL_ZERO_POINT,):
        return content
    consumers = [op.op_type for op in graph.ops if any(t.index == input_index for t in op.inputs)]
    if not consumers or any(op_type not in _RESCALING_OPS for op_type in consumers):
        raise ExportError(
            f"The uint8 input has quantization {tensor.scale}, {tensor.zero_point} and feeds "
            f"{consumers}; cannot pin it to raw pixels."
        )
    return _set_quantization(content, input_index, PIXEL_SCALE, PIXEL_ZERO_POINT)


def _set_quantization(content: bytes, index: int, scale: float, zero_point: int) -> bytes:
    """Sets the (per-tensor) quantization of one tensor of the main subgraph."""
    model_object = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    quantization = model_object.subgraphs[0].tensors[index].quantization
    quantization.scale = np.asarray([scale], np.float32)
    quantization.zeroPoint = np.asarray([zero_point], np.int64)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model_object))


# ---------------------------------------------------------------------------- report


def _tensor_report(name: str, graph, kind: str) -> TensorReport:
    index = graph.signatures[SIGNATURE_KEY][kind][name]
    tensor = next(
        t for t in (graph.inputs if kind == "inputs" else graph.outputs) if t.index == index
    )
    quantized = len(tensor.scale) == 1 and tensor.scale[0] > 0
    return TensorReport(
        name=name,
        shape=tensor.shape,
        dtype=tensor.dtype,
        scale=tensor.scale[0] if quantized else None,
        zero_point=tensor.zero_point[0] if quantized else None,
    )


def _float_body_ops(graph) -> tuple[str, ...]:
    """Ops of an int8 model that still compute in float, besides the float tail."""
    kept = []
    for op in graph.ops:
        if op.op_type in _FLOAT_TAIL_OPS:
            continue
        if any(t.dtype in _FLOAT_DTYPES for t in op.outputs):
            kept.append(f"{op.op_type} {op.outputs[0].name}")
    return tuple(kept)
