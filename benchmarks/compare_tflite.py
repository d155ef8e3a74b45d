"""LiteRT latency and file size of float32 and int8 `.tflite` exports with NMS in the graph.

Ours: `keras_retinanet.export.export_tflite` (TFLite_Detection_PostProcess at the end, uint8
pixel input for int8), with its default class-wise ("regular") NMS and (int8) with LiteRT's
fast class-agnostic NMS. Model Garden: its own export path (`DetectionModule` with
`input_type="tflite"` and `nms_version="tflite"`, `export_inference_graph`, then
`export_tflite_lib.convert_tflite_model` with quant_type None or "int8"), random init;
its tflite input is the already-normalised float image. Both int8 models are calibrated
on the same ShapesDataset images. Each model is then timed with the LiteRT interpreter
(`invoke()` on a fixed input, 1 and 2 threads), interleaved, medians reported.

Example:
    .venv-peers/bin/python benchmarks/compare_tflite.py --out benchmarks/results/tflite.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import tensorflow as tf
from bench_lib import model_garden_peer, ours, report, timing
from bench_lib.contenders import Settings
from bench_lib.machine import ForeignLoadMeter

DEFAULT_IMAGE_SIZE = 512
# Our exports: (quantization, class-wise "regular" NMS?). The float32 model's time is its
# convolutions; the NMS variant matters next to the int8 ones only.
OUR_EXPORTS = (("float32", True), ("int8", True), ("int8", False))
# Smoke runs export float32 only (int8 calibration is the slow part of a smoke test).
SMOKE_EXPORTS = (("float32", True),)
DEFAULT_CALIBRATION_IMAGES = 16
THREADS = (1, 2)
SMOKE_IMAGE_SIZE = 128
COLUMNS = ("model", "quantization", "nms", "input", "MB", "1 thread ms", "2 threads ms")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    report.add_common_flags(parser, default_out="benchmarks/results/tflite.json")
    parser.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    parser.add_argument("--calibration-images", type=int, default=DEFAULT_CALIBRATION_IMAGES)
    parser.add_argument("--runs", type=int, default=10, help="timed invocations per model")
    parser.add_argument("--keep-dir", default=None, help="keep the .tflite files here")
    return parser


def calibration_images(size: int, count: int) -> np.ndarray:
    """uint8 `[count, size, size, 3]` ShapesDataset images (the same for every contender)."""
    from keras_retinanet.data import ShapesDataset

    dataset = ShapesDataset(num_images=count, image_size=size, seed=7)
    return np.stack([dataset.render(index)[0] for index in range(count)]).astype(np.uint8)


def export_ours(
    settings: Settings, folder: str, images: np.ndarray, variants=OUR_EXPORTS
) -> list[dict]:
    from keras_retinanet.export import export_tflite

    model = ours.build_model(settings, ours.DEFAULT)
    exports = []
    for quantization, regular in variants:
        name = f"ours_{quantization}_{'regular' if regular else 'fast'}.tflite"
        path = os.path.join(folder, name)
        started = time.perf_counter()
        result = export_tflite(
            model,
            path,
            image_size=settings.image_size,
            quantization=quantization,
            representative_images=images if quantization == "int8" else None,
            num_calibration_images=len(images),
            use_regular_nms=regular,
        )
        exports.append(
            {
                "model": ours.NAME,
                "quantization": quantization,
                "nms": "class-wise (regular)" if regular else "fast (class-agnostic)",
                "input": "uint8 pixels" if quantization == "int8" else "float32 pixels",
                "path": path,
                "MB": result.size_bytes / 1e6,
                "export_s": time.perf_counter() - started,
            }
        )
        print(f"exported {name} in {exports[-1]['export_s']:.0f} s", flush=True)
    return exports


class _CalibrationTask:
    """Stands in for Model Garden's task in its representative dataset: yields our
    calibration images normalised the way its tflite input expects."""

    def __init__(self, images: np.ndarray):
        self._images = images

    def build_inputs(self, params):
        del params
        from official.vision.ops import preprocess_ops

        images = tf.constant(self._images, tf.float32)
        normalised = preprocess_ops.normalize_image(
            images, offset=preprocess_ops.MEAN_RGB, scale=preprocess_ops.STDDEV_RGB
        )
        return tf.data.Dataset.from_tensor_slices((normalised[:, None], normalised[:, None]))


def export_model_garden(settings: Settings, folder: str, images: np.ndarray) -> list[dict]:
    from official.vision.serving import export_saved_model_lib, export_tflite_lib

    experiment = model_garden_peer.experiment_config(settings)
    experiment.task.model.detection_generator.nms_version = "tflite"
    saved = os.path.join(folder, "model_garden_export")
    export_saved_model_lib.export_inference_graph(
        input_type="tflite",
        batch_size=1,
        input_image_size=[settings.image_size] * 2,
        params=experiment,
        checkpoint_path=None,
        export_dir=saved,
        export_saved_model_subdir="saved_model",
    )
    exports = []
    for quantization, quant_type in (("float32", None), ("int8", "int8")):
        started = time.perf_counter()
        content = export_tflite_lib.convert_tflite_model(
            saved_model_dir=os.path.join(saved, "saved_model"),
            quant_type=quant_type,
            params=experiment,
            task=_CalibrationTask(images),
            calibration_steps=len(images),
        )
        path = os.path.join(folder, f"model_garden_{quantization}.tflite")
        with open(path, "wb") as file:
            file.write(content)
        post = experiment.task.model.detection_generator.tflite_post_processing
        exports.append(
            {
                "model": model_garden_peer.NAME,
                "quantization": quantization,
                "nms": "fast (class-agnostic)"
                if not post.use_regular_nms
                else "class-wise (regular)",
                "input": "float32 normalised",
                "path": path,
                "MB": len(content) / 1e6,
                "export_s": time.perf_counter() - started,
            }
        )
        print(f"exported {os.path.basename(path)} in {exports[-1]['export_s']:.0f} s", flush=True)
    return exports


def make_invoker(path: str, threads: int):
    """A callable running one `invoke()` of the model on a fixed random input."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(0)
    if detail["dtype"] == np.uint8:
        value = rng.integers(0, 256, detail["shape"]).astype(np.uint8)
    else:
        value = rng.normal(0.0, 1.0, detail["shape"]).astype(detail["dtype"])
    interpreter.set_tensor(detail["index"], value)
    return interpreter.invoke


