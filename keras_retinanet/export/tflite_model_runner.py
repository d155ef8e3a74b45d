"""Runs an exported detector `.tflite` with the LiteRT interpreter.

`TFLiteDetector` letterboxes images to the model's static input, runs the
`"serving_default"` signature (outputs looked up by name) and returns detections in the
dict format of `RetinaNet.predict`, so evaluation and drawing code serve both. On a
machine with a Coral Edge TPU (`libedgetpu` installed) the Edge TPU delegate is loaded.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Sequence

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType, load_delegate

from keras_retinanet.evaluation.detections_to_original import rescale_detections
from keras_retinanet.export.class_column_layout import (
    MAX_SAFE_THREADS,
    PLACEHOLDER_LABEL,
    ClassColumnLayout,
)
from keras_retinanet.export.detection_postprocess import POSTPROCESS_OP_NAME
from keras_retinanet.export.letterbox import letterbox
from keras_retinanet.export.tflite_exporter import (
    INPUT_NAME,
    OUTPUT_BOXES,
    OUTPUT_CLASSES,
    OUTPUT_NUM_DETECTIONS,
    OUTPUT_SCORES,
    SIGNATURE_KEY,
    labels_path_for,
)
from keras_retinanet.export.tflite_graph import read_custom_options, read_op_codes
from keras_retinanet.export.tflite_metadata import read_metadata

logger = logging.getLogger(__name__)

# File names of the Edge TPU runtime per platform (Coral's documentation).
EDGETPU_LIBRARIES = ("libedgetpu.so.1", "libedgetpu.1.dylib", "edgetpu.dll")
# Custom op the Edge TPU compiler puts in a compiled model.
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"
# A class-wise file whose score columns are not laid out for several threads (exported
# before the layout existed) runs on one (see `class_column_layout`).
SINGLE_THREAD = 1
# Value of the class of padded detection rows (as `DetectionDecoder`).
PADDED_CLASS = -1
BOX_SIZE = 4


def find_edgetpu_library() -> str | None:
    """The Edge TPU runtime library to load, or None when it is not installed."""
    for name in EDGETPU_LIBRARIES:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return name
    return None


class TFLiteDetector:
    """A `.tflite` exported by `export_tflite`, ready to run.

    Args:
        model_path: the `.tflite` file (`*_edgetpu.tflite` for a compiled Edge TPU model).
        num_threads: CPU threads of the interpreter. None: LiteRT's default for fast-NMS
            files; for class-wise files the most threads (up to the CPU count) on which
            LiteRT's class-wise kernel processes every class (see `class_column_layout`).
        use_edgetpu: None: load the Edge TPU delegate when `libedgetpu` is present;
            True: require it (raises if it cannot be loaded); False: CPU only. A model
            compiled by `edgetpu_compiler` always requires it.
        labels: the K class names; None: the file's metadata label map, else the labels
            file next to the model, else none.
        allow_regular_nms_threads: run a class-wise file on a thread count on which
            LiteRT's kernel would skip a class anyway; allow it only to time the file
            (`tflite/benchmark.py`), never for its detections.
        use_default_delegate: True: LiteRT's default delegate (XNNPACK, what Android
            applies); False: the builtin kernels only.

    Attributes:
        input_size: `(H, W)` of the static input.
        input_dtype: NumPy dtype of the input (uint8 for int8 models, else float32).
        max_detections: N, rows of the outputs.
        labels: the K class names (empty when unknown).
        layout: the `ClassColumnLayout` of the file's score columns; `predict` returns
            class ids, not columns.
        metadata: the file's `DetectorMetadata` (None without metadata).
        uses_edgetpu: the Edge TPU delegate is loaded.
        uses_regular_nms: the post-process op runs class-wise NMS.

    Raises:
        ValueError: a class-wise file on a thread count on which LiteRT's kernel skips
            one of its classes (see `allow_regular_nms_threads`), a file without the
            serving signature.
        FileNotFoundError: no file at `model_path`.
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        num_threads: int | None = None,
        use_edgetpu: bool | None = None,
        labels: Sequence[str] | None = None,
        allow_regular_nms_threads: bool = False,
        use_default_delegate: bool = True,
    ):
        self.model_path = os.fspath(model_path)
        if not os.path.isfile(self.model_path):
            raise FileNotFoundError(f"No .tflite file at {self.model_path}.")
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be >= 1; got {num_threads}.")
        with open(self.model_path, "rb") as file:
            content = file.read()  # parsed twice below, read once
        options = read_custom_options(content, POSTPROCESS_OP_NAME) or {}
        self.uses_regular_nms = bool(options.get("use_regular_nms", False))
        self.metadata = read_metadata(content)
        label_map = (
            list(self.metadata.labels)
            if self.metadata is not None
            else _read_labels(self.model_path)
        )
        num_columns = int(options.get("num_classes", len(label_map)))
        self.layout = (
            ClassColumnLayout.from_labels(label_map)
            if len(label_map) == num_columns
            else ClassColumnLayout.identity(num_columns)
        )
        if self.uses_regular_nms and not allow_regular_nms_threads:
            num_threads = self._class_wise_threads(num_threads)
        self.num_threads = num_threads
        compiled_for_edgetpu = EDGETPU_CUSTOM_OP in read_op_codes(content)
        delegates = self._edgetpu_delegates(True if compiled_for_edgetpu else use_edgetpu)
        self.uses_edgetpu = bool(delegates)
        self._interpreter = Interpreter(
            model_path=self.model_path,
            num_threads=num_threads,
            experimental_delegates=delegates or None,
            experimental_op_resolver_type=(
                OpResolverType.AUTO
                if use_default_delegate
                else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            ),
        )
        signatures = self._interpreter.get_signature_list()
        if SIGNATURE_KEY not in signatures:
            raise ValueError(
                f"{self.model_path} has no {SIGNATURE_KEY!r} signature (has "
                f"{sorted(signatures)}); export it with keras_retinanet.export.export_tflite."
            )
        self._runner = self._interpreter.get_signature_runner(SIGNATURE_KEY)
        input_details = self._runner.get_input_details()[INPUT_NAME]
        self._input_detail = input_details
        shape = [int(d) for d in input_details["shape"]]
        self.input_size = (shape[1], shape[2])
        self.input_dtype = np.dtype(input_details["dtype"])
        output_details = self._runner.get_output_details()
        self.max_detections = int(output_details[OUTPUT_SCORES]["shape"][1])
        self.labels = (
            list(labels)
            if labels is not None
            else [name for name in label_map if name != PLACEHOLDER_LABEL]
        )

    def _class_wise_threads(self, num_threads: int | None) -> int:
        """The thread count for a class-wise file; refuses one that would skip a class."""
        if num_threads is None:
            candidates = range(min(os.cpu_count() or 1, MAX_SAFE_THREADS), 0, -1)
            return next(t for t in candidates if self.layout.safe_on(t))
        if not self.layout.safe_on(num_threads):
            raise ValueError(
                f"{self.model_path} runs class-wise NMS, and on {num_threads} threads "
                f"LiteRT's class-wise kernel never processes score column {num_threads}, "
                f"which holds a class of this file (see "
                f"keras_retinanet.export.class_column_layout). Files exported now are "
                f"correct on 1-{MAX_SAFE_THREADS} threads; re-export this one, or run it with "
                f"num_threads={SINGLE_THREAD}."
            )
        return num_threads

    @staticmethod
    def _edgetpu_delegates(use_edgetpu: bool | None) -> list:
        if use_edgetpu is False:
            return []
        library = find_edgetpu_library()
        if library is None:
            if use_edgetpu:
                raise RuntimeError(
                    "The Edge TPU runtime (libedgetpu) is not installed; it is needed for "
                    "use_edgetpu=True and for models compiled by edgetpu_compiler (run the "
                    "uncompiled .tflite on the CPU instead)."
                )
            return []
        try:
            return [load_delegate(library)]
        except (OSError, ValueError) as error:
            if use_edgetpu:
                raise RuntimeError(f"Could not load the Edge TPU delegate: {error}") from error
            logger.warning("Edge TPU runtime found but not usable (%s); running on the CPU.", error)
            return []

    def predict(self, images) -> dict[str, np.ndarray]:
        """Detects objects; boxes in pixels of the network input, as `RetinaNet.predict`.

        Args:
            images: one image `[h, w, 3]` or a batch `[B, h, w, 3]` of RGB pixels in 0..255
                (uint8 or float). Images not of the input size are letterboxed to it
                (`keras_retinanet.export.letterbox`); the boxes then refer to the
                letterboxed image. Batches run image by image (the model has batch 1).

        Returns:
            `{"boxes": float32 [B, N, 4] yxyx pixels of the network input, clipped to it,
              "scores": float32 [B, N], "classes": int32 [B, N] (-1 padding),
              "num_detections": int32 [B]}`; rows past `num_detections` are zero with
            class -1.
        """
        batch = _as_batch(images)
        results = [self._run(letterbox(image, self.input_size).image) for image in batch]
        return {key: np.stack([r[key] for r in results]) for key in results[0]}

    def detect(self, image) -> dict[str, np.ndarray]:
        """Detects objects in one image of any size; boxes in its own pixels.

        Args:
            image: `[h, w, 3]` RGB pixels in 0..255.

        Returns:
            The dict of `predict` for a batch of one, with boxes `[1, N, 4]` yxyx in pixels
            of `image` (letterbox undone and clipped to the image).
        """
        pixels = np.asarray(image)
        if pixels.ndim != 3:
            raise ValueError(f"detect takes one image [h, w, 3]; got shape {pixels.shape}.")
        boxed = letterbox(pixels, self.input_size)
        detections = {k: v[np.newaxis] for k, v in self._run(boxed.image).items()}
        boxes = np.asarray(
            rescale_detections(
                detections["boxes"], boxed.scale[np.newaxis], boxed.original_size[np.newaxis]
            )
        )
        valid = detections["classes"] != PADDED_CLASS
        detections["boxes"] = np.where(valid[..., np.newaxis], boxes, 0.0).astype(np.float32)
        return detections

    def _run(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Runs one letterboxed float `[H, W, 3]` image; returns per-image arrays."""
        outputs = self._runner(**{INPUT_NAME: self._to_input(image)[np.newaxis]})
        count = round(float(np.asarray(outputs[OUTPUT_NUM_DETECTIONS]).reshape(-1)[0]))
        count = min(max(count, 0), self.max_detections)
        valid = np.arange(self.max_detections) < count
        height, width = self.input_size
        scale = np.asarray([height, width, height, width], np.float32)
        # Rows past num_detections are uninitialised with fast NMS (may hold NaN or values
        # that overflow when scaled): zero them before scaling.
        raw_boxes = np.asarray(outputs[OUTPUT_BOXES], np.float32)[0].reshape(-1, BOX_SIZE)
        boxes = np.clip(np.where(valid[:, np.newaxis], raw_boxes, 0.0) * scale, 0.0, scale)
        scores = np.asarray(outputs[OUTPUT_SCORES], np.float32)[0]
        raw_classes = np.nan_to_num(
            np.asarray(outputs[OUTPUT_CLASSES], np.float32)[0], nan=PADDED_CLASS
        )
        classes = np.rint(np.clip(raw_classes, PADDED_CLASS, np.iinfo(np.int32).max // 2))
        classes = self.layout.to_classes(classes.astype(np.int32))
        return {
            "boxes": np.where(valid[:, np.newaxis], boxes, 0.0).astype(np.float32),
            "scores": np.where(valid, scores, 0.0).astype(np.float32),
            "classes": np.where(valid, classes, PADDED_CLASS).astype(np.int32),
            "num_detections": np.int32(count),
        }

    def _to_input(self, image: np.ndarray) -> np.ndarray:
        """float 0..255 pixels -> the input dtype (quantized with the input's parameters)."""
        if not np.issubdtype(self.input_dtype, np.integer):
            return image.astype(self.input_dtype)
        scale, zero_point = self._input_detail["quantization"]
        if not scale:
            scale, zero_point = 1.0, 0
        info = np.iinfo(self.input_dtype)
        quantized = np.rint(image / scale + zero_point)
        return np.clip(quantized, info.min, info.max).astype(self.input_dtype)


def _as_batch(images) -> np.ndarray:
    pixels = np.asarray(images)
    if pixels.ndim == 3:
        return pixels[np.newaxis]
    if pixels.ndim != 4:
        raise ValueError(f"Expected [h, w, 3] or [B, h, w, 3] images; got shape {pixels.shape}.")
    return pixels


def _read_labels(model_path: str) -> list[str]:
    path = labels_path_for(model_path)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as file:
        return [line.rstrip("\n") for line in file if line.strip()]
