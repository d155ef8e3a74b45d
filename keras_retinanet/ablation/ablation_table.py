"""The paper's ablation tables (Lin et al. 2017, Table 1) as grids of `AblationVariant`s."""

from __future__ import annotations

import dataclasses

from keras_retinanet.ablation.ablation_variant import (
    LOSS_OHEM,
    NO_PRIOR_PROBABILITY,
    PAPER_ASPECT_RATIOS,
    SQUARE_ASPECT_RATIOS,
    AblationVariant,
)
from keras_retinanet.models.retinanet import DEFAULT_PRIOR_PROBABILITY

TABLE_GAMMA = "gamma"
TABLE_ALPHA = "alpha"
TABLE_OHEM = "ohem"
TABLE_ANCHORS = "anchors"
TABLE_PRIOR = "prior"
TABLE_LOSSES = "losses"
# Run order: the focal loss's own comparisons first, so a cut-short grid still has them.
# The "losses" table reuses runs of the gamma and OHEM tables (no extra training there).
TABLE_NAMES = (TABLE_GAMMA, TABLE_OHEM, TABLE_LOSSES, TABLE_PRIOR, TABLE_ANCHORS, TABLE_ALPHA)

# Table 1b: gamma with the alpha the paper pairs it with.
PAPER_GAMMA_ALPHA = ((0.0, 0.75), (0.1, 0.75), (0.2, 0.75), (0.5, 0.5), (1.0, 0.25),
                     (2.0, 0.25), (5.0, 0.25))  # fmt: skip
# Table 1a: alpha at gamma = 0 (alpha-balanced cross entropy).
PAPER_ALPHAS = (0.10, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999)
# The paper's best alpha for cross entropy (Table 1a).
PAPER_CROSS_ENTROPY_ALPHA = 0.75
# Table 1c: (scales per octave, number of aspect ratios).
PAPER_ANCHOR_GRID = ((1, 1), (2, 1), (3, 1), (1, 3), (2, 3), (3, 3))
# Table 1d: the paper's best OHEM keeps 128 anchors per image.
OHEM_BATCH_SIZE_PER_IMAGE = 128
OHEM_NEGATIVES_PER_POSITIVE = 3.0


@dataclasses.dataclass(frozen=True)
class AblationRow:
    """One row: the setting it shows and the run that measures it.

    Attributes:
        settings: column name -> value text of the setting columns, in column order.
        variant: the run.
    """

    settings: dict[str, str]
    variant: AblationVariant


@dataclasses.dataclass(frozen=True)
class AblationTable:
    """One ablation table.

    Attributes:
        name: short name ("gamma"), used for file names and `--tables`.
        title: the heading.
        paper_table: which table of the paper it reproduces.
        setting_columns: the names of the setting columns.
        rows: the rows, in display order.
    """

    name: str
    title: str
    paper_table: str
    setting_columns: tuple[str, ...]
    rows: tuple[AblationRow, ...]

    def __post_init__(self):
        for row in self.rows:
            if tuple(row.settings) != self.setting_columns:
                raise ValueError(
                    f"Table {self.name!r}: row {row.variant.name!r} has settings "
                    f"{tuple(row.settings)}, expected {self.setting_columns}."
                )


def _number(value: float) -> str:
    return f"{value:g}"


_METHOD_COLUMNS = ("method", "ratio", "batch size")


def _focal_row(base: AblationVariant) -> AblationRow:
    return AblationRow(
        {"method": "FL", "ratio": "n/a", "batch size": "n/a"},
        dataclasses.replace(base, name=f"FL gamma={base.focal_gamma:g} alpha={base.focal_alpha:g}"),
    )


def _ohem_rows(base: AblationVariant) -> tuple[AblationRow, ...]:
    """OHEM 1:3 and OHEM without a ratio, 128 anchors per image, the base's anchors / prior."""
    return tuple(
        AblationRow(
            {
                "method": "OHEM",
                "ratio": "none" if ratio is None else f"1:{ratio:g}",
                "batch size": str(OHEM_BATCH_SIZE_PER_IMAGE),
            },
            AblationVariant(
                name=f"OHEM {'no ratio' if ratio is None else f'1:{ratio:g}'}",
                loss=LOSS_OHEM,
                ohem_negatives_per_positive=ratio,
                ohem_batch_size_per_image=OHEM_BATCH_SIZE_PER_IMAGE,
                scales_per_octave=base.scales_per_octave,
                aspect_ratios=base.aspect_ratios,
                prior_probability=base.prior_probability,
            ),
        )
        for ratio in (OHEM_NEGATIVES_PER_POSITIVE, None)
    )


