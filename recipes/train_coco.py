"""Train RetinaNet R50-FPN on COCO 2017 with the paper's 1x schedule (SGD 0.01 @ 16, 90k steps).

The recipe (its config as a short override of `TrainConfig`) lives in
`keras_retinanet/training/recipes/coco.py`; this script is `retinanet-train coco`.
Every config value is a flag: `python recipes/train_coco.py --help` (with the package
installed, e.g. `pip install -e .`), or `python -m recipes.train_coco --help` from the
repository root.
"""

import sys

from keras_retinanet.cli.train import main as train_main

RECIPE = "coco"


def main(argv: list[str] | None = None) -> int:
    """Runs the coco recipe with the given flags (default: the command line)."""
    return train_main([RECIPE, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
