"""Exports a trained RetinaNet (.keras) to a .tflite with LiteRT's detection post-process.

Example:
    python tflite/export.py --model m.keras --size 320 --quantize int8 --out m.tflite \
        --calibration-data coco:val/annotations.json --num-calibration-images 200

Writes the model (with TFLite Model Metadata: MediaPipe Tasks and the Task Library read
it), its labels file (`m.labels.txt`, for pycoral and other clients) and prints what was
written (inputs, outputs, op counts, layers kept in float, XNNPACK fixes). `--report-json`
also saves that as JSON. `tflite/check.py m.tflite` then runs it in every client.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import keras
from dataset_spec import CALIBRATION_HELP, calibration_images

from keras_retinanet.export import (
    QUANTIZATION_MODES,
    ExportError,
    check_edgetpu_readiness,
    export_tflite,
)
from keras_retinanet.export.quantization_fallback import DEFAULT_ERROR_RATIO_THRESHOLD
from keras_retinanet.export.tflite_exporter import (
    AUTO_FALLBACK,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_NUM_CALIBRATION_IMAGES,
)

NO_FALLBACK = "none"
NMS_MODEL, NMS_CLASS_WISE, NMS_FAST = "model", "class-wise", "fast"
_USE_REGULAR_NMS = {NMS_MODEL: None, NMS_CLASS_WISE: True, NMS_FAST: False}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="trained model (.keras)")
    parser.add_argument("--out", required=True, help="the .tflite to write")
    parser.add_argument(
        "--size",
        type=int,
        nargs="+",
        default=[DEFAULT_IMAGE_SIZE],
        metavar="PX",
        help="static input size: one int (square) or H W (default %(default)s)",
    )
    parser.add_argument(
        "--quantize", choices=QUANTIZATION_MODES, default="float32", help="quantization mode"
    )
    parser.add_argument(
        "--calibration-data",
        metavar="SPEC",
        help=f"int8 calibration images: {CALIBRATION_HELP}",
    )
    parser.add_argument(
        "--num-calibration-images", type=int, default=DEFAULT_NUM_CALIBRATION_IMAGES
    )
    parser.add_argument(
        "--labels", help="file with one class name per line (default: the calibration data's)"
    )
    parser.add_argument(
        "--float-fallback",
        default=NO_FALLBACK,
        help=f"int8: '{NO_FALLBACK}', '{AUTO_FALLBACK}' (keep layers whose int8 error reaches "
        "--fallback-error-ratio steps in float) or comma-separated tensor names / op types",
    )
    parser.add_argument("--fallback-error-ratio", type=float, default=DEFAULT_ERROR_RATIO_THRESHOLD)
    parser.add_argument(
        "--nms",
        choices=(NMS_MODEL, NMS_CLASS_WISE, NMS_FAST),
        default=NMS_MODEL,
        help="NMS inside the file: the model decoder's flavour (class-wise by default), "
        "class-wise (correct on 1-8 LiteRT threads), or fast (class-agnostic, cheaper with "
        "many classes; a box may suppress another class's box)",
    )
    parser.add_argument("--max-detections", type=int, help="default: the model decoder's")
    parser.add_argument(
        "--detections-per-class",
        type=int,
        help="class-wise NMS: boxes kept per class (default: --max-detections)",
    )
    parser.add_argument(
        "--no-metadata",
        action="store_true",
        help="do not write TFLite Model Metadata (MediaPipe / Task Library need it)",
    )
    parser.add_argument("--score-threshold", type=float, help="default: the model decoder's")
    parser.add_argument("--iou-threshold", type=float, help="default: the model decoder's")
    parser.add_argument("--report-json", help="also write the export report as JSON here")
    parser.add_argument(
        "--edgetpu-report",
        action="store_true",
        help="int8: print the full Edge TPU readiness report (every op with its dtypes)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if len(args.size) not in (1, 2):
        parser.error("--size takes one int (square) or H W")
    if args.quantize == "int8" and not args.calibration_data:
        parser.error("--quantize int8 needs --calibration-data (images to calibrate on)")
    image_size = args.size[0] if len(args.size) == 1 else tuple(args.size)

    labels = None
    representative = None
    if args.calibration_data:
        representative, labels = calibration_images(args.calibration_data)
    if args.labels:
        with open(args.labels, encoding="utf-8") as file:
            labels = [line.strip() for line in file if line.strip()]

    fallback = None
    if args.float_fallback == AUTO_FALLBACK:
        fallback = AUTO_FALLBACK
    elif args.float_fallback != NO_FALLBACK:
        fallback = [name.strip() for name in args.float_fallback.split(",") if name.strip()]

    model = keras.models.load_model(args.model)
    try:
        report = export_tflite(
            model,
            args.out,
            image_size=image_size,
            quantization=args.quantize,
            representative_images=representative,
            num_calibration_images=args.num_calibration_images,
            labels=labels,
            use_regular_nms=_USE_REGULAR_NMS[args.nms],
            max_detections=args.max_detections,
            detections_per_class=args.detections_per_class,
            metadata=not args.no_metadata,
            score_threshold=args.score_threshold,
            iou_threshold=args.iou_threshold,
            float_fallback=fallback,
            fallback_error_ratio=args.fallback_error_ratio,
        )
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    if report.quantization == "int8":
        readiness = check_edgetpu_readiness(report.path)
        if args.edgetpu_report:
            print(readiness.report())
        else:
            print("Edge TPU readiness:", "\n".join(readiness.verdict()))
    if report.layer_errors:
        print("largest per-layer int8 errors (RMSE in quantization steps):")
        for error in report.layer_errors[:10]:
            print(f"  {error}")
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as file:
            json.dump(dataclasses.asdict(report), file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
