"""Alpha-balanced sigmoid cross entropy: the focal loss with gamma = 0 (paper Table 1a)."""

import keras

from keras_retinanet.losses.focal_loss import FocalLoss

# The paper's best alpha for cross entropy (Table 1a): the positives weigh 3x the negatives.
DEFAULT_CROSS_ENTROPY_ALPHA = 0.75


@keras.saving.register_keras_serializable(package="keras_retinanet")
class AlphaBalancedCrossEntropy(FocalLoss):
    """`CE(p_t) = -alpha_t log(p_t)` over every (anchor, class) pair, from logits.

    The paper's baseline for the focal loss: `FocalLoss` with `gamma = 0` (same targets,
    ignored anchors, stable evaluation from logits and normaliser `max(number of positive
    anchors in the batch, 1)`); see `FocalLoss` for the details. Its config has no `gamma`.

    Call args:
        y_true: int `[B, A]` class targets: class id >= 0 (positive), `BACKGROUND` (-1)
            or `IGNORE` (-2) (see `keras_retinanet.label_codes`).
        y_pred: float `[B, A, K]` classification logits.

    Returns (with the default `reduction="sum"`): the scalar normalised loss; `call` returns
    the per-image normalised sums `[B]`.

    Args:
        alpha: weight of the positive targets, in [0, 1] (`1 - alpha` for the negatives).
        reduction: Keras reduction of the per-image values.
        name: loss name.
        dtype: computation dtype (float32 by default, also under mixed precision).
    """

    def __init__(
        self,
        alpha: float = DEFAULT_CROSS_ENTROPY_ALPHA,
        reduction: str = "sum",
        name: str = "alpha_balanced_cross_entropy",
        dtype=None,
    ):
        super().__init__(alpha=alpha, gamma=0.0, reduction=reduction, name=name, dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["gamma"]
        return config
