"""Runs one exported `.tflite` through every runtime a user deploys it with, and compares.

`check_conformance(path, images)` runs the file on the same letterboxed images through:

* LiteRT (`ai-edge-litert`) with its default delegate (XNNPACK, what Android applies) and
  with the builtin kernels only, on each of `DEFAULT_THREAD_COUNTS` threads: the file
  must load everywhere and give the same detections on every thread count;
* MediaPipe Tasks' `ObjectDetector` (the detector API of Android / iOS / web apps), when
  `mediapipe` is installed: it must load the file (which needs its metadata) and return
  the same detections by label name (origin and size within `MEDIAPIPE_BOX_TOLERANCE_PX`:
  MediaPipe reports whole pixels; scores within `MEDIAPIPE_SCORE_TOLERANCE` for float
  files; int8 files run other int8 kernels there, so within `INT8_KERNEL_SCORE_TOLERANCE`);
* optionally the Keras model it came from, decoded with the file's NMS flavour: per-class
  recall of the Keras detections, so a class the file loses is named.

The reference run is LiteRT with XNNPACK on one thread (correct for every NMS flavour).
Detections are compared one to one above `min_score`: same count, same classes, boxes and
scores within tolerances. Used by `tflite/check.py` and `tests/test_conformance.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from keras_retinanet.export.letterbox import letterbox
from keras_retinanet.export.tflite_model_runner import PADDED_CLASS, TFLiteDetector
from keras_retinanet.ops.iou import pairwise_iou

DEFAULT_THREAD_COUNTS = (1, 2, 3, 4, 6, 8)
# Detections compared one to one: those scoring at least this in the reference.
DEFAULT_MIN_SCORE = 0.1
# LiteRT runs of one file: boxes in pixels of the input, scores.
BOX_TOLERANCE_PX = 0.05
SCORE_TOLERANCE = 1e-4
# Different int8 kernels (XNNPACK, LiteRT's builtin ones, MediaPipe's runtime) round
# differently: a few quantization steps of a logit apart (seen up to 0.016 in score).
INT8_KERNEL_BOX_TOLERANCE_PX = 1.0
INT8_KERNEL_SCORE_TOLERANCE = 0.03
# MediaPipe reports boxes as whole-pixel origin and size.
MEDIAPIPE_BOX_TOLERANCE_PX = 1.0
MEDIAPIPE_SCORE_TOLERANCE = 1e-3
# Per-class recall against the Keras model: a file detection of the same class at IoU >=.
RECALL_IOU = 0.5
REFERENCE_RUN = "litert-xnnpack-1"


@dataclasses.dataclass(frozen=True)
class RuntimeRun:
    """One runtime's run of the file.

    Attributes:
        name: "litert-xnnpack-T", "litert-builtin-T" or "mediapipe".
        loaded: the runtime loaded the file.
        error: why it did not load or run (None when it did).
        mismatches: differences from the reference run, one line each.
    """

    name: str
    loaded: bool
    error: str | None = None
    mismatches: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.loaded and not self.mismatches


@dataclasses.dataclass(frozen=True)
class ConformanceReport:
    """What `check_conformance` found.

    Attributes:
        path: the `.tflite`.
        uses_regular_nms: the file runs class-wise NMS.
        labels: the file's class names.
        runs: every runtime run, the reference first.
        skipped: runtimes not run, with the reason.
        per_class_recall: `{class name: recall of the Keras detections}` (None without a
            Keras model); `nan` for a class the Keras model never detected.
    """

    path: str
    uses_regular_nms: bool
    labels: tuple[str, ...]
    runs: tuple[RuntimeRun, ...]
    skipped: tuple[str, ...] = ()
    per_class_recall: dict[str, float] | None = None

    @property
    def ok(self) -> bool:
        """Every runtime loaded the file and agreed with the reference."""
        return all(run.ok for run in self.runs)

    def missing_classes(self, min_recall: float = 0.5) -> list[str]:
        """Classes the Keras model detects but the file recalls below `min_recall`."""
        recall = self.per_class_recall or {}
        return [name for name, value in recall.items() if value == value and value < min_recall]

    def summary(self) -> str:
        nms = "class-wise" if self.uses_regular_nms else "fast (class-agnostic)"
        lines = [f"{self.path}: {nms} NMS, {len(self.labels)} classes"]
        for run in self.runs:
            state = "ok" if run.ok else ("FAILED TO LOAD" if not run.loaded else "MISMATCH")
            lines.append(f"  {run.name}: {state}")
            if run.error:
                lines.append(f"    {run.error}")
            lines.extend(f"    {m}" for m in run.mismatches[:5])
        lines.extend(f"  skipped {reason}" for reason in self.skipped)
        if self.per_class_recall is not None:
            recall = ", ".join(f"{k} {v:.2f}" for k, v in self.per_class_recall.items())
            lines.append(f"  per-class recall of the Keras detections: {recall}")
        return "\n".join(lines)


def check_conformance(
    model_path: str,
    images: Sequence[np.ndarray],
    thread_counts: Sequence[int] = DEFAULT_THREAD_COUNTS,
    keras_model=None,
    use_mediapipe: bool | None = None,
    min_score: float = DEFAULT_MIN_SCORE,
) -> ConformanceReport:
    """Runs `model_path` through LiteRT (both resolvers, several threads) and MediaPipe.

    Args:
        model_path: a `.tflite` written by `export_tflite`.
        images: RGB images `[h, w, 3]` (uint8 or 0..255 float); each is letterboxed to the
            file's input size first, so every runtime sees the same pixels.
        thread_counts: LiteRT thread counts to run.
        keras_model: the `RetinaNet` the file was exported from, for per-class recall.
        use_mediapipe: None: when `mediapipe` imports; True: required (ImportError
            otherwise); False: not run.
        min_score: detections compared one to one score at least this in the reference.

    Returns:
        A `ConformanceReport`.
    """
    reference_detector = TFLiteDetector(model_path, num_threads=1)
    size = reference_detector.input_size
    pixels = [np.clip(np.rint(letterbox(image, size).image), 0, 255) for image in images]
    reference = _run_litert(model_path, pixels, 1, True)
    int8 = np.issubdtype(reference_detector.input_dtype, np.integer)
    runs = [RuntimeRun(REFERENCE_RUN, loaded=True)]
    for default_delegate in (True, False):
        kind = "xnnpack" if default_delegate else "builtin"
        for threads in thread_counts:
            name = f"litert-{kind}-{threads}"
            if name == REFERENCE_RUN:
                continue
            try:
                detections = _run_litert(model_path, pixels, threads, default_delegate)
            except (RuntimeError, ValueError) as error:
                runs.append(RuntimeRun(name, loaded=False, error=str(error)))
                continue
            loose = int8 and not default_delegate
            mismatches = _compare(
                reference,
                detections,
                min_score,
                INT8_KERNEL_BOX_TOLERANCE_PX if loose else BOX_TOLERANCE_PX,
                INT8_KERNEL_SCORE_TOLERANCE if loose else SCORE_TOLERANCE,
            )
            runs.append(RuntimeRun(name, loaded=True, mismatches=tuple(mismatches)))

    skipped = []
    if use_mediapipe is not False:
        try:
            import mediapipe  # noqa: F401
        except ImportError:
            if use_mediapipe:
                raise
            skipped.append("mediapipe: not installed (pip install mediapipe)")
        else:
            score_tolerance = INT8_KERNEL_SCORE_TOLERANCE if int8 else MEDIAPIPE_SCORE_TOLERANCE
            runs.append(
                _mediapipe_run(
                    model_path,
                    pixels,
                    reference,
                    reference_detector.labels,
                    min_score,
                    score_tolerance,
                )
            )

    recall = None
    if keras_model is not None:
        recall = _per_class_recall(keras_model, pixels, reference, reference_detector, min_score)
    return ConformanceReport(
        path=str(model_path),
        uses_regular_nms=reference_detector.uses_regular_nms,
        labels=tuple(reference_detector.labels),
        runs=tuple(runs),
        skipped=tuple(skipped),
        per_class_recall=recall,
    )


def _run_litert(path: str, pixels, threads: int, default_delegate: bool) -> list[dict]:
    detector = TFLiteDetector(
        path,
        num_threads=threads,
        use_edgetpu=False,
        allow_regular_nms_threads=True,
        use_default_delegate=default_delegate,
    )
    return [_valid(detector.predict(image)) for image in pixels]


def _valid(detections: dict) -> dict:
    """One image's detections without padding rows: boxes `[n, 4]`, scores, classes."""
    count = int(np.asarray(detections["num_detections"]).reshape(-1)[0])
    return {
        "boxes": np.asarray(detections["boxes"]).reshape(-1, 4)[:count],
        "scores": np.asarray(detections["scores"]).reshape(-1)[:count],
        "classes": np.asarray(detections["classes"]).reshape(-1)[:count],
    }


