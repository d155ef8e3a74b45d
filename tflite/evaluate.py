"""COCO box mAP of a .tflite detector, run with LiteRT, scored like the Keras model.

Example:
    python tflite/evaluate.py m_int8.tflite --data coco:val/annotations.json \
        --compare-keras m.keras

Each image is letterboxed to the model's input (as `TFLiteDetector.detect`), detections
are mapped back to the original pixels and scored by `CocoEvaluator` (pycocotools).
`--compare-keras` evaluates the float Keras model on the same letterboxed pixels.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from dataset_spec import HELP, parse_detection_dataset

from keras_retinanet.export import TFLiteDetector
from keras_retinanet.export.detector_evaluation import (
    evaluate_detector_on_elements,
    keras_letterbox_detector,
)

METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the .tflite to evaluate")
    parser.add_argument("--data", required=True, metavar="SPEC", help=f"evaluation data: {HELP}")
    parser.add_argument("--max-images", type=int, help="evaluate only the first images")
    parser.add_argument("--threads", type=int, default=None, help="LiteRT CPU threads")
    parser.add_argument(
        "--compare-keras", metavar="MODEL.keras", help="also evaluate this Keras model"
    )
    parser.add_argument("--json", help="write the metrics as JSON here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dataset = parse_detection_dataset(args.data)
    detector = TFLiteDetector(args.model, num_threads=args.threads)
    results = {}
    start = time.perf_counter()
    results["tflite"] = evaluate_detector_on_elements(
        detector.detect,
        dataset.as_dataset(),
        dataset.class_names,
        dataset.category_ids,
        max_images=args.max_images,
    )
    seconds = time.perf_counter() - start
    if args.compare_keras:
        import keras

        model = keras.models.load_model(args.compare_keras)
        round_pixels = detector.input_dtype.kind in "ui"
        results["keras"] = evaluate_detector_on_elements(
            # Same NMS flavour as the file, so the gap is the conversion's alone.
            keras_letterbox_detector(
                model,
                detector.input_size,
                round_to_uint8=round_pixels,
                class_wise_nms=detector.uses_regular_nms,
            ),
            dataset.as_dataset(),
            dataset.class_names,
            dataset.category_ids,
            max_images=args.max_images,
        )

    header = f"{'model':8s}" + "".join(f"{name:>8s}" for name in METRIC_NAMES)
    print(header)
    for name, metrics in results.items():
        print(f"{name:8s}" + "".join(f"{100 * metrics[m]:8.2f}" for m in METRIC_NAMES))
    if "keras" in results:
        drop = 100 * (results["keras"]["AP"] - results["tflite"]["AP"])
        print(f"AP drop of the .tflite vs Keras: {drop:.2f} points")
    print(f"({detector.input_size[0]}x{detector.input_size[1]}, {seconds:.1f} s for the .tflite)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(results, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
