"""The end-to-end demo (`make demo`): data -> training -> COCO mAP -> PNG -> int8 .tflite.

On a fresh CPU machine, offline:

1. generates the shapes dataset (a training split and a held-out split, different seeds);
2. trains the `shapes` recipe's RetinaNet from random initialisation with `model.fit`
   (through `keras_retinanet.training.train`, the same code path as every recipe);
3. prints COCO mAP of the final model on the held-out split (pycocotools);
4. draws the detections of a few held-out images into `detections.png`;
5. exports the model to an int8 `.tflite` with the built-in NMS op (class-agnostic, the
   export default), calibrated on training images, and scores that file with LiteRT on
   the same held-out split, beside the float Keras model with the same NMS;
6. writes everything measured to `summary.json`.

Every step's time is printed. `python recipes/demo.py --help` lists the knobs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

# Quiet TensorFlow's C++ start-up logs before it is imported.
# 3, not 2: level 2 still prints "E0000 ... failed call to cuInit" on a CPU machine.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import PIL.Image

from keras_retinanet.cli.predict import draw_detections
from keras_retinanet.data import ShapesDataset
from keras_retinanet.export import TFLiteDetector, export_tflite
from keras_retinanet.export.detector_evaluation import (
    evaluate_detector_on_elements,
    keras_letterbox_detector,
)
from keras_retinanet.training import train
from keras_retinanet.training.recipes.shapes import shapes_config
from keras_retinanet.training.runtime_setup import setup_runtime
from keras_retinanet.training.train_config import with_total_steps

DEFAULT_OUTPUT_DIR = "demo_output"
PNG_IMAGES = 6  # held-out images drawn into detections.png (one row)
PNG_SCORE_THRESHOLD = 0.3  # detections drawn on the PNG
CALIBRATION_IMAGES = 200
TFLITE_THREADS = 2
METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")


def build_parser() -> argparse.ArgumentParser:
    defaults = shapes_config()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    parser.add_argument(
        "--steps", type=int, default=defaults.schedule.total_steps, help="training steps"
    )
    parser.add_argument(
        "--train-images",
        type=int,
        default=defaults.data.train.num_images,
        help="generated training images",
    )
    parser.add_argument(
        "--eval-images",
        type=int,
        default=defaults.data.eval.num_images,
        help="generated held-out images",
    )
    parser.add_argument(
        "--calibration-images",
        type=int,
        default=CALIBRATION_IMAGES,
        help="training images that calibrate the int8 export",
    )
    parser.add_argument("--no-export", action="store_true", help="skip the .tflite export")
    parser.add_argument(
        "--results-json",
        default=None,
        help="also write the summary here (benchmarks/results/demo_summary.json is the "
        "committed one that README's demo figures cite)",
    )
    return parser


def demo_config(args: argparse.Namespace):
    """The shapes recipe with the demo's sizes and output folder."""
    config = with_total_steps(shapes_config(), args.steps)
    data = dataclasses.replace(
        config.data,
        train=dataclasses.replace(config.data.train, num_images=args.train_images),
        eval=dataclasses.replace(config.data.eval, num_images=args.eval_images),
    )
    return dataclasses.replace(
        config,
        data=data,
        checkpoint=dataclasses.replace(
            config.checkpoint, model_dir=os.path.join(args.output_dir, "run"), resume=False
        ),
        evaluation=dataclasses.replace(config.evaluation, every_n_steps=0, at_end=True),
    )