def _compare(
    reference: list[dict],
    candidate: list[dict],
    min_score: float,
    box_tolerance: float,
    score_tolerance: float,
) -> list[str]:
    """Differences between two runs' detections scoring >= min_score, per image."""
    mismatches = []
    for index, (expected, actual) in enumerate(zip(reference, candidate)):
        keep = expected["scores"] >= min_score
        # A detection at the edge of min_score may fall either side in the candidate.
        edge = np.sum(np.abs(actual["scores"] - min_score) <= score_tolerance)
        actual_count = int(np.sum(actual["scores"] >= min_score))
        if abs(actual_count - int(keep.sum())) > edge:
            mismatches.append(
                f"image {index}: {actual_count} detections >= {min_score} vs {int(keep.sum())}"
            )
            continue
        for row in np.flatnonzero(keep):
            same_class = np.flatnonzero(actual["classes"] == expected["classes"][row])
            if same_class.size == 0:
                mismatches.append(
                    f"image {index}: no detection of class {int(expected['classes'][row])}"
                )
                continue
            distance = np.max(np.abs(actual["boxes"][same_class] - expected["boxes"][row]), -1)
            best = same_class[int(np.argmin(distance))]
            if distance.min() > box_tolerance or (
                abs(float(actual["scores"][best] - expected["scores"][row])) > score_tolerance
            ):
                mismatches.append(
                    f"image {index}: class {int(expected['classes'][row])} box "
                    f"{np.round(expected['boxes'][row], 2).tolist()} score "
                    f"{expected['scores'][row]:.4f} -> box "
                    f"{np.round(actual['boxes'][best], 2).tolist()} score "
                    f"{actual['scores'][best]:.4f}"
                )
    return mismatches


