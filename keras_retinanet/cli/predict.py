"""`retinanet-predict`: draws a `.keras` model's detections onto images and writes PNGs.

Example:
    retinanet-predict --model runs/shapes/last.keras --output-dir out photo.jpg images/

Each input image (files, or every image in a folder) is resized as in training, run through
the model, and drawn with its detections (box, class name and score) at its original size to
`<output-dir>/<name>.png`. `<output-dir>/detections.json` lists them: per image,
`[{"class": name, "class_id": c, "score": s, "box_yxyx": [ymin, xmin, ymax, xmax]}]` in
original-image pixels.
"""

from __future__ import annotations

import argparse
import colorsys
import json
import os
import sys
from collections.abc import Sequence

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont
import tensorflow as tf

from keras_retinanet.cli.config_flags import add_config_flags, apply_flags, explicit_values
from keras_retinanet.cli.model_files import default_resize, load_retinanet
from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.data.resize_and_pad import resize_and_pad
from keras_retinanet.evaluation import rescale_detections
from keras_retinanet.training.inference_config import InferenceConfig
from keras_retinanet.training.loader_factory import read_class_names

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
DEFAULT_SCORE_THRESHOLD = 0.3
RESIZE_PREFIX = "resize."
BOX_LINE_WIDTH_PX = 2
LABEL_FONT_SIZE_PX = 12
LABEL_PADDING_PX = 2
# Class colours: evenly spaced hues at this saturation and value.
COLOUR_SATURATION = 0.85
COLOUR_VALUE = 0.95
GOLDEN_RATIO_CONJUGATE = 0.618033988749895
DETECTIONS_FILE = "detections.json"


def class_colour(class_id: int) -> tuple[int, int, int]:
    """A distinct, stable RGB colour per class (hues spread by the golden ratio)."""
    hue = (class_id * GOLDEN_RATIO_CONJUGATE) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, COLOUR_SATURATION, COLOUR_VALUE)
    return int(red * 255), int(green * 255), int(blue * 255)


def draw_detections(
    image: np.ndarray,
    boxes_yxyx: np.ndarray,
    classes: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
) -> PIL.Image.Image:
    """Draws boxes with "name score" labels.

    Args:
        image: uint8 `[H, W, 3]` RGB.
        boxes_yxyx: float `[D, 4]` in `image` pixels.
        classes: int `[D]` class ids.
        scores: float `[D]`.
        class_names: name of each class id.

    Returns:
        A new RGB image.
    """
    canvas = PIL.Image.fromarray(image).convert("RGB")
    draw = PIL.ImageDraw.Draw(canvas)
    font = PIL.ImageFont.load_default(size=LABEL_FONT_SIZE_PX)
    for (ymin, xmin, ymax, xmax), class_id, score in zip(boxes_yxyx, classes, scores):
        colour = class_colour(int(class_id))
        draw.rectangle([xmin, ymin, xmax, ymax], outline=colour, width=BOX_LINE_WIDTH_PX)
        label = f"{class_names[int(class_id)]} {score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        height = bottom - top + 2 * LABEL_PADDING_PX
        label_top = ymin - height if ymin - height >= 0 else ymin
        draw.rectangle(
            [xmin, label_top, xmin + right - left + 2 * LABEL_PADDING_PX, label_top + height],
            fill=colour,
        )
        draw.text(
            (xmin + LABEL_PADDING_PX, label_top + LABEL_PADDING_PX - top),
            label,
            fill=(0, 0, 0),
            font=font,
        )
    return canvas


def list_images(inputs: Sequence[str]) -> list[str]:
    """Image files named directly or found (non-recursively) in the given folders."""
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            paths += sorted(
                os.path.join(item, name)
                for name in os.listdir(item)
                if name.lower().endswith(IMAGE_EXTENSIONS)
            )
        elif os.path.isfile(item):
            paths.append(item)
        else:
            raise FileNotFoundError(f"{item} is neither an image file nor a folder.")
    if not paths:
        raise FileNotFoundError(f"No images found in {list(inputs)}.")
    return paths


