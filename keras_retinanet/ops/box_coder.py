"""Centre-size box coding, the encoding LiteRT's `TFLite_Detection_PostProcess` decodes."""

import math
from collections.abc import Sequence

import keras
import tensorflow as tf

# (y_scale, x_scale, h_scale, w_scale): the TF Object Detection API / LiteRT defaults.
DEFAULT_SCALE_FACTORS = (10.0, 10.0, 5.0, 5.0)
# Largest log-size delta applied before exp() when decoding: a box at most 1000/16
# times larger than its anchor (the Detectron convention). Keeps exp() finite.
DEFAULT_MAX_LOG_SCALE = math.log(1000.0 / 16.0)


@keras.saving.register_keras_serializable(package="keras_retinanet")
class BoxCoder:
    """Encodes boxes as deltas relative to anchors and decodes them back.

    With anchor centre `(ya, xa)` and size `(ha, wa)`, and a box with centre
    `(y, x)` and size `(h, w)`:

        ty = (y - ya) / ha * y_scale       tx = (x - xa) / wa * x_scale
        th = log(h / ha) * h_scale         tw = log(w / wa) * w_scale

    which is exactly what `TFLite_Detection_PostProcess` inverts with its attributes
    `y_scale, x_scale, h_scale, w_scale`, so an exported model decodes in LiteRT the
    same boxes as `decode` here. `decode` additionally clips `th / h_scale` and
    `tw / w_scale` at `max_log_scale` before `exp()` (the LiteRT op does not clip; the
    two agree for every box up to 1000/16 times its anchor).

    Args:
        scale_factors: (y_scale, x_scale, h_scale, w_scale).
        max_log_scale: upper bound of the log size ratio used by `decode`.
    """

    def __init__(
        self,
        scale_factors: Sequence[float] = DEFAULT_SCALE_FACTORS,
        max_log_scale: float = DEFAULT_MAX_LOG_SCALE,
    ):
        if len(scale_factors) != 4 or any(s <= 0 for s in scale_factors):
            raise ValueError(
                f"`scale_factors` must be 4 positive numbers; got {tuple(scale_factors)}."
            )
        if max_log_scale <= 0:
            raise ValueError(f"`max_log_scale` must be positive; got {max_log_scale}.")
        self.scale_factors = tuple(float(s) for s in scale_factors)
        self.max_log_scale = float(max_log_scale)

    def encode(self, boxes_yxyx: tf.Tensor, anchors_yxyx: tf.Tensor) -> tf.Tensor:
        """Encodes boxes relative to anchors.

        Args:
            boxes_yxyx: float `[..., A, 4]` boxes (ymin, xmin, ymax, xmax) with positive
                height and width, e.g. the ground truth matched to each anchor.
            anchors_yxyx: float `[A, 4]` (or broadcastable) anchors, same unit.

        Returns:
            float32 `[..., A, 4]` deltas (ty, tx, th, tw).
        """
        boxes_yxyx = tf.cast(boxes_yxyx, tf.float32)
        anchors_yxyx = tf.cast(anchors_yxyx, tf.float32)
        y, x, h, w = _center_size(boxes_yxyx)
        ya, xa, ha, wa = _center_size(anchors_yxyx)
        y_scale, x_scale, h_scale, w_scale = self.scale_factors
        ty = (y - ya) / ha * y_scale
        tx = (x - xa) / wa * x_scale
        th = tf.math.log(h / ha) * h_scale
        tw = tf.math.log(w / wa) * w_scale
        return tf.stack([ty, tx, th, tw], axis=-1)

    def decode(self, deltas: tf.Tensor, anchors_yxyx: tf.Tensor) -> tf.Tensor:
        """Decodes deltas into boxes.

        Args:
            deltas: float `[..., A, 4]` (ty, tx, th, tw).
            anchors_yxyx: float `[A, 4]` (or broadcastable) anchors (ymin, xmin, ymax, xmax).

        Returns:
            float32 `[..., A, 4]` boxes `yxyx` in the unit of the anchors.
        """
        deltas = tf.cast(deltas, tf.float32)
        anchors_yxyx = tf.cast(anchors_yxyx, tf.float32)
        ya, xa, ha, wa = _center_size(anchors_yxyx)
        ty, tx, th, tw = tf.unstack(deltas, axis=-1)
        y_scale, x_scale, h_scale, w_scale = self.scale_factors
        y = ty / y_scale * ha + ya
        x = tx / x_scale * wa + xa
        h = tf.exp(tf.minimum(th / h_scale, self.max_log_scale)) * ha
        w = tf.exp(tf.minimum(tw / w_scale, self.max_log_scale)) * wa
        return tf.stack([y - h / 2.0, x - w / 2.0, y + h / 2.0, x + w / 2.0], axis=-1)

    def get_config(self) -> dict:
        return {"scale_factors": self.scale_factors, "max_log_scale": self.max_log_scale}

    @classmethod
    def from_config(cls, config: dict) -> "BoxCoder":
        return cls(**config)

    def __eq__(self, other) -> bool:
        return isinstance(other, BoxCoder) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.get_config().items())))

    def __repr__(self) -> str:
        return f"BoxCoder(scale_factors={self.scale_factors}, max_log_scale={self.max_log_scale})"


def _center_size(boxes_yxyx: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Splits `[..., 4]` yxyx boxes into centre y, centre x, height, width `[...]`."""
    ymin, xmin, ymax, xmax = tf.unstack(boxes_yxyx, axis=-1)
    return (ymin + ymax) / 2.0, (xmin + xmax) / 2.0, ymax - ymin, xmax - xmin