def _mediapipe_run(
    path: str, pixels, reference, labels, min_score: float, score_tolerance: float
) -> RuntimeRun:
    """MediaPipe Tasks' ObjectDetector on the letterboxed images (no resize on its side)."""
    import mediapipe as mp
    from mediapipe.tasks import python as mp_tasks
    from mediapipe.tasks.python import vision

    options = vision.ObjectDetectorOptions(base_options=mp_tasks.BaseOptions(model_asset_path=path))
    try:
        detector = vision.ObjectDetector.create_from_options(options)
    except (RuntimeError, ValueError) as error:
        return RuntimeRun("mediapipe", loaded=False, error=str(error))
    names = {name: index for index, name in enumerate(labels)}
    results = []
    with detector:
        for image in pixels:
            frame = mp.Image(
                image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image, np.uint8)
            )
            boxes, scores, classes = [], [], []
            # MediaPipe merges rows with the same box (class-wise NMS keeps one per class)
            # into one detection with several categories: one row per category here.
            for detection in detector.detect(frame).detections:
                box = detection.bounding_box
                for category in detection.categories:
                    boxes.append([box.origin_y, box.origin_x, box.height, box.width])
                    scores.append(category.score)
                    classes.append(names.get(category.category_name, PADDED_CLASS))
            results.append(
                {
                    "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
                    "scores": np.asarray(scores, np.float32),
                    "classes": np.asarray(classes, np.int32),
                }
            )
    # MediaPipe reports whole-pixel origins and sizes (each truncated): compare those.
    reference = [{**r, "boxes": _origin_size(r["boxes"])} for r in reference]
    mismatches = _compare(
        reference, results, min_score, MEDIAPIPE_BOX_TOLERANCE_PX, score_tolerance
    )
    return RuntimeRun("mediapipe", loaded=True, mismatches=tuple(mismatches))


def _origin_size(boxes_yxyx: np.ndarray) -> np.ndarray:
    """`[n, 4]` (ymin, xmin, ymax, xmax) -> (ymin, xmin, height, width)."""
    return np.concatenate([boxes_yxyx[:, :2], boxes_yxyx[:, 2:] - boxes_yxyx[:, :2]], axis=-1)


def _per_class_recall(keras_model, pixels, reference, detector, min_score) -> dict[str, float]:
    """Recall of the Keras detections (same NMS flavour) by the file, per class."""
    from keras_retinanet.export.detector_evaluation import keras_letterbox_detector

    detect = keras_letterbox_detector(
        keras_model, detector.input_size, class_wise_nms=detector.uses_regular_nms
    )
    found = np.zeros(len(detector.labels))
    total = np.zeros(len(detector.labels))
    for image, lite in zip(pixels, reference):
        expected = _valid(detect(image))
        for box, score, class_id in zip(expected["boxes"], expected["scores"], expected["classes"]):
            if score < min_score or class_id < 0:
                continue
            total[class_id] += 1
            same = lite["classes"] == class_id
            if same.any():
                overlap = np.asarray(pairwise_iou(box[np.newaxis], lite["boxes"][same]))
                found[class_id] += float(overlap.max() >= RECALL_IOU)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = found / total
    return {name: float(value) for name, value in zip(detector.labels, recall)}
