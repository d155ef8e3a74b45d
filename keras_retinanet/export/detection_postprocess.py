"""The `TFLite_Detection_PostProcess` composite: box decoding + NMS fused into one LiteRT op.

`DetectionPostProcess` wraps a `tf.function` whose `experimental_implements` attribute
names LiteRT's `TFLite_Detection_PostProcess` kernel and carries its attributes. When a
graph holding it is converted with `tf.lite.TFLiteConverter`, the converter replaces the
whole function by that one custom op (LiteRT's built-in op resolver has the kernel, so no
custom-op registration is needed at run time). The TensorFlow body of the function is a
faithful reference of the kernel (same decoding, same NMS flavours), so the exported
SavedModel also runs in TensorFlow and the two can be compared.

The kernel's contract (LiteRT `detection_postprocess.cc`):

* inputs: box encodings `[1, A, 4]` `(ty, tx, th, tw)`; class scores `[1, A, K]` already
  through a sigmoid (with `K + 1` columns the first is treated as background; we feed
  exactly K); anchors `[A, 4]` as `(yc, xc, h, w)` normalised to the input size.
* decoding: `yc = ty / y_scale * ha + ya`, `xc = tx / x_scale * wa + xa`,
  `h = exp(th / h_scale) * ha`, `w = exp(tw / w_scale) * wa`; boxes are not clipped.
* outputs (float32): boxes `[1, N, 4]` normalised `(ymin, xmin, ymax, xmax)`, classes
  `[1, N]` (0-based), scores `[1, N]`, num_detections `[1]`, `N = max_detections *
  max_classes_per_detection`.

NMS flavours:

* `use_regular_nms=True` (default, like the Keras `DetectionDecoder`): NMS per class,
  at most `detections_per_class` boxes per class, then the `max_detections` best over
  all classes. Slower: its cost grows with K.
* `use_regular_nms=False` ("fast NMS"): each anchor keeps only its best class
  (`max_classes_per_detection=1`) and one class-agnostic NMS runs over the anchors, so a
  box can suppress an overlapping box of another class. Much faster with many classes;
  what mobile SSD exports use.

LiteRT's regular-NMS kernel skips one class when the interpreter runs on several threads;
`export_tflite` lays the score columns out so that it skips none (`class_column_layout`,
where the kernel bug is explained).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from keras_retinanet.ops.box_coder import BoxCoder
from keras_retinanet.ops.detection_decoder import (
    DEFAULT_MAX_DETECTIONS,
    DEFAULT_NMS_IOU_THRESHOLD,
    DEFAULT_SCORE_THRESHOLD,
    DetectionDecoder,
)

# Name LiteRT's op resolver registers the kernel under (a custom op in the flatbuffer).
POSTPROCESS_OP_NAME = "TFLite_Detection_PostProcess"
# Only one class per box is supported by the reference body (and what detectors use).
DEFAULT_MAX_CLASSES_PER_DETECTION = 1
# Number of values per box / anchor.
BOX_SIZE = 4

# Keys of the op's outputs, in the kernel's output order.
BOXES = "boxes"
CLASSES = "classes"
SCORES = "scores"
NUM_DETECTIONS = "num_detections"
OUTPUT_ORDER = (BOXES, CLASSES, SCORES, NUM_DETECTIONS)


class DetectionPostProcess:
    """Decodes box encodings and runs NMS as LiteRT's `TFLite_Detection_PostProcess`.

    Call args:
        box_encodings: float32 `[1, A, 4]` deltas `(ty, tx, th, tw)`.
        class_scores: float32 `[1, A, K]` per-class probabilities (sigmoid of the logits).
        anchors: float32 `[A, 4]` anchors `(yc, xc, h, w)` normalised by the input height
            (y, h) and width (x, w); see `anchors_to_center_size`.

    Returns:
        `{"boxes": float32 [1, N, 4] normalised (ymin, xmin, ymax, xmax),
          "classes": float32 [1, N] 0-based class index,
          "scores": float32 [1, N],
          "num_detections": float32 [1]}` with `N = max_detections *
        max_classes_per_detection`. Rows past `num_detections` are zeros in the TF
        reference; the LiteRT kernel leaves them unspecified (mask them).

    Args:
        num_classes: K, the number of classes (no background column).
        max_detections: N, most detections returned.
        max_classes_per_detection: classes reported per box in fast NMS; must be 1.
        detections_per_class: regular NMS only: boxes kept per class before merging.
        use_regular_nms: class-wise NMS (True) or the fast class-agnostic one (False).
        nms_score_threshold: a detection needs a score >= this.
        nms_iou_threshold: IoU above which a lower-scoring box is suppressed.
        y_scale: box-coder scale of ty (the model's `BoxCoder.scale_factors[0]`).
        x_scale: scale of tx.
        h_scale: scale of th.
        w_scale: scale of tw.
    """

    def __init__(
        self,
        num_classes: int,
        max_detections: int = DEFAULT_MAX_DETECTIONS,
        max_classes_per_detection: int = DEFAULT_MAX_CLASSES_PER_DETECTION,
        detections_per_class: int = DEFAULT_MAX_DETECTIONS,
        use_regular_nms: bool = True,
        nms_score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        nms_iou_threshold: float = DEFAULT_NMS_IOU_THRESHOLD,
        y_scale: float = 10.0,
        x_scale: float = 10.0,
        h_scale: float = 5.0,
        w_scale: float = 5.0,
    ):
        for name, value in (
            ("num_classes", num_classes),
            ("max_detections", max_detections),
            ("detections_per_class", detections_per_class),
        ):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1; got {value!r}.")
        if max_classes_per_detection != DEFAULT_MAX_CLASSES_PER_DETECTION:
            raise ValueError(
                "Only `max_classes_per_detection=1` is supported (one class per box, as "
                f"the Keras decoder and Android detectors expect); got {max_classes_per_detection}."
            )
        if not 0.0 <= nms_score_threshold < 1.0 or not 0.0 < nms_iou_threshold <= 1.0:
            raise ValueError(
                "Need 0 <= nms_score_threshold < 1 and 0 < nms_iou_threshold <= 1; got "
                f"{nms_score_threshold} and {nms_iou_threshold}."
            )
        scales = (y_scale, x_scale, h_scale, w_scale)
        if any(not math.isfinite(s) or s <= 0 for s in scales):
            raise ValueError(f"Box scales must be positive and finite; got {scales}.")
        self.num_classes = int(num_classes)
        self.max_detections = int(max_detections)
        self.max_classes_per_detection = int(max_classes_per_detection)
        self.detections_per_class = int(detections_per_class)
        self.use_regular_nms = bool(use_regular_nms)
        self.nms_score_threshold = float(nms_score_threshold)
        self.nms_iou_threshold = float(nms_iou_threshold)
        self.y_scale, self.x_scale, self.h_scale, self.w_scale = (float(s) for s in scales)
        self._function = tf.function(
            self._reference, experimental_implements=self.implements_signature()
        )

    @classmethod
    def from_model(
        cls,
        num_classes: int,
        box_coder: BoxCoder,
        detection_decoder: DetectionDecoder,
        use_regular_nms: bool | None = None,
        max_detections: int | None = None,
        nms_score_threshold: float | None = None,
        nms_iou_threshold: float | None = None,
        detections_per_class: int | None = None,
    ) -> DetectionPostProcess:
        """The op that reproduces a model's `DetectionDecoder` with its `BoxCoder`.

        Args:
            num_classes: K of the model.
            box_coder: the model's `BoxCoder` (gives y/x/h/w_scale).
            detection_decoder: the model's `DetectionDecoder` (gives the defaults of the
                thresholds, `max_detections` and the NMS flavour).
            use_regular_nms: None: the decoder's `class_wise_nms`.
            max_detections: None: the decoder's.
            nms_score_threshold: None: the decoder's `score_threshold`.
            nms_iou_threshold: None: the decoder's.
            detections_per_class: None: `max_detections` (the Keras decoder has no
                per-class cap).

        Returns:
            A `DetectionPostProcess`.
        """
        max_detections = (
            detection_decoder.max_detections if max_detections is None else max_detections
        )
        y_scale, x_scale, h_scale, w_scale = box_coder.scale_factors
        return cls(
            num_classes=num_classes,
            max_detections=max_detections,
            detections_per_class=(
                max_detections if detections_per_class is None else detections_per_class
            ),
            use_regular_nms=(
                detection_decoder.class_wise_nms if use_regular_nms is None else use_regular_nms
            ),
            nms_score_threshold=(
                detection_decoder.score_threshold
                if nms_score_threshold is None
                else nms_score_threshold
            ),
            nms_iou_threshold=(
                detection_decoder.nms_iou_threshold
                if nms_iou_threshold is None
                else nms_iou_threshold
            ),
            y_scale=y_scale,
            x_scale=x_scale,
            h_scale=h_scale,
            w_scale=w_scale,
        )

    @property
    def num_outputs(self) -> int:
        """N, rows of each output: `max_detections * max_classes_per_detection`."""
        return self.max_detections * self.max_classes_per_detection

    def kernel_options(self) -> dict:
        """The op's attributes as the kernel reads them from its flexbuffer options.

        The constructor arguments are named after the kernel's attributes, so these are
        `get_config()`. The converter writes the options from `implements_signature` but
        drops `detections_per_class` (LiteRT then uses 100); the exporter rewrites the
        options with this dict, so the kernel runs what was asked.
        """
        return self.get_config()

    def implements_signature(self) -> str:
        """The `experimental_implements` string: the op name and its attributes.

        Returns:
            A text `NameAttrList`, e.g. `name: "TFLite_Detection_PostProcess" attr { key:
            "max_detections" value { i: 100 } } ...`, which the converter turns into the
            custom op's attributes.
        """
        parts = [f'name: "{POSTPROCESS_OP_NAME}"']
        for key, value in self.kernel_options().items():
            if isinstance(value, bool):
                kind, text = "b", "true" if value else "false"
            elif isinstance(value, int):
                kind, text = "i", str(value)
            else:
                kind, text = "f", repr(value)
            parts.append(f'attr {{ key: "{key}" value {{ {kind}: {text} }} }}')
        return " ".join(parts)

    def get_config(self) -> dict:
        """Every constructor argument."""
        return {
            "num_classes": self.num_classes,
            "max_detections": self.max_detections,
            "max_classes_per_detection": self.max_classes_per_detection,
            "detections_per_class": self.detections_per_class,
            "use_regular_nms": self.use_regular_nms,
            "nms_score_threshold": self.nms_score_threshold,
            "nms_iou_threshold": self.nms_iou_threshold,
            "y_scale": self.y_scale,
            "x_scale": self.x_scale,
            "h_scale": self.h_scale,
            "w_scale": self.w_scale,
        }

    @classmethod
    def from_config(cls, config: dict) -> DetectionPostProcess:
        return cls(**config)

    def __call__(
        self, box_encodings: tf.Tensor, class_scores: tf.Tensor, anchors: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        box_encodings = tf.convert_to_tensor(box_encodings, tf.float32)
        class_scores = tf.convert_to_tensor(class_scores, tf.float32)
        anchors = tf.convert_to_tensor(anchors, tf.float32)
        if class_scores.shape.rank != 3 or box_encodings.shape.rank != 3:
            raise ValueError(
                "Expected box_encodings [1, A, 4] and class_scores [1, A, K]; got "
                f"{box_encodings.shape} and {class_scores.shape}."
            )
        if class_scores.shape[-1] is not None and class_scores.shape[-1] != self.num_classes:
            raise ValueError(
                f"class_scores has {class_scores.shape[-1]} classes; the op was built for "
                f"num_classes={self.num_classes}."
            )
        outputs = self._function(box_encodings, class_scores, anchors)
        return dict(zip(OUTPUT_ORDER, outputs))

    # ------------------------------------------------------------------ reference body

    def _reference(self, box_encodings, class_scores, anchors):
        """TensorFlow version of the kernel (replaced by the op in a converted model)."""
        boxes = decode_center_size(
            box_encodings[0], anchors, (self.y_scale, self.x_scale, self.h_scale, self.w_scale)
        )  # [A, 4] yxyx normalised
        scores = class_scores[0]  # [A, K]
        # The kernel keeps scores >= threshold; TF's NMS keeps scores > threshold.
        threshold = _next_below(self.nms_score_threshold)
        if self.use_regular_nms:
            result = tf.image.combined_non_max_suppression(
                boxes[tf.newaxis, :, tf.newaxis, :],
                scores[tf.newaxis],
                max_output_size_per_class=self.detections_per_class,
                max_total_size=self.max_detections,
                iou_threshold=self.nms_iou_threshold,
                score_threshold=threshold,
                pad_per_class=False,
                clip_boxes=False,
            )
            out_boxes, out_scores, out_classes, count = (
                result.nmsed_boxes,
                result.nmsed_scores,
                result.nmsed_classes,
                result.valid_detections,
            )
        else:
            best_scores = tf.reduce_max(scores, axis=-1)
            best_classes = tf.cast(tf.argmax(scores, axis=-1), tf.float32)
            selected, count = tf.image.non_max_suppression_padded(
                boxes,
                best_scores,
                max_output_size=self.max_detections,
                iou_threshold=self.nms_iou_threshold,
                score_threshold=threshold,
                pad_to_max_output_size=True,
            )
            valid = tf.range(self.max_detections) < count
            out_boxes = tf.where(valid[:, tf.newaxis], tf.gather(boxes, selected), 0.0)[tf.newaxis]
            out_scores = tf.where(valid, tf.gather(best_scores, selected), 0.0)[tf.newaxis]
            out_classes = tf.where(valid, tf.gather(best_classes, selected), 0.0)[tf.newaxis]
            count = count[tf.newaxis]
        return (
            tf.reshape(out_boxes, [1, self.num_outputs, BOX_SIZE]),
            tf.reshape(out_classes, [1, self.num_outputs]),
            tf.reshape(out_scores, [1, self.num_outputs]),
            tf.reshape(tf.cast(count, tf.float32), [1]),
        )


def anchors_to_center_size(anchors_yxyx: tf.Tensor, image_size: tuple[int, int]) -> tf.Tensor:
    """Converts pixel anchors to the op's normalised `(yc, xc, h, w)`.

    Args:
        anchors_yxyx: float `[A, 4]` anchors `(ymin, xmin, ymax, xmax)` in pixels of the
            network input (`model.anchor_generator(H, W)`).
        image_size: `(H, W)` of the network input.

    Returns:
        float32 `[A, 4]` `(yc / H, xc / W, h / H, w / W)`.
    """
    height, width = (float(s) for s in image_size)
    ymin, xmin, ymax, xmax = tf.unstack(tf.cast(anchors_yxyx, tf.float32), axis=-1)
    return tf.stack(
        [
            (ymin + ymax) / 2.0 / height,
            (xmin + xmax) / 2.0 / width,
            (ymax - ymin) / height,
            (xmax - xmin) / width,
        ],
        axis=-1,
    )


def decode_center_size(
    box_encodings: tf.Tensor, anchors_center_size: tf.Tensor, scales: tuple[float, ...]
) -> tf.Tensor:
    """The kernel's decoding (no clipping of the size deltas, no clipping of the boxes).

    Args:
        box_encodings: float `[..., A, 4]` `(ty, tx, th, tw)`.
        anchors_center_size: float `[A, 4]` `(yc, xc, h, w)`.
        scales: `(y_scale, x_scale, h_scale, w_scale)`.

    Returns:
        float32 `[..., A, 4]` boxes `(ymin, xmin, ymax, xmax)` in the anchors' unit.
    """
    y_scale, x_scale, h_scale, w_scale = scales
    ty, tx, th, tw = tf.unstack(tf.cast(box_encodings, tf.float32), axis=-1)
    ya, xa, ha, wa = tf.unstack(tf.cast(anchors_center_size, tf.float32), axis=-1)
    yc = ty / y_scale * ha + ya
    xc = tx / x_scale * wa + xa
    half_h = tf.exp(th / h_scale) * ha / 2.0
    half_w = tf.exp(tw / w_scale) * wa / 2.0
    return tf.stack([yc - half_h, xc - half_w, yc + half_h, xc + half_w], axis=-1)


def _next_below(value: float) -> float:
    """The largest float32 below `value` (turns `>` into `>=` for float32 scores)."""
    return float(np.nextafter(np.float32(value), np.float32(-np.inf)))
