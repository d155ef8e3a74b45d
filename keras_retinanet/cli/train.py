"""`retinanet-train RECIPE [--field value ...]`: trains any recipe; every config value is a flag.

Examples:
    retinanet-train --list
    retinanet-train shapes --checkpoint.model_dir runs/shapes
    retinanet-train coco --data_dir ~/tensorflow_datasets --data.global_batch_size 32
    retinanet-train coco --print-config > coco.json   # edit, then: --config coco.json

Killing a run and starting the same command again resumes it from its last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from keras_retinanet.cli.config_flags import (
    add_aliases,
    add_config_flags,
    apply_flags,
    config_fields,
    explicit_values,
    load_overrides,
    resolve_aliases,
)
from keras_retinanet.training.recipes import RECIPES, get_recipe
from keras_retinanet.training.runtime_setup import setup_runtime
from keras_retinanet.training.train_config import (
    TOTAL_STEPS_DEPENDENTS,
    TrainConfig,
    config_to_dict,
    derived_from_total_steps,
)
from keras_retinanet.training.trainer import train

PROG = "retinanet-train"
TOTAL_STEPS = "schedule.total_steps"
CHECKPOINT_EVERY = "checkpoint.every_n_steps"


def _recipe_list() -> str:
    lines = ["recipes:"]
    for name, recipe in RECIPES.items():
        first_line = recipe.description.strip().splitlines()[0]
        lines.append(f"  {name:<12} {first_line}")
    return "\n".join(lines)


def build_config(recipe_name: str, argv: Sequence[str]) -> tuple[TrainConfig, argparse.Namespace]:
    """The recipe's config with the command-line overrides applied.

    Args:
        recipe_name: a key of `RECIPES`.
        argv: the arguments after the recipe name.

    Returns:
        `(config, parsed arguments)`; exits with a usage error for a bad flag or value.
    """
    recipe = get_recipe(recipe_name)
    default = recipe.build()
    parser = argparse.ArgumentParser(
        prog=f"{PROG} {recipe_name}",
        usage="%(prog)s [--config JSON] [--print-config] [--<config.field> VALUE ...]",
        description=recipe.description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        metavar="JSON",
        help="a JSON file of overrides (nested like --print-config writes); flags win",
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config as JSON and exit"
    )
    add_config_flags(parser, default, title="config (TrainConfig)")
    fields = {path: hint for path, hint, _, _ in config_fields(TrainConfig)}
    add_aliases(parser, recipe.aliases, fields)
    namespace = parser.parse_args(list(argv))
    values = load_overrides(namespace.config) if namespace.config else {}
    values.update(explicit_values(namespace))
    values.update(resolve_aliases(namespace, recipe.aliases))
    try:
        values = _with_derived_values(default, values)
        config = apply_flags(default, values)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    return config, namespace


def _with_derived_values(default: TrainConfig, values: dict) -> dict:
    """`values` plus what follows from a `schedule.total_steps` the user set.

    Warmup, step boundaries, checkpoint and evaluation intervals not set by the user are
    derived from the new length (`derived_from_total_steps`); the changes are printed to
    stderr (stdout may carry `--print-config`'s JSON).
    """
    steps = values.get(TOTAL_STEPS)
    if steps is None or steps == default.schedule.total_steps:
        return values
    derived = derived_from_total_steps(default, steps, values.get(CHECKPOINT_EVERY))
    changes = []
    for path in TOTAL_STEPS_DEPENDENTS:
        section, name = path.split(".")
        before = getattr(getattr(default, section), name)
        if path not in values and derived[path] != before:
            values = {**values, path: derived[path]}
            changes.append(f"--{path} {_flag_text(derived[path])} (was {_flag_text(before)})")
    if changes:
        print(
            f"{PROG}: from --{TOTAL_STEPS} {steps}: " + ", ".join(changes),
            file=sys.stderr,
        )
    return values


def _flag_text(value) -> str:
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value) or "''"
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `retinanet-train`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print(__doc__.strip())
        print()
        print(_recipe_list())
        print(f"\n`{PROG} RECIPE --help` lists every flag of a recipe.")
        return 0
    config, namespace = build_config(argv[0], argv[1:])
    if namespace.print_config:
        print(json.dumps(config_to_dict(config), indent=2))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    strategy = setup_runtime(config.runtime)
    result = train(config, strategy)
    print(
        f"trained steps {result.initial_step} -> {result.final_step}; "
        f"model: {result.last_model_path}; metrics: {result.metrics}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