def predict_image(model, image: np.ndarray, resize: ResizeConfig) -> dict[str, np.ndarray]:
    """Detections of one image, boxes in its own pixels.

    Args:
        model: the RetinaNet (boxes come back in its `bounding_box_format`, must be "yxyx").
        image: uint8 `[H, W, 3]` RGB.
        resize: how the network input is made.

    Returns:
        `{"boxes": [D, 4] yxyx, "scores": [D], "classes": [D]}` of the valid detections.
    """
    prepared = resize_and_pad(tf.constant(image), None, **_resize_kwargs(resize))
    outputs = model.predict_on_batch(prepared.image[tf.newaxis])
    count = int(np.asarray(outputs["num_detections"])[0])
    boxes = rescale_detections(
        outputs["boxes"], prepared.scale[tf.newaxis], prepared.original_size[tf.newaxis]
    )
    return {
        "boxes": np.asarray(boxes)[0, :count],
        "scores": np.asarray(outputs["scores"])[0, :count],
        "classes": np.asarray(outputs["classes"])[0, :count].astype(np.int64),
    }


def _resize_kwargs(resize: ResizeConfig) -> dict:
    return {
        "mode": resize.mode,
        "shorter_side": resize.shorter_side,
        "max_longer_side": resize.max_longer_side,
        "pad_multiple": resize.pad_multiple,
        "size": resize.size,
        "fixed_padded_size": resize.fixed_padded_size,
        "method": resize.method,
    }


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `retinanet-predict`."""
    parser = argparse.ArgumentParser(
        prog="retinanet-predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", help="image files or folders of images")
    parser.add_argument("--model", required=True, help="the .keras model file")
    parser.add_argument("--output-dir", required=True, help="folder for the PNGs")
    parser.add_argument(
        "--score-threshold",
        type=float,
        default=DEFAULT_SCORE_THRESHOLD,
        help=f"draw detections scoring at least this (default: {DEFAULT_SCORE_THRESHOLD})",
    )
    parser.add_argument(
        "--class-names",
        default=None,
        help="class names: a JSON list or one name per line (default: inference_config.json "
        "beside the model, else class_<id>)",
    )
    add_config_flags(
        parser, None, prefix=RESIZE_PREFIX, cls=ResizeConfig, title="resize (ResizeConfig)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `retinanet-predict`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0.0 <= args.score_threshold <= 1.0:
        parser.error(f"--score-threshold must be in [0, 1]; got {args.score_threshold}")
    model = load_retinanet(args.model)
    if getattr(model, "bounding_box_format", "yxyx") != "yxyx":
        parser.error(f"the model predicts {model.bounding_box_format} boxes; expected yxyx")
    inference = InferenceConfig.find_for_model(args.model)
    try:
        resize = apply_flags(default_resize(model, inference), explicit_values(args, RESIZE_PREFIX))
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    if args.class_names:
        class_names = read_class_names(args.class_names)
    elif inference is not None:
        class_names = list(inference.class_names)
    else:
        class_names = [f"class_{c}" for c in range(model.num_classes)]
    if len(class_names) != model.num_classes:
        parser.error(f"{len(class_names)} class names for a model of {model.num_classes} classes")

    os.makedirs(args.output_dir, exist_ok=True)
    summary = {}
    used_names: set[str] = set()
    for path in list_images(args.inputs):
        image = np.asarray(PIL.Image.open(path).convert("RGB"))
        detections = predict_image(model, image, resize)
        keep = detections["scores"] >= args.score_threshold
        boxes = detections["boxes"][keep]
        classes = detections["classes"][keep]
        scores = detections["scores"][keep]
        name = os.path.splitext(os.path.basename(path))[0]
        while name in used_names:
            name += "_"
        used_names.add(name)
        output = os.path.join(args.output_dir, f"{name}.png")
        draw_detections(image, boxes, classes, scores, class_names).save(output)
        summary[path] = [
            {
                "class": class_names[int(c)],
                "class_id": int(c),
                "score": float(s),
                "box_yxyx": [float(v) for v in b],
            }
            for b, c, s in zip(boxes, classes, scores)
        ]
        print(f"{path}: {len(scores)} detections -> {output}")
    with open(os.path.join(args.output_dir, DETECTIONS_FILE), "w", encoding="utf-8") as file:
        json.dump(summary, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
