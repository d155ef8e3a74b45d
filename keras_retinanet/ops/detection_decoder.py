"""Turns head outputs into final detections: per-level top-k, decoding, class-wise NMS."""

from collections.abc import Sequence

import keras
import tensorflow as tf

from keras_retinanet.ops.box_coder import BoxCoder

DEFAULT_PRE_NMS_TOP_K = 1000
DEFAULT_SCORE_THRESHOLD = 0.05
DEFAULT_NMS_IOU_THRESHOLD = 0.5
DEFAULT_MAX_DETECTIONS = 100
# Class-wise NMS runs as one NMS over boxes shifted by `class * _CLASS_OFFSET` in
# coordinates normalised to [0, 1]: boxes of different classes can then never overlap.
_CLASS_OFFSET = 2.0
# Value of the padded rows of the outputs.
PADDED_CLASS = -1


@keras.saving.register_keras_serializable(package="keras_retinanet")
class DetectionDecoder:
    """RetinaNet inference post-processing (the paper's, as in Detectron).

    1. On each pyramid level, keep the `pre_nms_top_k` highest-scoring (anchor, class)
       pairs, then drop those with a score <= `score_threshold`. The top-k runs on the
       logits (sigmoid is monotonic), so only kept pairs pay for sigmoid and decoding.
    2. Decode the kept boxes with the model's `BoxCoder`.
    3. Merge the levels and run non-maximum suppression at `nms_iou_threshold`,
       separately per class (`class_wise_nms=True`, the paper's) or across classes,
       keeping at most `max_detections` per image, sorted by score.
    4. Clip the kept boxes to the image.

    NMS runs on the unclipped boxes, as in LiteRT's `TFLite_Detection_PostProcess`,
    so an exported model suppresses exactly the same boxes (with at most
    `pre_nms_top_k` candidates per level, a limit the LiteRT op does not have).

    The NMS is LiteRT's/TensorFlow's greedy kernel on at most
    `num_levels * pre_nms_top_k` candidates per image, which is cheap whether many or
    few boxes pass the score threshold.

    Args:
        pre_nms_top_k: candidates kept per level before NMS.
        score_threshold: a detection needs a score > this.
        nms_iou_threshold: IoU above which a lower-scoring box is suppressed.
        max_detections: detections per image after NMS.
        class_wise_nms: NMS per class (True) or over all classes (False).
    """

    def __init__(
        self,
        pre_nms_top_k: int = DEFAULT_PRE_NMS_TOP_K,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        nms_iou_threshold: float = DEFAULT_NMS_IOU_THRESHOLD,
        max_detections: int = DEFAULT_MAX_DETECTIONS,
        class_wise_nms: bool = True,
    ):
        if int(pre_nms_top_k) < 1 or int(max_detections) < 1:
            raise ValueError(
                "`pre_nms_top_k` and `max_detections` must be >= 1; got "
                f"{pre_nms_top_k} and {max_detections}."
            )
        if not 0.0 <= score_threshold < 1.0 or not 0.0 < nms_iou_threshold <= 1.0:
            raise ValueError(
                "Need 0 <= score_threshold < 1 and 0 < nms_iou_threshold <= 1; got "
                f"{score_threshold} and {nms_iou_threshold}."
            )
        self.pre_nms_top_k = int(pre_nms_top_k)
        self.score_threshold = float(score_threshold)
        self.nms_iou_threshold = float(nms_iou_threshold)
        self.max_detections = int(max_detections)
        self.class_wise_nms = bool(class_wise_nms)

    def __call__(
        self,
        class_logits: tf.Tensor,
        box_deltas: tf.Tensor,
        anchors_yxyx: tf.Tensor,
        level_sizes: Sequence,
        image_size: tuple,
        box_coder: BoxCoder,
    ) -> dict[str, tf.Tensor]:
        """Decodes a batch.

        Args:
            class_logits: float `[B, A, K]` classification logits.
            box_deltas: float `[B, A, 4]` box deltas (ty, tx, th, tw).
            anchors_yxyx: float `[A, 4]` anchors, `yxyx` pixels of the network input.
            level_sizes: number of anchors of each level (they sum to A), in order.
            image_size: `(height, width)` of the network input (ints or scalar tensors).
            box_coder: the `BoxCoder` the deltas were trained with.

        Returns:
            `{"boxes": float32 [B, D, 4] yxyx pixels clipped to the image,
              "scores": float32 [B, D], "classes": int32 [B, D],
              "num_detections": int32 [B]}` with `D = max_detections`; rows past
            `num_detections` have boxes and scores 0 and class `PADDED_CLASS` (-1).
        """
        class_logits = tf.cast(class_logits, tf.float32)
        box_deltas = tf.cast(box_deltas, tf.float32)
        num_classes = class_logits.shape[-1]
        batch_size = tf.shape(class_logits)[0]

        scores, anchor_indices, classes = [], [], []
        level_start = 0
        for level_logits in tf.split(class_logits, list(level_sizes), axis=1):
            flat = tf.reshape(level_logits, [batch_size, -1])  # [B, A_l * K]
            k = _min(self.pre_nms_top_k, tf.shape(flat)[1], flat.shape[1])
            top_logits, top_indices = tf.math.top_k(flat, k=k, sorted=False)
            scores.append(tf.sigmoid(top_logits))
            anchor_indices.append(top_indices // num_classes + level_start)
            classes.append(top_indices % num_classes)
            level_start = level_start + tf.shape(level_logits)[1]
        scores = tf.concat(scores, axis=1)  # [B, C]
        anchor_indices = tf.concat(anchor_indices, axis=1)
        classes = tf.concat(classes, axis=1)

        deltas = tf.gather(box_deltas, anchor_indices, batch_dims=1)  # [B, C, 4]
        anchors = tf.gather(anchors_yxyx, anchor_indices)  # [B, C, 4]
        height = tf.cast(image_size[0], tf.float32)
        width = tf.cast(image_size[1], tf.float32)
        limits = tf.stack([height, width, height, width])
        boxes = box_coder.decode(deltas, anchors)  # unclipped, as LiteRT's op sees them

        nms_boxes = boxes / tf.maximum(height, width)
        if self.class_wise_nms:
            nms_boxes += tf.cast(classes, tf.float32)[..., tf.newaxis] * _CLASS_OFFSET

        def select(args):
            image_boxes, image_scores = args
            indices, _, count = tf.raw_ops.NonMaxSuppressionV5(
                boxes=image_boxes,
                scores=image_scores,
                max_output_size=self.max_detections,
                iou_threshold=self.nms_iou_threshold,
                score_threshold=self.score_threshold,
                soft_nms_sigma=0.0,
                pad_to_max_output_size=True,
            )
            return indices, count

        selected, num_detections = tf.map_fn(
            select,
            (nms_boxes, scores),
            fn_output_signature=(
                tf.TensorSpec([self.max_detections], tf.int32),
                tf.TensorSpec([], tf.int32),
            ),
        )
        valid = tf.range(self.max_detections)[tf.newaxis, :] < num_detections[:, tf.newaxis]
        out_boxes = tf.clip_by_value(tf.gather(boxes, selected, batch_dims=1), 0.0, limits)
        out_scores = tf.gather(scores, selected, batch_dims=1)
        out_classes = tf.gather(classes, selected, batch_dims=1)
        return {
            "boxes": tf.where(valid[..., tf.newaxis], out_boxes, 0.0),
            "scores": tf.where(valid, out_scores, 0.0),
            "classes": tf.where(valid, out_classes, PADDED_CLASS),
            "num_detections": num_detections,
        }

    def get_config(self) -> dict:
        return {
            "pre_nms_top_k": self.pre_nms_top_k,
            "score_threshold": self.score_threshold,
            "nms_iou_threshold": self.nms_iou_threshold,
            "max_detections": self.max_detections,
            "class_wise_nms": self.class_wise_nms,
        }

    @classmethod
    def from_config(cls, config: dict) -> "DetectionDecoder":
        return cls(**config)

    def __eq__(self, other) -> bool:
        return isinstance(other, DetectionDecoder) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.get_config().items())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"DetectionDecoder({args})"


def _min(limit: int, dynamic_size: tf.Tensor, static_size: int | None):
    """`min(limit, size)`, a Python int when the size is static."""
    if static_size is not None:
        return min(limit, static_size)
    return tf.minimum(limit, dynamic_size)
