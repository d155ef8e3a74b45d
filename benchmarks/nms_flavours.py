"""Latency of class-wise vs fast NMS inside an int8 `.tflite`, and whether each is correct.

    .venv/bin/python benchmarks/nms_flavours.py                       # results/nms_flavours.json
    .venv/bin/python benchmarks/nms_flavours.py --smoke --out /tmp/nms.json

Two measurements, both on `--threads` LiteRT threads (XNNPACK, the default delegate), the
contenders interleaved in rounds:

1. The whole file: `retinanet_mobilenetv2_fpnlite_320` (random init, `--num-classes`
   classes, COCO's 80 by default) exported to int8 with the exporter's class-wise NMS
   (score columns laid out for 1-8 threads) and with fast NMS; `TFLiteDetector.predict` on
   one 320 px image. A random-init model scores every anchor at the prior (0.01), below
   the 0.05 threshold, so this is the files' cost with no NMS work. Both files also go
   through `check_conformance` (LiteRT at 1, 2, 4, 8 threads; MediaPipe when installed).
2. The post-process op alone, as exported for that preset (its anchors, its score
   columns), fed scores where `--candidates` (anchor, class) pairs pass the threshold
   (random anchors and classes, scores uniform in [0.05, 1), random box deltas): NMS cost
   as a function of how busy the image is, which a trained model decides.

The load of the machine is recorded; a verdict is written only when the 1-minute load
average stayed below `MAX_LOAD` during the timings.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_lib import machine
from bench_lib.report import write_json
from bench_lib.timing import interleaved

PRESET = "retinanet_mobilenetv2_fpnlite_320"
IMAGE_SIZE = 320
DEFAULT_NUM_CLASSES = 80
DEFAULT_THREADS = 2
DEFAULT_ROUNDS = 7
DEFAULT_CALLS_PER_ROUND = 10
DEFAULT_CANDIDATES = (100, 1000, 10000)
CALIBRATION_IMAGES = 16
SCORE_THRESHOLD = 0.05
MAX_LOAD = 1.5
SEED = 0
FLAVOURS = {"class_wise": True, "fast": False}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/nms_flavours.json")
    parser.add_argument("--num-classes", type=int, default=DEFAULT_NUM_CLASSES)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--calls-per-round", type=int, default=DEFAULT_CALLS_PER_ROUND)
    parser.add_argument(
        "--candidates", type=int, nargs="+", default=list(DEFAULT_CANDIDATES), metavar="N"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny run (tests)")
    return parser


def latency(timing) -> dict:
    times_ms = np.asarray(timing.times_s) * 1e3
    return {
        "median_ms": float(np.median(times_ms)),
        "min_ms": float(np.min(times_ms)),
        "max_ms": float(np.max(times_ms)),
    }


def op_only_file(postprocess, anchors: np.ndarray) -> bytes:
    """A `.tflite` holding only the post-process op, fed (encodings, scores)."""
    import tensorflow as tf

    num_anchors, num_columns = anchors.shape[0], postprocess.num_classes

    class Module(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([1, num_anchors, 4], tf.float32),
                tf.TensorSpec([1, num_anchors, num_columns], tf.float32),
            ]
        )
        def serve(self, encodings, scores):
            return postprocess(encodings, scores, tf.constant(anchors))

    from keras_retinanet.export.detection_postprocess import POSTPROCESS_OP_NAME
    from keras_retinanet.export.tflite_graph import set_custom_options

    module = Module()
    with tempfile.TemporaryDirectory() as directory:
        tf.saved_model.save(module, directory, signatures={"serving_default": module.serve})
        content = tf.lite.TFLiteConverter.from_saved_model(directory).convert()
    return set_custom_options(content, POSTPROCESS_OP_NAME, postprocess.kernel_options())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from keras_retinanet.data import ShapesDataset
    from keras_retinanet.export import ClassColumnLayout, TFLiteDetector, export_tflite
    from keras_retinanet.export.conformance_check import check_conformance
    from keras_retinanet.export.detection_postprocess import (
        DetectionPostProcess,
        anchors_to_center_size,
    )
    from keras_retinanet.presets import build_model

    if args.smoke:
        args.rounds, args.calls_per_round, args.candidates = 1, 1, args.candidates[:1]
    keras.utils.set_random_seed(SEED)
    model = build_model(PRESET, num_classes=args.num_classes, backbone_weights=None)
    data = ShapesDataset(CALIBRATION_IMAGES + 1, image_size=IMAGE_SIZE, seed=SEED)
    images = [element["image"] for element in data.as_dataset().as_numpy_iterator()]
    timed_image, calibration = images[0], images[1:]

    results = {"preset": PRESET, "image_size": IMAGE_SIZE, "num_classes": args.num_classes}
    results["threads"] = args.threads
    folder = tempfile.mkdtemp(prefix="nms_flavours_")
    detectors, files = {}, {}
    for name, class_wise in FLAVOURS.items():
        path = os.path.join(folder, f"{name}.tflite")
        report = export_tflite(
            model,
            path,
            image_size=IMAGE_SIZE,
            quantization="int8",
            representative_images=calibration,
            use_regular_nms=class_wise,
        )
        detectors[name] = TFLiteDetector(path, num_threads=args.threads)
        conformance = check_conformance(path, [timed_image], thread_counts=(1, 2, 4, 8))
        files[name] = {
            "size_bytes": report.size_bytes,
            "score_columns": len(report.label_map),
            "conformance_ok": conformance.ok,
            "conformance": conformance.summary(),
        }

    # The op alone, with the preset's anchors and each flavour's score columns.
    rng = np.random.default_rng(SEED)
    anchors = anchors_to_center_size(
        model.anchor_generator(IMAGE_SIZE, IMAGE_SIZE), (IMAGE_SIZE, IMAGE_SIZE)
    ).numpy()
    num_anchors = anchors.shape[0]
    runners = {}
    for name, class_wise in FLAVOURS.items():
        layout = (
            ClassColumnLayout.thread_safe(args.num_classes)
            if class_wise
            else ClassColumnLayout.identity(args.num_classes)
        )
        postprocess = DetectionPostProcess.from_model(
            layout.num_columns, model.box_coder, model.detection_decoder, class_wise
        )
        interpreter = Interpreter(
            model_content=op_only_file(postprocess, anchors), num_threads=args.threads
        )
        runners[name] = (interpreter.get_signature_runner("serving_default"), layout)
    inputs = {}
    for count in args.candidates:
        scores = np.zeros([1, num_anchors, args.num_classes], np.float32)
        cells = rng.choice(num_anchors * args.num_classes, size=count, replace=False)
        scores.reshape(-1)[cells] = rng.uniform(SCORE_THRESHOLD, 1.0, size=count)
        encodings = rng.normal(0.0, 1.0, size=(1, num_anchors, 4)).astype(np.float32)
        inputs[count] = (encodings, scores)

    def op_call(name: str, count: int):
        runner, layout = runners[name]
        encodings, scores = inputs[count]
        columns = np.zeros([1, num_anchors, layout.num_columns], np.float32)
        columns[..., list(layout.class_columns)] = scores
        return lambda: runner(encodings=encodings, scores=columns)

    steps = {f"file_{name}": (lambda d=d: d.predict(timed_image)) for name, d in detectors.items()}
    for count in args.candidates:
        for name in FLAVOURS:
            steps[f"op_{name}_{count}"] = op_call(name, count)
    load_before = list(os.getloadavg())
    timings = interleaved(steps, rounds=args.rounds, steps_per_round=args.calls_per_round)
    load_after = list(os.getloadavg())
    for name in FLAVOURS:
        files[name]["latency"] = latency(timings[f"file_{name}"])
    results["files"] = files
    results["op_only"] = {
        str(count): {name: latency(timings[f"op_{name}_{count}"]) for name in FLAVOURS}
        for count in args.candidates
    }
    results["num_anchors"] = num_anchors
    results["load_average_before_timing"] = load_before
    results["load_average_after_timing"] = load_after
    quiet = max(load_before[0], load_after[0]) <= MAX_LOAD
    results["timing_valid"] = quiet
    results["command"] = "benchmarks/nms_flavours.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    for name, row in files.items():
        lat = row["latency"]
        print(
            f"file {name}: {row['size_bytes'] / 1e6:.2f} MB, {row['score_columns']} columns, "
            f"median {lat['median_ms']:.1f} ms [{lat['min_ms']:.1f}, {lat['max_ms']:.1f}], "
            f"conformance {'ok' if row['conformance_ok'] else 'FAILED'}"
        )
    for count, row in results["op_only"].items():
        print(
            f"op alone, {count} candidates: "
            + ", ".join(f"{name} {lat['median_ms']:.2f} ms" for name, lat in row.items())
        )
    state = "valid" if quiet else f"NOT valid (load average above {MAX_LOAD})"
    print(f"timings {state}: load {load_before} -> {load_after}, {machine.cpu_model()}")
    write_json(args.out, results)
    return 0 if all(row["conformance_ok"] for row in files.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