def build_table(name: str, base: AblationVariant) -> AblationTable:
    """The table called `name`, its rows as overrides of `base`.

    Args:
        name: one of `TABLE_NAMES`.
        base: the reference run (focal loss with the base config's alpha and gamma, the
            paper's 3 x 3 anchors, prior 0.01); every row changes only the table's fields.

    Returns:
        The `AblationTable`.
    """
    replace = dataclasses.replace
    if name == TABLE_GAMMA:
        rows = tuple(
            AblationRow(
                {"gamma": _number(gamma), "alpha": _number(alpha)},
                replace(base, name=f"FL gamma={gamma:g} alpha={alpha:g}", focal_gamma=gamma,
                        focal_alpha=alpha),
            )
            for gamma, alpha in PAPER_GAMMA_ALPHA
        )  # fmt: skip
        return AblationTable(
            name, "Focal loss: gamma with its paired alpha", "Table 1b", ("gamma", "alpha"), rows
        )
    if name == TABLE_ALPHA:
        rows = tuple(
            AblationRow(
                {"alpha": _number(alpha)},
                replace(base, name=f"CE alpha={alpha:g}", focal_gamma=0.0, focal_alpha=alpha),
            )
            for alpha in PAPER_ALPHAS
        )
        return AblationTable(
            name, "Alpha-balanced cross entropy (gamma = 0)", "Table 1a", ("alpha",), rows
        )
    if name == TABLE_OHEM:
        return AblationTable(
            name,
            "Focal loss vs online hard example mining (cross entropy, no NMS)",
            "Table 1d",
            _METHOD_COLUMNS,
            (_focal_row(base), *_ohem_rows(base)),
        )
    if name == TABLE_LOSSES:
        cross_entropy = AblationRow(
            {"method": "CE (FL gamma=0)", "ratio": "n/a", "batch size": "n/a"},
            replace(
                base,
                name=f"FL gamma=0 alpha={PAPER_CROSS_ENTROPY_ALPHA:g}",
                focal_gamma=0.0,
                focal_alpha=PAPER_CROSS_ENTROPY_ALPHA,
            ),
        )
        return AblationTable(
            name,
            "Equal budget: focal loss vs alpha-balanced cross entropy vs OHEM",
            "Tables 1a, 1b, 1d",
            _METHOD_COLUMNS,
            (_focal_row(base), cross_entropy, *_ohem_rows(base)),
        )
    if name == TABLE_ANCHORS:
        rows = []
        for scales, num_ratios in PAPER_ANCHOR_GRID:
            ratios = PAPER_ASPECT_RATIOS if num_ratios == len(PAPER_ASPECT_RATIOS) else (
                SQUARE_ASPECT_RATIOS
            )  # fmt: skip
            rows.append(
                AblationRow(
                    {"#sc": str(scales), "#ar": str(num_ratios), "A": str(scales * num_ratios)},
                    replace(
                        base,
                        name=f"anchors {scales}x{num_ratios}",
                        scales_per_octave=scales,
                        aspect_ratios=ratios,
                    ),
                )
            )
        return AblationTable(
            name,
            "Anchors: scales per octave x aspect ratios",
            "Table 1c",
            ("#sc", "#ar", "A"),
            tuple(rows),
        )
    if name == TABLE_PRIOR:
        rows = tuple(
            AblationRow(
                {"prior pi": _number(prior), "initial bias": f"{variant.prior_bias + 0.0:.2f}"},
                variant,
            )
            for prior, variant in (
                (p, replace(base, name=f"prior {p:g}", prior_probability=p))
                for p in (DEFAULT_PRIOR_PROBABILITY, NO_PRIOR_PROBABILITY)
            )
        )
        return AblationTable(
            name,
            "Prior-probability initialisation of the classification bias",
            "Section 3.3 / 4.1",
            ("prior pi", "initial bias"),
            rows,
        )
    raise ValueError(f"Unknown ablation table {name!r}; choose from {TABLE_NAMES}.")