def post_process_ops(path: str) -> int:
    """How many TFLite_Detection_PostProcess ops the file holds."""
    from keras_retinanet.export import POSTPROCESS_OP_NAME, read_tflite_graph

    with open(path, "rb") as file:
        return read_tflite_graph(file.read()).op_counts().get(POSTPROCESS_OP_NAME, 0)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    size = SMOKE_IMAGE_SIZE if args.smoke else args.image_size
    if args.smoke:
        args.calibration_images, args.runs = 2, 1
    settings = Settings(image_size=size, batch_size=1, backbone=args.backbone)
    garden_reason = report.forced_skip_reason(args) or model_garden_peer.unavailable_reason()
    if garden_reason:
        print(report.skip_line(model_garden_peer.NAME, garden_reason), flush=True)
    images = calibration_images(size, args.calibration_images)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_tflite_") as scratch:
        folder = args.keep_dir or scratch
        os.makedirs(folder, exist_ok=True)
        exports = export_ours(
            settings, folder, images, SMOKE_EXPORTS if args.smoke else OUR_EXPORTS
        )
        if not garden_reason:
            try:
                exports += export_model_garden(settings, folder, images)
            except Exception as error:
                garden_reason = f"its export failed: {type(error).__name__}: {error}"
                print(report.skip_line(model_garden_peer.NAME, garden_reason))
                traceback.print_exc()
        steps = {}
        for export in exports:
            export["postprocess_ops"] = post_process_ops(export["path"])
            for threads in THREADS:
                steps[f"{os.path.basename(export['path'])}/{threads}"] = make_invoker(
                    export["path"], threads
                )
        meter = ForeignLoadMeter()
        meter.start()
        results = timing.interleaved(steps, rounds=args.runs, warmup=1 if args.smoke else 2)
        load = meter.stop()
        for export in exports:
            for threads in THREADS:
                result = results[f"{os.path.basename(export['path'])}/{threads}"]
                label = "1 thread ms" if threads == 1 else f"{threads} threads ms"
                export[label] = result.median_s * 1e3
                export[f"timing_{threads}"] = result.as_dict()
            export["path"] = os.path.basename(export["path"])
    print(report.table(exports, COLUMNS, title=f"\n== LiteRT, {size}x{size}, batch 1"))
    print(f"other processes kept {load['foreign_cpus']:.2f} CPUs busy")
    checks = []
    mine = [e for e in exports if e["model"] == ours.NAME and e["quantization"] == "int8"]
    theirs = [
        e for e in exports if e["model"] == model_garden_peer.NAME and e["quantization"] == "int8"
    ]
    if mine and theirs:
        for threads, label in ((1, "1 thread ms"), (2, "2 threads ms")):
            for export in mine:
                checks.append(
                    {
                        "target": f"int8 {threads} thread(s): ours ({export['nms']}) "
                        "ms / Model Garden ms",
                        "value": export[label] / theirs[0][label],
                        "threshold": 1.0,
                        "met": export[label] <= theirs[0][label],
                    }
                )
        print(report.table(checks, ("target", "value", "threshold", "met"), title="\n== targets"))
    report.write_json(
        args.out,
        {
            "benchmark": "compare_tflite",
            "image_size": size,
            "smoke": args.smoke,
            "calibration_images": args.calibration_images,
            "skipped": {model_garden_peer.NAME: garden_reason} if garden_reason else {},
            "load": load,
            "exports": exports,
            "targets": checks,
            "wall_s": time.perf_counter() - started,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
