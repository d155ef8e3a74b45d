"""Turns ground-truth boxes into per-anchor classification and box-regression targets."""

import keras
import tensorflow as tf

from keras_retinanet import label_codes
from keras_retinanet.ops.anchor_generator import AnchorGenerator
from keras_retinanet.ops.box_coder import BoxCoder
from keras_retinanet.ops.box_matcher import MATCH_NEGATIVE, MATCH_POSITIVE, BoxMatcher
from keras_retinanet.ops.iou import box_area, pairwise_ioa, pairwise_iou

# An anchor that lies at least this much (intersection / anchor area) inside a crowd
# region is ignored instead of being a negative.
DEFAULT_CROWD_IOA_THRESHOLD = 0.5
# Placeholder row appended before gathering so that an image with zero boxes gathers
# something; it is never selected for a positive anchor.
_PLACEHOLDER_BOX = (0.0, 0.0, 1.0, 1.0)


@keras.saving.register_keras_serializable(package="keras_retinanet")
class TargetEncoder:
    """Encodes the ground truth of one image or of a batch into anchor targets.

    This is the single place where targets are made: the `tf.data` pipeline may call
    it per sample (`RetinaNet.encode_targets`), or `RetinaNet.compute_loss` calls it
    on the batch when the pipeline yields raw boxes.

    Steps: anchors for the image size -> IoU of every anchor with every box ->
    `BoxMatcher` bands -> class targets (label codes in `keras_retinanet.label_codes`)
    and `BoxCoder` deltas of the matched boxes. Rows with class `PADDING_CLASS` (-1) are
    padding; rows with `CROWD_CLASS` (-2) are crowd regions: they are never matched,
    and a negative anchor lying inside one (intersection over anchor area >=
    `crowd_ioa_threshold`) becomes `IGNORE`. Boxes with zero area never match.

    Invalid ground truth raises `tf.errors.InvalidArgumentError` naming the problem:
    a class id >= `num_classes` or < -2, an inverted box (ymax < ymin or xmax < xmin)
    or a non-finite coordinate in a non-padding row.

    Args:
        num_classes: number of object classes K.
        anchor_generator: the model's `AnchorGenerator`.
        box_matcher: the `BoxMatcher` (IoU bands).
        box_coder: the `BoxCoder` of the model.
        crowd_ioa_threshold: see above.
    """

    def __init__(
        self,
        num_classes: int,
        anchor_generator: AnchorGenerator | None = None,
        box_matcher: BoxMatcher | None = None,
        box_coder: BoxCoder | None = None,
        crowd_ioa_threshold: float = DEFAULT_CROWD_IOA_THRESHOLD,
    ):
        if int(num_classes) < 1:
            raise ValueError(f"`num_classes` must be >= 1; got {num_classes}.")
        self.num_classes = int(num_classes)
        self.anchor_generator = anchor_generator or AnchorGenerator()
        self.box_matcher = box_matcher or BoxMatcher()
        self.box_coder = box_coder or BoxCoder()
        self.crowd_ioa_threshold = float(crowd_ioa_threshold)

    def __call__(self, image_size, boxes_yxyx, classes) -> dict[str, tf.Tensor]:
        """Encodes targets.

        Args:
            image_size: `(height, width)` of the network input in pixels (ints, scalar
                int tensors, or an int tensor `[2]` or `[3]` such as `tf.shape(image)`),
                the size the anchors are made for.
            boxes_yxyx: float `[N, 4]` (one image) or `[B, N, 4]` (batch) ground truth,
                `yxyx` in input-image pixels; padding rows may hold anything.
            classes: int `[N]` or `[B, N]`: class ids >= 0, `PADDING_CLASS` or
                `CROWD_CLASS`.

        Returns:
            `{"class_targets": int32 [..., A], "box_targets": float32 [..., A, 4]}` with
            class targets in {class id, `BACKGROUND`, `IGNORE`} and box targets the
            (ty, tx, th, tw) deltas of the matched box (0 for non-positive anchors).
        """
        boxes_yxyx = tf.convert_to_tensor(boxes_yxyx, tf.float32)
        classes = tf.cast(tf.convert_to_tensor(classes), tf.int32)
        if boxes_yxyx.shape.rank not in (2, 3) or boxes_yxyx.shape[-1] != 4:
            raise ValueError(
                f"Ground-truth boxes must have shape [N, 4] or [B, N, 4]; got {boxes_yxyx.shape}."
            )
        if classes.shape.rank != boxes_yxyx.shape.rank - 1:
            raise ValueError(
                f"Ground-truth classes must have shape {boxes_yxyx.shape[:-1]} to match the "
                f"boxes; got {classes.shape}."
            )
        with tf.control_dependencies(self._validate(boxes_yxyx, classes)):
            boxes_yxyx = tf.identity(boxes_yxyx)
        batch_dims = boxes_yxyx.shape.rank - 2
        if batch_dims == 0:
            # One image (the tf.data map): drop the padding rows first. They never match,
            # and pipelines pad to a fixed N (e.g. 100), which made the [A, N] IoU and
            # crowd tests 5-14x slower than on the real boxes (benchmarks/README.md).
            real = tf.not_equal(classes, label_codes.PADDING_CLASS)
            boxes_yxyx = tf.boolean_mask(boxes_yxyx, real)
            classes = tf.boolean_mask(classes, real)

        height, width = image_size[0], image_size[1]
        anchors = self.anchor_generator(height, width)  # [A, 4]
        area = box_area(boxes_yxyx)
        objects = (classes >= 0) & (area > 0.0)  # [..., N]
        crowds = tf.equal(classes, label_codes.CROWD_CLASS) & (area > 0.0)

        iou = pairwise_iou(anchors, boxes_yxyx)  # [..., A, N]
        matched_indices, match_labels = self.box_matcher(iou, objects)

        # Append a placeholder row so that gathering works when N == 0.
        placeholder_shape = tf.concat([tf.shape(classes)[:-1], [1]], axis=0)
        padded_boxes = tf.concat(
            [
                boxes_yxyx,
                tf.broadcast_to(
                    tf.constant(_PLACEHOLDER_BOX), tf.concat([placeholder_shape, [4]], 0)
                ),
            ],
            axis=-2,
        )
        padded_classes = tf.concat([classes, tf.zeros(placeholder_shape, tf.int32)], axis=-1)
        matched_boxes = tf.gather(padded_boxes, matched_indices, batch_dims=batch_dims)
        matched_classes = tf.gather(padded_classes, matched_indices, batch_dims=batch_dims)

        positive = tf.equal(match_labels, MATCH_POSITIVE)
        negative = tf.equal(match_labels, MATCH_NEGATIVE)
        in_crowd = tf.cond(
            tf.reduce_any(crowds),
            lambda: tf.reduce_any(
                (pairwise_ioa(anchors, boxes_yxyx) >= self.crowd_ioa_threshold)
                & crowds[..., tf.newaxis, :],
                axis=-1,
            ),
            lambda: tf.zeros_like(negative),
        )
        negative = negative & ~in_crowd
        class_targets = tf.where(
            positive,
            matched_classes,
            tf.where(negative, label_codes.BACKGROUND, label_codes.IGNORE),
        )
        # Non-positive anchors encode themselves (deltas 0), never a padding box.
        target_boxes = tf.where(positive[..., tf.newaxis], matched_boxes, anchors)
        box_targets = self.box_coder.encode(target_boxes, anchors)
        return {"class_targets": tf.cast(class_targets, tf.int32), "box_targets": box_targets}

    def _validate(self, boxes_yxyx: tf.Tensor, classes: tf.Tensor) -> list:
        """Assertions on the ground truth (non-padding rows only)."""
        real = tf.not_equal(classes, label_codes.PADDING_CLASS)
        real_boxes = tf.boolean_mask(boxes_yxyx, real)
        return [
            tf.debugging.assert_less(
                classes,
                self.num_classes,
                message=f"Ground-truth class id >= num_classes ({self.num_classes}).",
            ),
            tf.debugging.assert_greater_equal(
                classes,
                label_codes.CROWD_CLASS,
                message=(
                    "Ground-truth class id < -2: class ids must be >= 0, -1 (padding) "
                    "or -2 (crowd region)."
                ),
            ),
            tf.debugging.assert_all_finite(
                real_boxes, message="Ground-truth box has a NaN or infinite coordinate."
            ),
            tf.debugging.assert_greater_equal(
                real_boxes[:, 2],
                real_boxes[:, 0],
                message="Inverted ground-truth box: ymax < ymin (boxes must be yxyx here).",
            ),
            tf.debugging.assert_greater_equal(
                real_boxes[:, 3],
                real_boxes[:, 1],
                message="Inverted ground-truth box: xmax < xmin (boxes must be yxyx here).",
            ),
        ]

    def get_config(self) -> dict:
        return {
            "num_classes": self.num_classes,
            "anchor_generator": keras.saving.serialize_keras_object(self.anchor_generator),
            "box_matcher": keras.saving.serialize_keras_object(self.box_matcher),
            "box_coder": keras.saving.serialize_keras_object(self.box_coder),
            "crowd_ioa_threshold": self.crowd_ioa_threshold,
        }

    @classmethod
    def from_config(cls, config: dict) -> "TargetEncoder":
        config = dict(config)
        for key in ("anchor_generator", "box_matcher", "box_coder"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
