"""Runs a .tflite detector on one image and draws the boxes with their labels.

Example:
    python tflite/detect.py m_int8.tflite photo.jpg --out drawn.png

Uses LiteRT (with the Coral Edge TPU delegate when libedgetpu is installed); class names
come from the labels file next to the model (`m_int8.labels.txt`).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import PIL.Image
import PIL.ImageDraw
from dataset_spec import read_rgb

from keras_retinanet.export import TFLiteDetector

DEFAULT_MIN_SCORE = 0.3
BOX_WIDTH_PX = 2
# Colours cycled over the classes (RGB).
PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
)
TEXT_COLOUR = (255, 255, 255)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the .tflite detector")
    parser.add_argument("image", help="an image file (any size; letterboxed to the input)")
    parser.add_argument("--out", required=True, help="where to write the drawn image")
    parser.add_argument(
        "--min-score", type=float, default=DEFAULT_MIN_SCORE, help="draw detections above this"
    )
    parser.add_argument("--threads", type=int, default=None, help="LiteRT CPU threads")
    parser.add_argument("--cpu-only", action="store_true", help="never use the Edge TPU")
    return parser


def draw_detections(
    image: np.ndarray, detections: dict, labels: list[str], min_score: float
) -> tuple[PIL.Image.Image, list[str]]:
    """Draws yxyx pixel boxes with "label score" captions; returns the image and captions."""
    canvas = PIL.Image.fromarray(np.asarray(image, np.uint8))
    draw = PIL.ImageDraw.Draw(canvas)
    captions = []
    count = int(np.asarray(detections["num_detections"]).reshape(-1)[0])
    for box, score, label in zip(
        detections["boxes"][0][:count],
        detections["scores"][0][:count],
        detections["classes"][0][:count],
    ):
        if score < min_score:
            continue
        ymin, xmin, ymax, xmax = (float(v) for v in box)
        name = labels[label] if 0 <= label < len(labels) else str(int(label))
        colour = PALETTE[int(label) % len(PALETTE)]
        caption = f"{name} {score:.2f}"
        draw.rectangle([xmin, ymin, xmax, ymax], outline=colour, width=BOX_WIDTH_PX)
        left, top, right, bottom = draw.textbbox((xmin, ymin), caption)
        draw.rectangle([left, top, right, bottom], fill=colour)
        draw.text((xmin, ymin), caption, fill=TEXT_COLOUR)
        captions.append(f"{caption} at yxyx ({ymin:.0f}, {xmin:.0f}, {ymax:.0f}, {xmax:.0f})")
    return canvas, captions


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    detector = TFLiteDetector(
        args.model, num_threads=args.threads, use_edgetpu=False if args.cpu_only else None
    )
    image = read_rgb(args.image)
    detections = detector.detect(image)
    canvas, captions = draw_detections(image, detections, detector.labels, args.min_score)
    canvas.save(args.out)
    device = "Edge TPU" if detector.uses_edgetpu else "CPU"
    print(f"{len(captions)} detection(s) with score >= {args.min_score} ({device}):")
    for caption in captions:
        print(f"  {caption}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
