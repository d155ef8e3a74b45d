"""Accuracy at equal budget: ours vs keras-hub, same data, steps, input size and optimizer.

Both R50-FPN RetinaNets start from random weights and train with SGD (momentum 0.9, linear
warm-up then cosine decay, same rate) for the same number of steps on the same batches: our
`build_train_pipeline` over `ShapesDataset` images (flip augmentation, fixed seed), float32.
Ours takes its targets from the pipeline (`model.encode_targets` in the map) and trains
every layer (BatchNorm momentum 0.9: a short run from scratch); keras-hub gets the same
images normalised the way its presets expect and raw boxes (its label encoder runs in the
step). Both decode with score threshold 0.05, NMS 0.5, 100 detections (keras-hub's default
threshold of 0.5 is lowered to match). COCO AP / AP50 on held-out ShapesDataset images.

A second, short keras-hub run at learning rate 1e-5 checks the report that its loss turns
NaN with SGD even there.

Example:
    .venv-peers/bin/python benchmarks/compare_accuracy.py --out benchmarks/results/accuracy.json
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras
import tensorflow as tf
from bench_lib import keras_hub_peer, ours, report
from bench_lib.contenders import Settings
from bench_lib.machine import ForeignLoadMeter

from keras_retinanet.data import ShapesDataset
from keras_retinanet.data.input_pipeline import ResizeConfig, build_train_pipeline
from keras_retinanet.evaluation.evaluate_detector import coco_evaluator_for

IMAGE_SIZE = 128
BATCH_SIZE = 8
STEPS = 300
WARMUP_STEPS = 30
# The paper's 0.01 per 16 images, scaled linearly to the batch.
LEARNING_RATE = 0.005
MOMENTUM = 0.9
TRAIN_IMAGES = 512
EVAL_IMAGES = 64
EVAL_BATCH_SIZE = 8
TRAIN_SEED, EVAL_SEED, PIPELINE_SEED = 0, 1, 0
BATCH_NORM_MOMENTUM = 0.9  # keras-hub's ResNet uses 0.9
SCORE_THRESHOLD = 0.05
NMS_IOU_THRESHOLD = 0.5
MAX_DETECTIONS = 100
NAN_PROBE_LEARNING_RATE = 1e-5
NAN_PROBE_STEPS = 20
# keras-hub's presets normalise [0, 1] RGB with the ImageNet statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PIXEL_MAX = 255.0
COLUMNS = ("contender", "steps", "lr", "first loss", "last loss", "finite", "AP", "AP50", "s/step")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    report.add_common_flags(parser, default_out="benchmarks/results/accuracy.json")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE)
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    parser.add_argument("--eval-images", type=int, default=EVAL_IMAGES)
    parser.add_argument("--nan-probe-steps", type=int, default=NAN_PROBE_STEPS)
    return parser


def schedule(learning_rate: float, steps: int):
    warmup = min(WARMUP_STEPS, max(steps // 10, 1))
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(steps - warmup, 1),
        warmup_target=learning_rate,
        warmup_steps=warmup,
    )


def train_batches(size: int, batch_size: int, encode=None) -> tf.data.Dataset:
    shapes = ShapesDataset(num_images=TRAIN_IMAGES, image_size=size, seed=TRAIN_SEED)
    return build_train_pipeline(
        shapes.as_dataset().cache().repeat(),
        batch_size,
        resize=ResizeConfig(mode="letterbox", size=size),
        encode_targets=encode,
        seed=PIPELINE_SEED,
        warn_on_overflow=False,
    )


def normalise_for_keras_hub(images: tf.Tensor) -> tf.Tensor:
    return (images / PIXEL_MAX - tf.constant(IMAGENET_MEAN)) / tf.constant(IMAGENET_STD)


class LossRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def fit(model, dataset, steps: int) -> tuple[list[float], float]:
    recorder = LossRecorder()
    started = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[recorder])
    return recorder.losses, (time.perf_counter() - started) / steps


def evaluate(predict, size: int, count: int) -> dict[str, float]:
    """COCO metrics of `predict(images [B, S, S, 3] float 0..255) -> (boxes yxyx px, scores,
    classes, num_detections)` on held-out shapes (network size = image size: no rescaling)."""
    shapes = ShapesDataset(num_images=count, image_size=size, seed=EVAL_SEED)
    evaluator = coco_evaluator_for(shapes)
    images_and_ids = shapes.as_dataset().map(lambda e: (e["image"], e["image_id"]))
    for images, image_ids in images_and_ids.batch(EVAL_BATCH_SIZE):
        boxes, scores, classes, counts = predict(tf.cast(images, tf.float32))
        evaluator.update_state(image_ids, boxes, scores, classes, counts)
    return evaluator.result()


def run_ours(settings: Settings, args) -> dict:
    model = ours.build_model(settings, ours.ALL_TRAINABLE, batch_norm_momentum=BATCH_NORM_MOMENTUM)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule(args.learning_rate, args.steps), momentum=MOMENTUM)
    )
    losses, step_s = fit(
        model,
        train_batches(settings.image_size, settings.batch_size, model.encode_targets),
        args.steps,
    )

    def predict(images):
        out = model.predict_on_batch(images)
        return out["boxes"], out["scores"], out["classes"], out["num_detections"]

    return {
        "contender": ours.NAME,
        "losses": losses,
        "s/step": step_s,
        **evaluate(predict, settings.image_size, args.eval_images),
    }


def keras_hub_model(settings: Settings, learning_rate: float, steps: int):
    import keras_hub

    model = keras_hub_peer.build_model(settings)
    model.prediction_decoder = keras_hub.layers.NonMaxSuppression(
        bounding_box_format="yxyx",
        from_logits=True,
        iou_threshold=NMS_IOU_THRESHOLD,
        confidence_threshold=SCORE_THRESHOLD,
        max_detections=MAX_DETECTIONS,
    )
    model.compile(optimizer=keras.optimizers.SGD(schedule(learning_rate, steps), momentum=MOMENTUM))
    return model


def keras_hub_batches(settings: Settings) -> tf.data.Dataset:
    return train_batches(settings.image_size, settings.batch_size).map(
        lambda images, y: (
            normalise_for_keras_hub(images),
            {"boxes": y["boxes"], "labels": y["classes"]},
        )
    )


def run_keras_hub(settings: Settings, args) -> dict:
    model = keras_hub_model(settings, args.learning_rate, args.steps)
    losses, step_s = fit(model, keras_hub_batches(settings), args.steps)

    def predict(images):
        out = model.predict_on_batch(normalise_for_keras_hub(images))
        return out["boxes"], out["confidence"], out["labels"], out["num_detections"]

    row = {"contender": keras_hub_peer.NAME, "losses": losses, "s/step": step_s}
    if all(math.isfinite(loss) for loss in losses):
        row.update(evaluate(predict, settings.image_size, args.eval_images))
    else:
        row.update({"AP": 0.0, "AP50": 0.0, "note": "loss not finite: no evaluation"})
    return row


def nan_probe(settings: Settings, steps: int) -> dict:
    model = keras_hub_model(settings, NAN_PROBE_LEARNING_RATE, steps)
    losses, step_s = fit(model, keras_hub_batches(settings), steps)
    return {
        "contender": keras_hub_peer.NAME + " (NaN probe)",
        "losses": losses,
        "s/step": step_s,
        "lr": NAN_PROBE_LEARNING_RATE,
    }


def summarise(row: dict, steps: int, learning_rate: float) -> dict:
    losses = row["losses"]
    finite = bool(losses) and all(math.isfinite(loss) for loss in losses)
    first_nan = next((i for i, loss in enumerate(losses) if not math.isfinite(loss)), None)
    row.update(
        {
            "steps": len(losses) or steps,
            "lr": row.get("lr", learning_rate),
            "first loss": losses[0] if losses else None,
            "last loss": losses[-1] if losses else None,
            "finite": finite,
            "first non-finite step": first_nan,
        }
    )
    return row


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.steps, args.batch_size, args.image_size = 2, 2, 64
        args.eval_images, args.nan_probe_steps = 2, 2
    settings = Settings(
        image_size=args.image_size,
        batch_size=args.batch_size,
        num_classes=5,
        backbone=args.backbone,
    )
    reason = report.forced_skip_reason(args) or keras_hub_peer.unavailable_reason()
    if reason:
        print(report.skip_line(keras_hub_peer.NAME, reason), flush=True)
    keras.utils.set_random_seed(0)
    meter = ForeignLoadMeter()
    meter.start()
    started = time.perf_counter()
    rows = [summarise(run_ours(settings, args), args.steps, args.learning_rate)]
    print(report.table(rows[-1:], COLUMNS), flush=True)
    if not reason:
        keras.utils.set_random_seed(0)
        rows.append(summarise(run_keras_hub(settings, args), args.steps, args.learning_rate))
        print(report.table(rows[-1:], COLUMNS), flush=True)
        if args.nan_probe_steps:
            rows.append(
                summarise(
                    nan_probe(settings, args.nan_probe_steps),
                    args.nan_probe_steps,
                    NAN_PROBE_LEARNING_RATE,
                )
            )
    load = meter.stop()
    print(
        report.table(
            rows,
            COLUMNS,
            title=(
                f"\n== equal budget: {args.steps} steps x {args.batch_size} images, "
                f"{args.image_size} px, SGD lr {args.learning_rate}"
            ),
        )
    )
    print(f"other processes kept {load['foreign_cpus']:.2f} CPUs busy")
    checks = []
    hub = next((row for row in rows if row["contender"] == keras_hub_peer.NAME), None)
    if hub is not None:
        checks.append(
            {
                "target": "equal budget: ours AP >= keras-hub AP",
                "value": rows[0]["AP"] - hub["AP"],
                "threshold": 0.0,
                "met": rows[0]["AP"] >= hub["AP"],
            }
        )
    checks.append(
        {
            "target": "ours: training loss finite",
            "value": float(rows[0]["finite"]),
            "threshold": 1.0,
            "met": rows[0]["finite"],
        }
    )
    print(report.table(checks, ("target", "value", "threshold", "met"), title="\n== targets"))
    report.write_json(
        args.out,
        {
            "benchmark": "compare_accuracy",
            "smoke": args.smoke,
            "settings": {
                "image_size": args.image_size,
                "batch_size": args.batch_size,
                "steps": args.steps,
                "learning_rate": args.learning_rate,
                "train_images": TRAIN_IMAGES,
                "eval_images": args.eval_images,
                "precision": "float32",
            },
            "skipped": {keras_hub_peer.NAME: reason} if reason else {},
            "rows": rows,
            "load": load,
            "targets": checks,
            "wall_s": time.perf_counter() - started,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
