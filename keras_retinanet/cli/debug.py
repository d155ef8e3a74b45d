"""`retinanet-debug`: which boxes of a dataset get no positive anchor, per object size.

A detector whose small objects never get an anchor at IoU >= 0.5 trains on them only through
the low-quality match (or not at all) and scores ~0 AP on them. This command resizes every
box as the input pipeline does, matches it against the anchors of a preset, a recipe or a
saved model, and prints per size bucket how many boxes have no anchor at the foreground IoU,
how many are rescued only by the low-quality match, and how many are never positive.

Examples:
    retinanet-debug --recipe shapes
    retinanet-debug --preset retinanet_resnet50_fpn --data.format coco_json \
        --data.path instances_val2017.json --data.image_dir val2017 --max-images 500
    retinanet-debug --model runs/shapes/last.keras --data.format shapes \
        --data.num_images 64 --data.image_size 128 --data.seed 1
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from collections.abc import Sequence

from keras_retinanet.cli.config_flags import add_config_flags, apply_flags, explicit_values
from keras_retinanet.cli.model_files import default_resize, load_retinanet
from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.data.resize_and_pad import LETTERBOX
from keras_retinanet.models.retinanet import default_anchor_generator
from keras_retinanet.presets import PRESETS
from keras_retinanet.training.anchor_coverage import (
    STATUS_OK,
    analyze_anchor_coverage,
    describe_anchors,
)
from keras_retinanet.training.inference_config import InferenceConfig
from keras_retinanet.training.loader_factory import build_loader
from keras_retinanet.training.model_builder import model_overrides
from keras_retinanet.training.recipes import RECIPES, get_recipe
from keras_retinanet.training.train_config import PAPER_PRESET, DatasetSpec, ModelConfig

DATA_PREFIX = "data."
RESIZE_PREFIX = "resize."
SPLITS = ("train", "eval")
DEFAULT_WORST_BOXES = 10


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `retinanet-debug`."""
    parser = argparse.ArgumentParser(
        prog="retinanet-debug",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("anchors (one of; default: the paper's preset)")
    source.add_argument("--recipe", choices=sorted(RECIPES), help="a training recipe")
    source.add_argument("--preset", choices=sorted(PRESETS), help="a model preset")
    source.add_argument("--model", help="a saved .keras model")
    source.add_argument(
        "--anchor-sizes",
        default=None,
        help="comma-separated base anchor sizes per level (overrides the recipe / preset)",
    )
    source.add_argument("--max-level", type=int, default=None, help="highest pyramid level")
    source.add_argument("--foreground-iou", type=float, default=None)
    source.add_argument("--background-iou", type=float, default=None)
    parser.add_argument(
        "--split", choices=SPLITS, default="train", help="the recipe's split (with --recipe)"
    )
    parser.add_argument("--max-images", type=int, default=None, help="analyse the first N")
    parser.add_argument(
        "--worst",
        type=int,
        default=DEFAULT_WORST_BOXES,
        help="list this many boxes without an anchor at the foreground IoU, smallest best IoU "
        "first",
    )
    parser.add_argument("--json", default=None, help="write the full report here")
    add_config_flags(parser, None, prefix=DATA_PREFIX, cls=DatasetSpec, title="data (DatasetSpec)")
    add_config_flags(
        parser, None, prefix=RESIZE_PREFIX, cls=ResizeConfig, title="resize (ResizeConfig)"
    )
    return parser


def _anchor_setup(args, parser):
    """`(anchor_generator, foreground_iou, background_iou, resize, data spec or None)`."""
    if sum(x is not None for x in (args.recipe, args.preset, args.model)) > 1:
        parser.error("give at most one of --recipe, --preset and --model")
    spec = None
    if args.model:
        if args.anchor_sizes or args.max_level is not None:
            parser.error("--anchor-sizes / --max-level do not apply to a saved --model")
        model = load_retinanet(args.model)
        matcher = model.box_matcher
        resize = default_resize(model, InferenceConfig.find_for_model(args.model))
        return (
            model.anchor_generator,
            matcher.foreground_iou_threshold,
            matcher.background_iou_threshold,
            resize,
            spec,
        )
    if args.recipe:
        config = get_recipe(args.recipe).build()
        model_config = config.model
        resize = config.data.resize
        spec = config.data.train if args.split == "train" else config.data.eval
    else:
        model_config = ModelConfig(preset=args.preset or PAPER_PRESET)
        side = model_config.resolved_image_size
        resize = ResizeConfig(mode=LETTERBOX, size=side) if side else ResizeConfig()
    changes = {}
    if args.anchor_sizes:
        changes["anchor_sizes"] = tuple(float(s) for s in args.anchor_sizes.split(","))
    if args.max_level is not None:
        changes["max_level"] = args.max_level
    try:
        model_config = dataclasses.replace(model_config, **changes)
    except ValueError as error:
        parser.error(str(error))
    generator = model_overrides(model_config).get("anchor_generator") or default_anchor_generator(
        model_config.resolved_max_level
    )
    return (
        generator,
        model_config.foreground_iou_threshold,
        model_config.background_iou_threshold,
        resize,
        spec,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `retinanet-debug`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    generator, foreground, background, resize, spec = _anchor_setup(args, parser)
    foreground = args.foreground_iou if args.foreground_iou is not None else foreground
    background = args.background_iou if args.background_iou is not None else background
    try:
        data_values = explicit_values(args, DATA_PREFIX)
        if data_values:
            spec = apply_flags(None, data_values, DatasetSpec)
        resize = apply_flags(resize, explicit_values(args, RESIZE_PREFIX))
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    if spec is None:
        parser.error("name the data with --data.format and its fields, or use --recipe")
    loader = build_loader(spec)
    records = itertools.islice(loader.records(), args.max_images)
    report = analyze_anchor_coverage(
        records,
        generator,
        resize,
        foreground_iou_threshold=foreground,
        background_iou_threshold=background,
        description=describe_anchors(generator, resize) + f"; positive IoU >= {foreground:g}",
    )
    print(report.format_table())
    worst = sorted(
        (box for box in report.boxes if box.status != STATUS_OK), key=lambda b: b.best_iou
    )[: args.worst]
    if worst:
        print(f"\nboxes without an anchor at IoU >= {foreground:g} (smallest best IoU first):")
        for box in worst:
            coordinates = ", ".join(f"{v:.1f}" for v in box.box_yxyx)
            print(
                f"  image {box.image_id}: box yxyx ({coordinates}) size {box.size_px:.1f} px, "
                f"best IoU {box.best_iou:.2f}, {box.status}"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report.to_dict(), file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
