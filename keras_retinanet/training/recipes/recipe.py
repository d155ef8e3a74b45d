"""A named training recipe: a function building its `TrainConfig`, plus flag aliases."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from keras_retinanet.training.train_config import TrainConfig


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One recipe of `retinanet-train`.

    Attributes:
        name: the name on the command line (`retinanet-train coco`).
        description: one paragraph for `--help`.
        build: returns the recipe's default `TrainConfig` (a short override of the base).
        aliases: short flags that set several config fields at once, e.g.
            `{"data_dir": ("data.train.tfds_data_dir", "data.eval.tfds_data_dir")}` makes
            `--data_dir DIR` set both.
    """

    name: str
    description: str
    build: Callable[[], TrainConfig]
    aliases: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
