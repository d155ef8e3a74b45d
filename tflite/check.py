"""Runs an exported .tflite through every client a user deploys it with and compares them.

Example:
    python tflite/check.py m.tflite --data shapes:8:320 --model m.keras

LiteRT with its default delegate (XNNPACK) and with the builtin kernels on 1, 2, 3, 4, 6 and
8 threads, and MediaPipe Tasks' ObjectDetector when `mediapipe` is installed: the file must
load in each and give the same detections. With `--model`, the per-class recall of the
Keras model's detections (same NMS flavour) names any class the file loses. Exits 1 when a
client refuses the file or disagrees.
"""

from __future__ import annotations

import argparse
import itertools
import sys

import keras
import numpy as np
from dataset_spec import CALIBRATION_HELP, calibration_images

from keras_retinanet.export.conformance_check import (
    DEFAULT_MIN_SCORE,
    DEFAULT_THREAD_COUNTS,
    check_conformance,
)

DEFAULT_NUM_IMAGES = 8


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_path", help="the .tflite to check")
    parser.add_argument("--data", required=True, help=f"images to run: {CALIBRATION_HELP}")
    parser.add_argument("--num-images", type=int, default=DEFAULT_NUM_IMAGES)
    parser.add_argument("--model", help="the .keras the file was exported from (per-class recall)")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=list(DEFAULT_THREAD_COUNTS), metavar="T"
    )
    parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE)
    parser.add_argument(
        "--no-mediapipe", action="store_true", help="skip MediaPipe even when installed"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    source, _ = calibration_images(args.data)
    images = [np.asarray(image) for image in itertools.islice(source, args.num_images)]
    keras_model = keras.models.load_model(args.model) if args.model else None
    report = check_conformance(
        args.model_path,
        images,
        thread_counts=args.threads,
        keras_model=keras_model,
        use_mediapipe=False if args.no_mediapipe else None,
        min_score=args.min_score,
    )
    print(report.summary())
    missing = report.missing_classes()
    if missing:
        print(f"classes the file loses against the Keras model: {missing}")
    return 0 if report.ok and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
