"""COCO box mAP of a .tflite detector, run with LiteRT, scored like the Keras model.

Example:
    python tflite/evaluate.py m_int8.tflite --data coco:val/annotations.json \
        --compare-keras m.keras

Each image is letterboxed to the model's input (as `TFLiteDetector.detect`), detections
are mapped back to the original pixels and scored by `CocoEvaluator` (pycocotools).
The ground truth is the loader's records, as `retinanet-evaluate` builds it: objects are
sorted into small / medium / large by their annotation area (COCO's segmentation area,
the shapes' visible pixels), not by their box area.
`--compare-keras` evaluates the float Keras model on the same letterboxed pixels.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator

from dataset_spec import HELP, parse_detection_dataset

from keras_retinanet.data.detection_dataset import DetectionDataset
from keras_retinanet.export import TFLiteDetector
from keras_retinanet.export.detector_evaluation import (
    Detector,
    evaluate_detector_on_elements,
    keras_letterbox_detector,
)

METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")


def elements_with_annotation_areas(dataset: DetectionDataset) -> Iterator[dict]:
    """The loader's elements (NumPy) with `"area"`: float32 `[N]` from its records.

    The records' areas are what `retinanet-evaluate`'s ground truth uses
    (`coco_evaluator_for`); the elements alone carry none, and the box areas would sort
    objects into other size ranges.

    Raises:
        ValueError: the records and the elements disagree on an image or its objects.
    """
    records = dataset.records()
    for element in dataset.as_dataset().as_numpy_iterator():
        record = next(records, None)
        if record is None or record.image_id != int(element["image_id"]):
            raise ValueError(
                f"The loader's records and elements disagree at image {element['image_id']}."
            )
        if len(record.area) != len(element["classes"]):
            raise ValueError(f"Image {record.image_id}: areas and objects differ in number.")
        yield {**element, "area": record.area}


def evaluate_on_dataset(
    detect: Detector, dataset: DetectionDataset, max_images: int | None = None
) -> dict[str, float]:
    """COCO box mAP of a one-image detector on a loader, with the annotation areas."""
    return evaluate_detector_on_elements(
        detect,
        elements_with_annotation_areas(dataset),
        dataset.class_names,
        dataset.category_ids,
        max_images=max_images,
    )


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
    results["tflite"] = evaluate_on_dataset(detector.detect, dataset, args.max_images)
    seconds = time.perf_counter() - start
    if args.compare_keras:
        import keras

        model = keras.models.load_model(args.compare_keras)
        round_pixels = detector.input_dtype.kind in "ui"
        # Same NMS flavour as the file, so the gap is the conversion's alone.
        keras_detect = keras_letterbox_detector(
            model,
            detector.input_size,
            round_to_uint8=round_pixels,
            class_wise_nms=detector.uses_regular_nms,
        )
        results["keras"] = evaluate_on_dataset(keras_detect, dataset, args.max_images)

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
