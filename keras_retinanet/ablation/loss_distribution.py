"""The paper's Figure 4: how gamma concentrates the loss on hard examples.

Lin et al. apply the focal loss with several gammas to a trained model's predictions and
plot, separately for positive and negative samples, the cumulative sum of the loss
(normalised to sum 1, samples sorted from lowest to highest loss) against the fraction of
samples. With gamma = 2 almost all the negative loss sits in a tiny fraction of hard
negatives, while the positives' curve changes little.

Here a positive sample is the true-class column of a positive anchor (target 1) and a
negative sample is any class column of a background anchor (target 0); ignored anchors and
the other columns of positive anchors are left out. Alpha is a constant factor within each
set and cancels in the normalisation.

Drawing needs matplotlib (the `[plot]` extra); it is imported only by `plot_loss_cdfs`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from keras_retinanet import label_codes
from keras_retinanet.data import DetectionDataset
from keras_retinanet.data.input_pipeline import AugmentationConfig, build_train_pipeline
from keras_retinanet.losses.focal_loss import FocalLoss
from keras_retinanet.models.retinanet import CLASSIFICATION, RetinaNet
from keras_retinanet.training.train_config import DataConfig

POSITIVE = "positive"
NEGATIVE = "negative"
# Negative (anchor, class) samples kept per image (uniformly at random) so that large
# images with many classes stay in memory; the paper sampled 10^7 negatives overall.
DEFAULT_MAX_NEGATIVES_PER_IMAGE = 20_000
DEFAULT_BATCH_SIZE = 8
# Points drawn per curve (taken on the exact curve).
PLOT_POINTS = 1_000
# "Hardest" shares reported next to the figure: the loss held by the top 1% / 10%.
HARDEST_FRACTIONS = (0.01, 0.1)
# Any alpha: it cancels when each set's losses are normalised.
_ALPHA = 0.5
_FIGURE_SIZE_INCHES = (10.0, 4.0)
_DPI = 120
_COUNT_DECIMALS = 9


def collect_samples(
    model: RetinaNet,
    loader: DetectionDataset,
    data: DataConfig,
    max_images: int | None = None,
    max_negatives_per_image: int = DEFAULT_MAX_NEGATIVES_PER_IMAGE,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The model's logits of the positive and negative samples of held-out images.

    Args:
        model: a trained `RetinaNet` (its anchors and matcher give the labels).
        loader: held-out images.
        data: the resize and `max_boxes` the model was trained with.
        max_images: use the first this many images; None: all.
        max_negatives_per_image: negative samples kept per image (uniform, seeded).
        seed: seed of the negative subsampling.

    Returns:
        `{"positive": float32 [P] logits (target 1), "negative": float32 [N] logits
        (target 0)}`.
    """
    elements = loader.as_dataset()
    if max_images is not None:
        elements = elements.take(max_images)
    batches = build_train_pipeline(
        elements,
        batch_size=DEFAULT_BATCH_SIZE,
        resize=data.resize,
        augmentation=AugmentationConfig.disabled(),
        max_boxes=data.max_boxes,
        encode_targets=model.encode_targets,
        shuffle_buffer=0,
        drop_remainder=False,
        warn_on_overflow=False,
    )
    rng = np.random.default_rng(seed)
    positives: list[np.ndarray] = []
    negatives: list[np.ndarray] = []
    for images, y in batches:
        logits = model(images, training=False)[CLASSIFICATION].numpy().astype(np.float32)
        targets = y["class_targets"].numpy()
        for image_logits, image_targets in zip(logits, targets):
            positive = image_targets >= 0
            positives.append(image_logits[positive, image_targets[positive]])
            background = image_logits[image_targets == label_codes.BACKGROUND].reshape(-1)
            if background.size > max_negatives_per_image:
                background = rng.choice(background, max_negatives_per_image, replace=False)
            negatives.append(background)
    return {
        POSITIVE: np.concatenate(positives) if positives else np.zeros(0, np.float32),
        NEGATIVE: np.concatenate(negatives) if negatives else np.zeros(0, np.float32),
    }


def focal_losses(logits: np.ndarray, target: float, gamma: float) -> np.ndarray:
    """Focal loss (alpha left out) of samples that share one binary target.

    Args:
        logits: float `[N]` logits.
        target: 1.0 for positive samples, 0.0 for negative ones.
        gamma: focusing parameter.

    Returns:
        float64 `[N]` `(1 - p_t)^gamma * -log(p_t)`.
    """
    logits = tf.constant(logits, tf.float32)
    targets = tf.fill(tf.shape(logits), float(target))
    loss = FocalLoss(alpha=_ALPHA, gamma=gamma).elementwise_loss(targets, logits)
    alpha_t = _ALPHA  # the same for either target with alpha = 0.5
    return (loss.numpy() / alpha_t).astype(np.float64)


