"""`retinanet-evaluate`: COCO box mAP of a `.keras` model on any loader's data.

Example:
    retinanet-evaluate --model runs/shapes/last.keras --data.format shapes \
        --data.num_images 128 --data.image_size 128 --data.seed 1

Images are resized as in training (`inference_config.json` beside the model) unless
`--resize.*` flags say otherwise. Writes the detections as a COCO results JSON and the
metrics as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from keras_retinanet.cli.config_flags import add_config_flags, apply_flags, explicit_values
from keras_retinanet.cli.model_files import default_resize, load_retinanet
from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.training.coco_evaluation import evaluate_coco
from keras_retinanet.training.inference_config import InferenceConfig
from keras_retinanet.training.loader_factory import build_loader
from keras_retinanet.training.train_config import DEFAULT_EVAL_BATCH_SIZE, DatasetSpec

DATA_PREFIX = "data."
RESIZE_PREFIX = "resize."


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `retinanet-evaluate`."""
    parser = argparse.ArgumentParser(
        prog="retinanet-evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="the .keras model file")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_EVAL_BATCH_SIZE)
    parser.add_argument("--max-images", type=int, default=None, help="evaluate the first N")
    parser.add_argument(
        "--results",
        default=None,
        help="COCO results JSON to write (default: <model>_detections.json)",
    )
    parser.add_argument(
        "--metrics", default=None, help="metrics JSON to write (default: <model>_metrics.json)"
    )
    add_config_flags(parser, None, prefix=DATA_PREFIX, cls=DatasetSpec, title="data (DatasetSpec)")
    add_config_flags(
        parser, None, prefix=RESIZE_PREFIX, cls=ResizeConfig, title="resize (ResizeConfig)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `retinanet-evaluate`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    data_values = explicit_values(args, DATA_PREFIX)
    if not data_values:
        parser.error("name the data with --data.format and its fields (see --help)")
    try:
        spec = apply_flags(None, data_values, DatasetSpec)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    model = load_retinanet(args.model)
    resize = default_resize(model, InferenceConfig.find_for_model(args.model))
    try:
        resize = apply_flags(resize, explicit_values(args, RESIZE_PREFIX))
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    stem = os.path.splitext(args.model)[0]
    results_path = args.results or f"{stem}_detections.json"
    metrics_path = args.metrics or f"{stem}_metrics.json"
    metrics = evaluate_coco(
        model,
        build_loader(spec),
        resize,
        batch_size=args.batch_size,
        max_images=args.max_images,
        results_path=results_path,
        verbose=True,
    )
    with open(metrics_path, "w", encoding="utf-8") as file:
        json.dump(metrics, file, indent=2)
    print(" ".join(f"{name}={value:.4f}" for name, value in metrics.items()))
    print(f"detections: {results_path}\nmetrics: {metrics_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
