"""Assigns each anchor to a ground-truth box from their IoU, with an ignore band."""

import keras
import tensorflow as tf

DEFAULT_FOREGROUND_IOU_THRESHOLD = 0.5
DEFAULT_BACKGROUND_IOU_THRESHOLD = 0.4

# Match labels returned by `BoxMatcher`.
MATCH_POSITIVE = 1
MATCH_NEGATIVE = 0
MATCH_IGNORE = -1

# IoU given to (anchor, box) pairs whose box is padding or degenerate: below any
# threshold, so such boxes never match.
_INVALID_IOU = -1.0


@keras.saving.register_keras_serializable(package="keras_retinanet")
class BoxMatcher:
    """IoU-band matcher of the RetinaNet paper.

    For each anchor, its best ground-truth box (highest IoU) decides the label:

    * IoU >= `foreground_iou_threshold`: `MATCH_POSITIVE` (1), matched to that box;
    * IoU <  `background_iou_threshold`: `MATCH_NEGATIVE` (0);
    * in between: `MATCH_IGNORE` (-1).

    With `allow_low_quality_matches` (on by default), every valid box additionally
    claims the anchor(s) with which it has its highest IoU (all anchors tied at that
    IoU, as long as it is > 0), even below the foreground threshold: those anchors
    become positives matched to that box (to the box with the highest IoU if several
    boxes claim the same anchor). So no object is left without a positive anchor,
    e.g. a 12 px object whose best anchor overlaps it at IoU 0.15. Turn it off for
    the paper's strict bands.

    Boxes marked invalid (padding, degenerate) never match any anchor. An image with
    no valid box gives all anchors `MATCH_NEGATIVE`.

    Args:
        foreground_iou_threshold: smallest IoU of a positive anchor.
        background_iou_threshold: IoU under which an anchor is negative; must be
            <= `foreground_iou_threshold`.
        allow_low_quality_matches: give each box its best anchor(s).
    """

    def __init__(
        self,
        foreground_iou_threshold: float = DEFAULT_FOREGROUND_IOU_THRESHOLD,
        background_iou_threshold: float = DEFAULT_BACKGROUND_IOU_THRESHOLD,
        allow_low_quality_matches: bool = True,
    ):
        if not 0.0 <= background_iou_threshold <= foreground_iou_threshold <= 1.0:
            raise ValueError(
                "Need 0 <= background_iou_threshold <= foreground_iou_threshold <= 1; got "
                f"background_iou_threshold={background_iou_threshold}, "
                f"foreground_iou_threshold={foreground_iou_threshold}."
            )
        self.foreground_iou_threshold = float(foreground_iou_threshold)
        self.background_iou_threshold = float(background_iou_threshold)
        self.allow_low_quality_matches = bool(allow_low_quality_matches)

    def __call__(self, iou: tf.Tensor, valid_boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Matches anchors to boxes.

        Args:
            iou: float `[..., A, N]` IoU of every anchor with every box (`[A, N]` for one
                image, `[B, A, N]` for a batch). N may be 0.
            valid_boxes: bool `[..., N]`, False for padding and degenerate boxes.

        Returns:
            matched_indices: int32 `[..., A]` index of the matched box in [0, N); 0 for
                anchors that are not positive (check `match_labels`).
            match_labels: int32 `[..., A]` in {MATCH_POSITIVE, MATCH_NEGATIVE, MATCH_IGNORE}.
        """
        iou = tf.cast(iou, tf.float32)
        valid_boxes = tf.cast(valid_boxes, tf.bool)
        masked_iou = tf.where(valid_boxes[..., tf.newaxis, :], iou, _INVALID_IOU)
        # One extra invalid column makes max/argmax well defined when N == 0.
        sentinel = tf.fill(tf.concat([tf.shape(masked_iou)[:-1], [1]], 0), _INVALID_IOU)
        padded_iou = tf.concat([masked_iou, sentinel], axis=-1)  # [..., A, N + 1]
        max_iou = tf.reduce_max(padded_iou, axis=-1)  # [..., A]
        matched = tf.argmax(padded_iou, axis=-1, output_type=tf.int32)

        labels = tf.where(
            max_iou >= self.foreground_iou_threshold,
            MATCH_POSITIVE,
            tf.where(max_iou < self.background_iou_threshold, MATCH_NEGATIVE, MATCH_IGNORE),
        )

        if self.allow_low_quality_matches:
            best_iou_per_box = tf.reduce_max(padded_iou, axis=-2)[..., :-1]  # [..., N]
            claims = (
                (masked_iou == best_iou_per_box[..., tf.newaxis, :])
                & valid_boxes[..., tf.newaxis, :]
                & (best_iou_per_box > 0.0)[..., tf.newaxis, :]
            )  # [..., A, N]: box n claims anchor a
            claimed = tf.reduce_any(claims, axis=-1)
            claim_iou = tf.where(claims, masked_iou, _INVALID_IOU)
            claimed_by = tf.argmax(tf.concat([claim_iou, sentinel], axis=-1), axis=-1)
            matched = tf.where(claimed, tf.cast(claimed_by, tf.int32), matched)
            labels = tf.where(claimed, MATCH_POSITIVE, labels)

        positive = tf.equal(labels, MATCH_POSITIVE)
        matched_indices = tf.where(positive, matched, tf.zeros_like(matched))
        return matched_indices, tf.cast(labels, tf.int32)

    def get_config(self) -> dict:
        return {
            "foreground_iou_threshold": self.foreground_iou_threshold,
            "background_iou_threshold": self.background_iou_threshold,
            "allow_low_quality_matches": self.allow_low_quality_matches,
        }

    @classmethod
    def from_config(cls, config: dict) -> "BoxMatcher":
        return cls(**config)

    def __eq__(self, other) -> bool:
        return isinstance(other, BoxMatcher) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.get_config().items())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"BoxMatcher({args})"