def draw_png(model: keras.Model, dataset: ShapesDataset, path: str) -> None:
    """Draws the detections of the first held-out images side by side."""
    panels = []
    for index in range(min(PNG_IMAGES, len(dataset))):
        image, _ = dataset.render(index)
        outputs = model.predict_on_batch(image[np.newaxis].astype(np.float32))
        count = int(outputs["num_detections"][0])
        keep = np.asarray(outputs["scores"][0][:count]) >= PNG_SCORE_THRESHOLD
        panels.append(
            draw_detections(
                image,
                np.asarray(outputs["boxes"][0][:count])[keep],
                np.asarray(outputs["classes"][0][:count])[keep],
                np.asarray(outputs["scores"][0][:count])[keep],
                dataset.class_names,
            )
        )
    width = sum(panel.width for panel in panels)
    sheet = PIL.Image.new("RGB", (width, max(panel.height for panel in panels)))
    left = 0
    for panel in panels:
        sheet.paste(panel, (left, 0))
        left += panel.width
    sheet.save(path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    config = demo_config(args)
    summary: dict = {
        "command": "python recipes/demo.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "config": {"steps": config.schedule.total_steps},
        # The machine's 1/5/15-minute load averages: timings are comparable only at equal load.
        "load_average_at_start": list(os.getloadavg()),
    }
    timings: dict[str, float] = {}
    start = time.perf_counter()

    print(f"[1/5] Training '{config.name}' for {config.schedule.total_steps} steps ...")
    strategy = setup_runtime(config.runtime)
    result = train(config, strategy)
    timings["train_and_evaluate_s"] = time.perf_counter() - start
    summary["keras_metrics"] = result.metrics
    print("[2/5] COCO mAP of the Keras model on the held-out split:")
    for name in METRIC_NAMES:
        print(f"      {name:6s} {result.metrics[name]:.4f}")

    model = keras.models.load_model(result.last_model_path)
    eval_spec = config.data.eval
    held_out = ShapesDataset(
        eval_spec.num_images, image_size=eval_spec.image_size, seed=eval_spec.seed
    )
    png_path = os.path.join(args.output_dir, "detections.png")
    draw_png(model, held_out, png_path)
    print(f"[3/5] Wrote {png_path}")

    if not args.no_export:
        tick = time.perf_counter()
        train_spec = config.data.train
        calibration = ShapesDataset(
            args.calibration_images, image_size=train_spec.image_size, seed=train_spec.seed
        )
        tflite_path = os.path.join(args.output_dir, "retinanet_int8.tflite")
        report = export_tflite(
            model,
            tflite_path,
            image_size=config.data.resize.size,
            quantization="int8",
            representative_images=calibration.as_dataset(),
            num_calibration_images=args.calibration_images,
            labels=held_out.class_names,
        )
        timings["export_s"] = time.perf_counter() - tick
        print(f"[4/5] Wrote {tflite_path} ({report.size_bytes / 1e6:.2f} MB int8)")
        tick = time.perf_counter()
        detector = TFLiteDetector(tflite_path, num_threads=TFLITE_THREADS)
        tflite_metrics = evaluate_detector_on_elements(
            detector.detect, held_out.as_dataset(), held_out.class_names, held_out.category_ids
        )
        timings["tflite_eval_s"] = time.perf_counter() - tick
        # Score the Keras model with the file's NMS flavour (class-wise, the export default),
        # so the int8 figure is compared with its own float model, and with class-agnostic
        # NMS, the price of the `--nms fast` flavour on this model.
        nms = "class-wise" if detector.uses_regular_nms else "class-agnostic"
        keras_nms_metrics = {
            class_wise: evaluate_detector_on_elements(
                keras_letterbox_detector(
                    model, (config.data.resize.size,) * 2, class_wise_nms=class_wise
                ),
                held_out.as_dataset(),
                held_out.class_names,
                held_out.category_ids,
            )
            for class_wise in (True, False)
        }
        keras_same_nms_metrics = keras_nms_metrics[detector.uses_regular_nms]
        summary["keras_class_agnostic_nms_metrics"] = keras_nms_metrics[False]
        summary["keras_same_nms_metrics"] = keras_same_nms_metrics
        summary["tflite_nms"] = nms
        summary["tflite_int8_metrics"] = tflite_metrics
        summary["tflite_size_bytes"] = report.size_bytes
        summary["tflite_float_ops"] = list(report.float_ops)
        print(
            f"[5/5] int8 .tflite on the held-out split (LiteRT, {TFLITE_THREADS} threads, "
            f"{nms} NMS): AP {tflite_metrics['AP']:.4f}, AP50 "
            f"{tflite_metrics['AP50']:.4f}; the float Keras model with the same NMS: AP "
            f"{keras_same_nms_metrics['AP']:.4f}, AP50 {keras_same_nms_metrics['AP50']:.4f}"
        )
    timings["total_s"] = time.perf_counter() - start
    summary["timings"] = timings
    summary["load_average_at_end"] = list(os.getloadavg())
    for path in filter(None, (os.path.join(args.output_dir, "summary.json"), args.results_json)):
        with open(path, "w") as handle:
            json.dump(summary, handle, indent=2)
    print(f"Done in {timings['total_s']:.0f} s; summary in {args.output_dir}/summary.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
