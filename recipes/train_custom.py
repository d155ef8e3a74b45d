"""Fine-tune RetinaNet R50-FPN 512 on your own COCO-JSON, CSV or VOC-style data.

The recipe (its config as a short override of `TrainConfig`) lives in
`keras_retinanet/training/recipes/custom.py`; this script is `retinanet-train custom`.
Every config value is a flag: `python recipes/train_custom.py --help` (with the package
installed, e.g. `pip install -e .`), or `python -m recipes.train_custom --help` from the
repository root.
"""

import sys

from keras_retinanet.cli.train import main as train_main

RECIPE = "custom"


def main(argv: list[str] | None = None) -> int:
    """Runs the custom recipe with the given flags (default: the command line)."""
    return train_main([RECIPE, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
