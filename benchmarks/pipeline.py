"""Throughput of our tf.data training pipeline against the model's training consumption.

The pipeline is `keras_retinanet.data.input_pipeline.build_train_pipeline` with target
encoding by `model.encode_targets` in its parallel map, batch 2, letterboxed to 512 and 800
px, fed from:

* `memory`: decoded ShapesDataset images (640x640) cached in memory, so only the pipeline's
  own work (validation, augmentation, resize, padding, box limits, target encoding) counts;
* `files`: the same images written as PNG files with a COCO JSON and read by
  `CocoJsonDataset` (file reading and decoding included).

Augmentations: `paper` (horizontal flip, the default) and `heavy` (photometric jitter, flip,
random crop, scale jitter). Each pipeline is also run without target encoding to show the
encoder's share. The model's consumption rate is our R50-FPN's training images/s in its
default configuration (frozen BN and stem, targets from the pipeline) at the same size,
float32 and mixed_bfloat16, measured in the same run. Last, `encode_targets` alone is timed
on one image with 7 objects padded to the pipeline's 100 rows and with the 7 rows only
(`--encode-cost-only` runs just that).

Example:
    .venv-peers/bin/python benchmarks/pipeline.py --out benchmarks/results/pipeline.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras
import numpy as np
import tensorflow as tf
from bench_lib import ours, report, timing
from bench_lib.contenders import PADDING_BOX, PADDING_CLASS, Settings, synthetic_batch
from bench_lib.machine import ForeignLoadMeter

from keras_retinanet.data import CocoJsonDataset, ShapesDataset
from keras_retinanet.data.augmentation import (
    PhotometricJitter,
    RandomCrop,
    RandomFlip,
    ScaleJitter,
)
from keras_retinanet.data.input_pipeline import (
    DEFAULT_MAX_BOXES,
    AugmentationConfig,
    ResizeConfig,
    build_train_pipeline,
)

SIZES = (512, 800)
SOURCE_IMAGE_SIZE = 640
SOURCE_IMAGES = 64
BATCH_SIZE = 2
AUGMENTATIONS = {
    "paper": AugmentationConfig(),
    "heavy": AugmentationConfig(
        photometric=PhotometricJitter(),
        flip=RandomFlip(),
        crop=RandomCrop(),
        scale_jitter=ScaleJitter(),
    ),
}
PRECISIONS = ("float32", "mixed_bfloat16")
# The target: the pipeline feeds at least 3x what training consumes at 512 px.
MIN_PIPELINE_OVER_MODEL = 3.0
COLUMNS = ("size", "source", "augmentation", "encode", "img/s", "vs model fp32", "vs model bf16")
# Objects per image in the target-encoding cost check (a typical COCO image has ~7).
ENCODE_REAL_BOXES = 7


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    report.add_common_flags(parser, default_out="benchmarks/results/pipeline.json")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--batches", type=int, default=40, help="timed batches per pipeline")
    parser.add_argument("--train-rounds", type=int, default=3, help="timed training steps")
    parser.add_argument(
        "--encode-cost-only",
        action="store_true",
        help="only time `encode_targets` on padded vs unpadded boxes (seconds, no training)",
    )
    parser.add_argument("--encode-calls", type=int, default=20, help="timed encodings each")
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=PRECISIONS,
        default=list(PRECISIONS),
        help="precisions of the model whose consumption rate the pipeline is compared with",
    )
    return parser


def pipeline_rate(
    source: tf.data.Dataset, size: int, augmentation: AugmentationConfig, encode, batches: int
) -> float:
    """Images/s of the training pipeline over `batches` batches after a warm-up."""
    dataset = build_train_pipeline(
        source,
        BATCH_SIZE,
        resize=ResizeConfig(mode="letterbox", size=size),
        augmentation=augmentation,
        encode_targets=encode,
        seed=0,
        shuffle_buffer=16,
        warn_on_overflow=False,
    )
    iterator = iter(dataset)
    for _ in range(3):
        next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * BATCH_SIZE / (time.perf_counter() - started)


def model_rates(sizes, rounds: int, precisions, smoke: bool, backbone: str) -> tuple[dict, dict]:
    """Training images/s of our model (default config) per (size, precision), and models
    (float32, for `encode_targets`) per size."""
    steps, encoders = {}, {}
    for size in sizes:
        settings = Settings(image_size=size, batch_size=BATCH_SIZE, backbone=backbone)
        batch = synthetic_batch(settings)
        for precision in precisions:
            if smoke and precision != "float32":
                continue
            model = ours.build_model(settings, ours.DEFAULT, precision)
            steps[(size, precision)] = ours.Trainer(model, batch).step
            if precision == "float32":
                encoders[size] = model
        if size not in encoders:
            encoders[size] = ours.build_model(settings, ours.DEFAULT)
    results = timing.interleaved(
        {f"{size}/{precision}": step for (size, precision), step in steps.items()},
        rounds=rounds,
        warmup=1,
    )
    rates = {key: BATCH_SIZE / results[f"{key[0]}/{key[1]}"].median_s for key in steps}
    return rates, encoders


def encode_costs(model, size: int, calls: int) -> dict[str, float]:
    """ms per image of `model.encode_targets` on one image with `ENCODE_REAL_BOXES` objects:
    padded to the pipeline's `max_boxes` rows (what `build_train_pipeline` hands over) and
    with the real rows only (the same targets; padding rows never match an anchor)."""
    batch = synthetic_batch(
        Settings(image_size=size, batch_size=1, boxes_per_image=ENCODE_REAL_BOXES)
    )
    boxes, classes = batch.real_boxes(0)
    pad = DEFAULT_MAX_BOXES - len(classes)
    padded = (
        np.concatenate([boxes, np.full((pad, 4), PADDING_BOX, np.float32)]),
        np.concatenate([classes, np.full((pad,), PADDING_CLASS, np.int32)]),
    )
    image_shape = tf.constant([size, size, 3])
    encode = tf.function(lambda b, c: model.encode_targets(image_shape, b, c)["class_targets"])
    variants = {
        f"padded to {DEFAULT_MAX_BOXES} rows": padded,
        f"{len(classes)} real rows": (boxes, classes),
    }
    tensors = {name: (tf.constant(b), tf.constant(c)) for name, (b, c) in variants.items()}
    steps = {name: (lambda b=b, c=c: encode(b, c).numpy()) for name, (b, c) in tensors.items()}
    results = timing.interleaved(steps, rounds=calls, warmup=2)
    return {name: result.median_s * 1e3 for name, result in results.items()}


def run_encode_costs(sizes, encoders: dict, calls: int) -> dict:
    costs = {size: encode_costs(encoders[size], size, calls) for size in sizes}
    for size, cost in costs.items():
        print(
            f"encode_targets at {size} px: "
            + ", ".join(f"{name} {ms:.1f} ms/image" for name, ms in cost.items()),
            flush=True,
        )
    return costs


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    sizes = [128] if args.smoke else args.sizes
    source_size, source_count = (128, 4) if args.smoke else (SOURCE_IMAGE_SIZE, SOURCE_IMAGES)
    if args.smoke:
        args.batches, args.train_rounds = 2, 1
    started = time.perf_counter()
    meter = ForeignLoadMeter()
    meter.start()
    if args.smoke:
        args.encode_calls = 1
    if args.encode_cost_only:
        encoders = {
            size: ours.build_model(Settings(image_size=size, backbone=args.backbone), ours.DEFAULT)
            for size in sizes
        }
        costs = run_encode_costs(sizes, encoders, args.encode_calls)
        report.write_json(
            args.out,
            {
                "benchmark": "pipeline_encode_cost",
                "smoke": args.smoke,
                "real_boxes": ENCODE_REAL_BOXES,
                "max_boxes": DEFAULT_MAX_BOXES,
                "encode_ms_per_image": costs,
                "load": meter.stop(),
                "targets": [],
                "wall_s": time.perf_counter() - started,
            },
        )
        return 0
    rates, encoders = model_rates(
        sizes, args.train_rounds, args.precisions, args.smoke, args.backbone
    )
    shapes = ShapesDataset(num_images=source_count, image_size=source_size, seed=3)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as folder:
        annotation_file, image_dir = shapes.write_coco(folder)
        sources = {
            "memory": lambda: shapes.as_dataset().cache().repeat(),
            "files": lambda: CocoJsonDataset(annotation_file, image_dir).as_dataset().repeat(),
        }
        for size in sizes:
            model = encoders[size]
            for source_name, make_source in sources.items():
                for augmentation_name, augmentation in AUGMENTATIONS.items():
                    for encode in (True, False):
                        rate = pipeline_rate(
                            make_source(),
                            size,
                            augmentation,
                            model.encode_targets if encode else None,
                            args.batches,
                        )
                        row = {
                            "size": size,
                            "source": source_name,
                            "augmentation": augmentation_name,
                            "encode": encode,
                            "img/s": rate,
                        }
                        for precision, label in (
                            ("float32", "vs model fp32"),
                            ("mixed_bfloat16", "vs model bf16"),
                        ):
                            if (size, precision) in rates:
                                row[label] = rate / rates[(size, precision)]
                        rows.append(row)
                        print(report.table([row], COLUMNS), flush=True)
    costs = run_encode_costs(sizes, encoders, args.encode_calls)
    load = meter.stop()
    print(report.table(rows, COLUMNS, title="\n== pipeline images/s (batch 2)"))
    print(
        "model training img/s: "
        + ", ".join(
            f"{size} px {precision} {rate:.2f}" for (size, precision), rate in rates.items()
        )
    )
    print(f"other processes kept {load['foreign_cpus']:.2f} CPUs busy")
    checks = []
    size = 512 if 512 in sizes else sizes[0]
    for row in rows:
        if row["size"] == size and row["encode"]:
            for label in ("vs model fp32", "vs model bf16"):
                if label in row:
                    checks.append(
                        {
                            "target": f"{size} px {row['source']} {row['augmentation']}: "
                            f"pipeline / model ({label.split()[-1]})",
                            "value": row[label],
                            "threshold": MIN_PIPELINE_OVER_MODEL,
                            "met": row[label] >= MIN_PIPELINE_OVER_MODEL,
                        }
                    )
    print(report.table(checks, ("target", "value", "threshold", "met"), title="\n== targets"))
    report.write_json(
        args.out,
        {
            "benchmark": "pipeline",
            "smoke": args.smoke,
            "batch_size": BATCH_SIZE,
            "source_images": {"count": source_count, "size": source_size},
            "model_train_images_per_s": {f"{s}/{p}": r for (s, p), r in rates.items()},
            "encode_ms_per_image": costs,
            "rows": rows,
            "load": load,
            "targets": checks,
            "wall_s": time.perf_counter() - started,
        },
    )
    keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    sys.exit(main())
