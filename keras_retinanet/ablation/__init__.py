"""The paper's ablations (Table 1, Figure 4) as runnable grids on any supported dataset.

`run_ablations(AblationConfig)` trains one short run per distinct setting of the chosen
tables (gamma/alpha, alpha at gamma 0, FL vs OHEM, anchors, prior initialisation), writes
Markdown / CSV / JSON tables of COCO AP, AP50 and AP75, and draws Figure 4 (the cumulative
distribution of the focal loss over positive and negative anchors for several gamma) for
the reference model. `recipes/ablate.py` is the command line.
"""

from keras_retinanet.ablation.ablation_config import (
    AblationConfig,
    shapes_ablation_base,
    shapes_ablation_config,
    smoke_ablation_config,
)
from keras_retinanet.ablation.ablation_grid import AblationReport, run_ablations
from keras_retinanet.ablation.ablation_table import TABLE_NAMES, AblationTable, build_table
from keras_retinanet.ablation.ablation_variant import AblationVariant, octave_scales
from keras_retinanet.ablation.loss_distribution import (
    loss_cdfs,
    normalized_loss_cdf,
    plot_loss_cdfs,
)
from keras_retinanet.ablation.variant_run import VariantResult, run_variant

__all__ = [
    "TABLE_NAMES",
    "AblationConfig",
    "AblationReport",
    "AblationTable",
    "AblationVariant",
    "VariantResult",
    "build_table",
    "loss_cdfs",
    "normalized_loss_cdf",
    "octave_scales",
    "plot_loss_cdfs",
    "run_ablations",
    "run_variant",
    "shapes_ablation_base",
    "shapes_ablation_config",
    "smoke_ablation_config",
]