def normalized_loss_cdf(losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cumulative normalised loss of samples sorted from the lowest loss to the highest.

    Args:
        losses: float `[N]` non-negative losses, N >= 1, positive sum.

    Returns:
        `(fractions [N], cumulative [N])`: `fractions[i] = (i + 1) / N` and `cumulative[i]`
        the share of the total loss held by the `i + 1` lowest losses; non-decreasing,
        ending at 1.
    """
    losses = np.asarray(losses, np.float64).reshape(-1)
    if losses.size == 0:
        raise ValueError("No samples: cannot draw a loss distribution.")
    if np.any(losses < 0) or not np.all(np.isfinite(losses)):
        raise ValueError("Losses must be finite and non-negative.")
    total = losses.sum()
    if total <= 0:
        raise ValueError("The losses sum to 0: nothing to normalise.")
    cumulative = np.cumsum(np.sort(losses)) / total
    cumulative[-1] = 1.0  # exact, whatever the rounding of the sum
    fractions = np.arange(1, losses.size + 1, dtype=np.float64) / losses.size
    return fractions, cumulative


def hardest_share(cumulative: np.ndarray, fraction: float) -> float:
    """Share of the total loss held by the hardest `fraction` of the samples.

    Args:
        cumulative: `[N]` from `normalized_loss_cdf`.
        fraction: in (0, 1]; the hardest `ceil(fraction * N)` samples (at least one).

    Returns:
        The loss share of those samples, `1 - cumulative[N - k - 1]` (1.0 when k = N).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"`fraction` must be in (0, 1]; got {fraction}.")
    count = len(cumulative)
    # round first: 0.1 * 30 is 3.0000000000000004 in floating point
    hardest = min(count, max(1, math.ceil(round(fraction * count, _COUNT_DECIMALS))))
    return 1.0 if hardest == count else float(1.0 - cumulative[count - hardest - 1])


def loss_cdfs(
    samples: Mapping[str, np.ndarray], gammas: Sequence[float]
) -> dict[str, dict[float, tuple[np.ndarray, np.ndarray]]]:
    """`normalized_loss_cdf` of the focal loss of each sample set for each gamma.

    Args:
        samples: `{"positive": logits, "negative": logits}` (from `collect_samples`).
        gammas: the focusing parameters.

    Returns:
        set name -> gamma -> `(fractions, cumulative)`.
    """
    targets = {POSITIVE: 1.0, NEGATIVE: 0.0}
    return {
        name: {
            float(gamma): normalized_loss_cdf(focal_losses(samples[name], target, gamma))
            for gamma in gammas
        }
        for name, target in targets.items()
    }


def cdf_summary(
    cdfs: Mapping[str, Mapping[float, tuple[np.ndarray, np.ndarray]]],
    fractions: Iterable[float] = HARDEST_FRACTIONS,
) -> dict[str, dict[str, dict[str, float]]]:
    """Share of the loss held by the hardest samples, per set and gamma (for tables).

    Returns:
        set -> `"gamma=g"` -> `{"samples": N, "hardest 1%": share, "hardest 10%": ...}`.
    """
    fractions = tuple(fractions)
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for name, per_gamma in cdfs.items():
        summary[name] = {}
        for gamma, (_, cumulative) in per_gamma.items():
            row = {"samples": float(len(cumulative))}
            for fraction in fractions:
                row[f"hardest {fraction:.0%}"] = hardest_share(cumulative, fraction)
            summary[name][f"gamma={gamma:g}"] = row
    return summary


def plot_loss_cdfs(
    cdfs: Mapping[str, Mapping[float, tuple[np.ndarray, np.ndarray]]],
    path: str,
    title: str = "",
) -> str:
    """Draws Figure 4: one panel per sample set, one curve per gamma; writes a PNG.

    Args:
        cdfs: from `loss_cdfs`.
        path: the PNG to write.
        title: an optional figure title.

    Returns:
        `path`.

    Raises:
        ImportError: matplotlib is not installed (the `[plot]` extra).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "Drawing the loss distributions needs matplotlib: "
            "pip install 'keras-retinanet[plot]' (or pip install matplotlib)."
        ) from error
    figure = Figure(figsize=_FIGURE_SIZE_INCHES, dpi=_DPI)
    FigureCanvasAgg(figure)
    names = list(cdfs)
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for axis, name in zip(axes, names):
        for gamma, (fractions, cumulative) in sorted(cdfs[name].items()):
            points = np.unique(np.linspace(0, len(fractions) - 1, PLOT_POINTS).astype(int))
            axis.plot(
                np.concatenate([[0.0], fractions[points]]),
                np.concatenate([[0.0], cumulative[points]]),
                label=f"$\\gamma$ = {gamma:g}",
            )
        axis.set_title(f"CDF of the loss, {name} samples (N = {len(fractions):,})")
        axis.set_xlabel(f"fraction of {name} samples (sorted by loss)")
        axis.set_ylabel("cumulative normalized loss")
        axis.set_xlim(0.0, 1.0)
        axis.set_ylim(0.0, 1.0)
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path)
    return path
