"""Train RetinaNet MobileNetV2 FPN-Lite 320 on COCO 2017 (batch 128, cosine decay with warmup).

The recipe (its config as a short override of `TrainConfig`) lives in
`keras_retinanet/training/recipes/coco_mobile.py`; this script is `retinanet-train coco_mobile`.
Every config value is a flag: `python recipes/train_coco_mobile.py --help` (with the package
installed, e.g. `pip install -e .`), or `python -m recipes.train_coco_mobile --help` from the
repository root.
"""

import sys

from keras_retinanet.cli.train import main as train_main

RECIPE = "coco_mobile"


def main(argv: list[str] | None = None) -> int:
    """Runs the coco_mobile recipe with the given flags (default: the command line)."""
    return train_main([RECIPE, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
