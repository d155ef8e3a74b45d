"""Reproduce the focal-loss paper's ablations (Table 1a-d, the prior, Figure 4) on any data.

Default: every table on the generated shapes data, each run the `shapes` recipe's model cut
to 300 steps of 8 images of 64 px (21 distinct runs, 2-4 minutes each on a shared 2-core CPU,
about 50 minutes in all). Writes `<table>.md/.csv/.json`,
`ablations.md`, `results.json`, `loss_cdf.png` (Figure 4) and `runs/<run key>/` into
`--output_dir`. A finished run is reused when the grid is started again with the same base
config, so an interrupted grid continues.

Examples (from the repository root; `python recipes/ablate.py` once the package is
installed):
    python -m recipes.ablate --smoke --output_dir /tmp/ablate_smoke     # ~2 CPU minutes
    nice -n 10 python -m recipes.ablate --output_dir runs/ablations      # docs/ablations.md
    python -m recipes.ablate --tables gamma,ohem --steps 2000
    python -m recipes.ablate --tables gamma --base.data.train.format coco_json \\
        --base.data.train.path train.json --base.data.train.image_dir train/ \\
        --base.data.eval.format coco_json --base.data.eval.path val.json \\
        --base.data.eval.image_dir val/

Every field of `AblationConfig` is a flag, those of the base training run under `--base.`
(`--base.model.preset`, `--base.data.global_batch_size`, ...; see --help).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence

# Quiet TensorFlow's C++ start-up logs before it is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_retinanet.ablation import (
    AblationConfig,
    run_ablations,
    shapes_ablation_config,
    smoke_ablation_config,
)
from keras_retinanet.cli.config_flags import (
    add_config_flags,
    apply_flags,
    explicit_values,
    load_overrides,
)
from keras_retinanet.training.runtime_setup import setup_runtime
from keras_retinanet.training.train_config import config_to_dict, with_total_steps

SMOKE_OUTPUT_DIR = "runs/ablations_smoke"
_OUTPUT_DIR_PATH = "output_dir"


def with_steps(config: AblationConfig, steps: int) -> AblationConfig:
    """`config` with `steps` training steps per run (`with_total_steps` on its base run)."""
    return dataclasses.replace(config, base=with_total_steps(config.base, steps))


def build_config(argv: Sequence[str]) -> tuple[AblationConfig, argparse.Namespace]:
    """The ablation config from the command line (defaults, --smoke, --steps, flags)."""
    default = shapes_ablation_config()
    parser = argparse.ArgumentParser(
        prog="ablate",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a few steps of a tiny model on 64 px images (tests); output in {SMOKE_OUTPUT_DIR}",
    )
    parser.add_argument("--steps", type=int, help="training steps of every run")
    parser.add_argument(
        "--config", metavar="JSON", help="a JSON file of overrides (like --print-config)"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )
    add_config_flags(parser, default, title="config (AblationConfig)")
    namespace = parser.parse_args(list(argv))
    values = load_overrides(namespace.config) if namespace.config else {}
    values.update(explicit_values(namespace))
    try:
        config = default
        if namespace.smoke:
            config = smoke_ablation_config(values.get(_OUTPUT_DIR_PATH, SMOKE_OUTPUT_DIR))
        if namespace.steps is not None:
            config = with_steps(config, namespace.steps)
        config = apply_flags(config, values)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    return config, namespace


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ablation grid; prints where the tables went."""
    config, namespace = build_config(sys.argv[1:] if argv is None else argv)
    if namespace.print_config:
        print(json.dumps(config_to_dict(config), indent=2))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    strategy = setup_runtime(config.base.runtime)
    report = run_ablations(config, strategy)
    print(f"Tables: {report.summary_path}")
    for name, paths in report.table_paths.items():
        print(f"  {name}: {paths['md']}")
    if report.figure_path:
        print(f"Figure 4: {report.figure_path}")
    return 0


__all__ = ["build_config", "main", "with_steps"]

if __name__ == "__main__":
    sys.exit(main())
