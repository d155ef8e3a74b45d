"""The demo's FPN-Lite model against R50-FPN, trained with the same budget (issue 6).

Both models are trained by the library's trainer (`keras_retinanet.training.train`) with the
`shapes` recipe exactly as the demo runs it (the same generated training and held-out
splits, input size, anchors, box matching, loss, optimizer, learning rate, schedule, steps,
batch and augmentation); only the architecture differs:

* mobile: the recipe's preset (`retinanet_mobilenetv2_035_fpnlite_128`);
* r50: `retinanet_resnet50_fpn_512`'s R50-FPN (256-channel FPN, four 256-channel convs per
  subnet) at the recipe's 128 px input and pyramid levels, with every BatchNorm trainable
  and no frozen stage (there are no pretrained weights to keep: both start from random
  initialisation, since nothing can be downloaded here).

Prints and writes (`--out`) COCO AP / AP50 on the held-out split (the trainer's final
evaluation, class-wise NMS), forward GFLOPs per image at the input size (TensorFlow
profiler, raw head outputs), parameters and the training time of each, and the verdict of
the issue's target: the mobile model within 5 AP50 points of R50-FPN.

Example (the default run: the demo's 2,000 steps of 16 images for both; ~35 minutes on 2
idle cores, most of it R50):
    .venv/bin/python benchmarks/mobile_vs_r50.py
Quick check that everything runs (numbers meaningless):
    .venv/bin/python benchmarks/mobile_vs_r50.py --smoke --out /tmp/mobile_vs_r50.json
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

# Quiet TensorFlow's C++ start-up logs before it is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras
from bench_lib import flops, report

from keras_retinanet.training import train
from keras_retinanet.training.model_builder import build_retinanet
from keras_retinanet.training.recipes.shapes import shapes_config
from keras_retinanet.training.train_config import TrainConfig, with_total_steps

R50_PRESET = "retinanet_resnet50_fpn_512"
MODELS = ("mobile", "r50")
TARGET_AP50_GAP = 5.0  # AP50 points the mobile model may trail R50-FPN by
POINTS = 100.0  # COCO metrics in [0, 1] -> points
METRIC_NAMES = ("AP", "AP50", "AP75", "AR100")
COLUMNS = ("model", "preset", "params M", "GFLOPs", "steps x batch", "train s", "AP", "AP50")
# --smoke: a few steps on a few images (checks the plumbing only).
SMOKE_STEPS = 2
SMOKE_TRAIN_IMAGES = 8
SMOKE_EVAL_IMAGES = 4
SMOKE_BATCH_SIZE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/mobile_vs_r50.json")
    parser.add_argument(
        "--smoke", action="store_true", help="a few steps on a few images (numbers meaningless)"
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--steps", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--work-dir", default=None, help="run folders (default: a temp dir)")
    return parser


def model_config(key: str, args: argparse.Namespace, work_dir: str) -> TrainConfig:
    """The shapes recipe for one model of the comparison (only the architecture differs)."""
    config = shapes_config()
    model = config.model
    if key == "r50":
        model = dataclasses.replace(
            model,
            preset=R50_PRESET,
            max_level=model.resolved_max_level,  # the recipe's pyramid levels and anchors
            # From scratch: every BatchNorm trains, no ResNet stage is frozen.
            backbone_frozen_batch_norm=False,
            backbone_frozen_stages=0,
        )
    steps = args.steps or config.schedule.total_steps
    data = config.data
    if args.smoke:
        steps = SMOKE_STEPS
        data = dataclasses.replace(
            data,
            train=dataclasses.replace(data.train, num_images=SMOKE_TRAIN_IMAGES),
            eval=dataclasses.replace(data.eval, num_images=SMOKE_EVAL_IMAGES),
            global_batch_size=SMOKE_BATCH_SIZE,
        )
    config = with_total_steps(config, steps)
    return dataclasses.replace(
        config,
        name=f"mobile_vs_r50_{key}",
        model=model,
        data=data,
        checkpoint=dataclasses.replace(
            config.checkpoint,
            model_dir=os.path.join(work_dir, key),
            resume=False,
            tensorboard=False,
            save_best=False,
        ),
        evaluation=dataclasses.replace(
            config.evaluation, every_n_steps=0, at_end=True, write_detections=False
        ),
    )


def forward_gflops(config: TrainConfig, num_classes: int) -> tuple[float, int]:
    """(forward GFLOPs of one image at the recipe's input size, parameters) of a fresh model."""
    keras.backend.clear_session()
    model = build_retinanet(config.model, num_classes)
    side = config.data.resize.size
    gflops = flops.count_forward_flops(lambda x: model(x, training=False), (1, side, side, 3))
    return gflops / 1e9, model.count_params()


def run_model(key: str, args: argparse.Namespace, work_dir: str) -> dict:
    config = model_config(key, args, work_dir)
    gflops, params = forward_gflops(config, num_classes=5)
    keras.backend.clear_session()
    print(f"[{key}] training {config.model.preset} for {config.schedule.total_steps} steps")
    started = time.perf_counter()
    result = train(config)
    seconds = time.perf_counter() - started
    return {
        "preset": config.model.preset,
        "params": params,
        "forward_gflops": gflops,
        "input_size": config.data.resize.size,
        "steps": result.final_step,
        "batch_size": config.data.global_batch_size,
        "train_and_eval_s": seconds,
        "final_loss": result.history["loss"][-1],
        "metrics": {name: result.metrics[name] for name in METRIC_NAMES},
    }


def verdict(results: dict) -> dict | None:
    if not all(key in results for key in MODELS):
        return None
    mobile, r50 = (results[key]["metrics"]["AP50"] * POINTS for key in MODELS)
    gap = r50 - mobile
    return {
        "target": f"mobile AP50 within {TARGET_AP50_GAP:g} points of R50-FPN",
        "mobile_ap50": mobile,
        "r50_ap50": r50,
        "gap_points": gap,
        "flop_fraction": results["mobile"]["forward_gflops"] / results["r50"]["forward_gflops"],
        "met": gap <= TARGET_AP50_GAP,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="mobile_vs_r50_")
    results = {key: run_model(key, args, work_dir) for key in args.models}
    rows = [
        {
            "model": key,
            "preset": row["preset"],
            "params M": row["params"] / 1e6,
            "GFLOPs": row["forward_gflops"],
            "steps x batch": f"{row['steps']} x {row['batch_size']}",
            "train s": row["train_and_eval_s"],
            "AP": row["metrics"]["AP"] * POINTS,
            "AP50": row["metrics"]["AP50"] * POINTS,
        }
        for key, row in results.items()
    ]
    print(report.table(rows, COLUMNS, title="Shapes recipe, held-out split (COCO points)"))
    summary = verdict(results)
    if summary is not None:
        print(
            f"{summary['target']}: {'MET' if summary['met'] else 'NOT MET'} "
            f"(gap {summary['gap_points']:.1f} points; mobile at "
            f"{summary['flop_fraction']:.1%} of R50-FPN's FLOPs)"
        )
    report.write_json(
        args.out, {"smoke": args.smoke, "models": results, "target": summary, "rows": rows}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
