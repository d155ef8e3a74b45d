"""One row of an ablation grid: the base run with its loss, anchors or prior changed."""

from __future__ import annotations

import dataclasses
import math

from keras_retinanet.losses.focal_loss import DEFAULT_ALPHA, DEFAULT_GAMMA
from keras_retinanet.losses.ohem_loss import (
    DEFAULT_BATCH_SIZE_PER_IMAGE,
    DEFAULT_NEGATIVES_PER_POSITIVE,
)
from keras_retinanet.models.retinanet import DEFAULT_PRIOR_PROBABILITY

LOSS_FOCAL = "focal"
LOSS_OHEM = "ohem"
LOSSES = (LOSS_FOCAL, LOSS_OHEM)

# The paper's anchors: 3 scales per octave, ratios {1:2, 1:1, 2:1} (height / width).
PAPER_SCALES_PER_OCTAVE = 3
PAPER_ASPECT_RATIOS = (0.5, 1.0, 2.0)
SQUARE_ASPECT_RATIOS = (1.0,)
# A prior of 0.5 is a zero classification bias: "no prior initialisation".
NO_PRIOR_PROBABILITY = 0.5


def octave_scales(scales_per_octave: int) -> tuple[float, ...]:
    """`2^(i / n)` for `i < n`: n anchor scales spread over one octave (paper Table 1c).

    Args:
        scales_per_octave: n >= 1.

    Returns:
        `(1.0,)` for 1, `(1, 2^(1/2))` for 2, `(1, 2^(1/3), 2^(2/3))` for 3.
    """
    if isinstance(scales_per_octave, bool) or scales_per_octave < 1:
        raise ValueError(f"`scales_per_octave` must be an int >= 1; got {scales_per_octave}.")
    return tuple(2.0 ** (index / scales_per_octave) for index in range(scales_per_octave))


@dataclasses.dataclass(frozen=True)
class AblationVariant:
    """What one ablation run changes on top of the base `TrainConfig`.

    Everything else (backbone, data, optimizer, schedule, seeds, anchor base sizes) comes
    from the base config, so the rows of a table differ only in these fields. Fields of the
    other loss must keep their defaults (no option is silently ignored).

    Attributes:
        name: the row's label in the tables.
        loss: "focal" (`FocalLoss`; gamma = 0 is alpha-balanced cross entropy) or "ohem"
            (`OhemLoss`, plain cross entropy on the hardest anchors).
        focal_alpha: focal only: weight of the positive targets.
        focal_gamma: focal only: focusing parameter.
        ohem_negatives_per_positive: ohem only: 3 for "1:3"; None for no ratio.
        ohem_batch_size_per_image: ohem only: anchors kept per image.
        scales_per_octave: anchor scales per location, `octave_scales(n)`.
        aspect_ratios: anchor height / width ratios per location.
        prior_probability: pi of the classification bias `-log((1 - pi) / pi)`; 0.5 is a
            zero bias (no prior initialisation).
    """

    name: str
    loss: str = LOSS_FOCAL
    focal_alpha: float = DEFAULT_ALPHA
    focal_gamma: float = DEFAULT_GAMMA
    ohem_negatives_per_positive: float | None = DEFAULT_NEGATIVES_PER_POSITIVE
    ohem_batch_size_per_image: int = DEFAULT_BATCH_SIZE_PER_IMAGE
    scales_per_octave: int = PAPER_SCALES_PER_OCTAVE
    aspect_ratios: tuple[float, ...] = PAPER_ASPECT_RATIOS
    prior_probability: float = DEFAULT_PRIOR_PROBABILITY

    def __post_init__(self):
        if not self.name:
            raise ValueError("An ablation variant needs a name.")
        if self.loss not in LOSSES:
            raise ValueError(f"`loss` must be one of {LOSSES}; got {self.loss!r}.")
        if not 0.0 <= self.focal_alpha <= 1.0 or self.focal_gamma < 0.0:
            raise ValueError(
                f"Need focal_alpha in [0, 1] and focal_gamma >= 0; got {self.focal_alpha}, "
                f"{self.focal_gamma}."
            )
        unused = (
            ("ohem_negatives_per_positive", DEFAULT_NEGATIVES_PER_POSITIVE),
            ("ohem_batch_size_per_image", DEFAULT_BATCH_SIZE_PER_IMAGE),
        )
        if self.loss == LOSS_OHEM:
            unused = (("focal_alpha", DEFAULT_ALPHA), ("focal_gamma", DEFAULT_GAMMA))
        for field, default in unused:
            if getattr(self, field) != default:
                raise ValueError(
                    f"Variant {self.name!r}: `{field}` does not apply to the {self.loss} loss; "
                    f"leave it at {default}."
                )
        octave_scales(self.scales_per_octave)
        if not self.aspect_ratios or min(self.aspect_ratios) <= 0:
            raise ValueError(f"`aspect_ratios` must be positive; got {self.aspect_ratios}.")
        if not 0.0 < self.prior_probability < 1.0:
            raise ValueError(
                f"`prior_probability` must be in (0, 1); got {self.prior_probability}."
            )

    @property
    def anchors_per_location(self) -> int:
        """`scales_per_octave * len(aspect_ratios)`."""
        return self.scales_per_octave * len(self.aspect_ratios)

    @property
    def prior_bias(self) -> float:
        """The initial bias of the class logits, `-log((1 - pi) / pi)`."""
        return -math.log((1.0 - self.prior_probability) / self.prior_probability)

    @property
    def run_key(self) -> str:
        """A folder name that identifies the training run (everything but `name`).

        Rows of different tables with equal settings (e.g. the base model) share one run.
        """
        if self.loss == LOSS_FOCAL:
            loss = f"focal_a{self.focal_alpha:g}_g{self.focal_gamma:g}"
        else:
            ratio = self.ohem_negatives_per_positive
            loss = f"ohem_r{'none' if ratio is None else f'{ratio:g}'}"
            loss += f"_s{self.ohem_batch_size_per_image}"
        ratios = "-".join(f"{ratio:g}" for ratio in self.aspect_ratios)
        return f"{loss}_sc{self.scales_per_octave}_ar{ratios}_p{self.prior_probability:g}"
