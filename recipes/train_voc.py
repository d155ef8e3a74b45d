"""Train RetinaNet R50-FPN on Pascal VOC 2007 (trainval -> test).

The recipe (its config as a short override of `TrainConfig`) lives in
`keras_retinanet/training/recipes/voc.py`; this script is `retinanet-train voc`.
Every config value is a flag: `python recipes/train_voc.py --help` (with the package
installed, e.g. `pip install -e .`), or `python -m recipes.train_voc --help` from the
repository root.
"""

import sys

from keras_retinanet.cli.train import main as train_main

RECIPE = "voc"


def main(argv: list[str] | None = None) -> int:
    """Runs the voc recipe with the given flags (default: the command line)."""
    return train_main([RECIPE, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
