"""Training speed of ours, keras-hub's and Model Garden's RetinaNet on identical settings.

ResNet50-FPN, 80 classes, 512x512, batch 2, random init, 9 anchors, 256-channel heads, SGD
with momentum 0.9 at learning rate 0 (every step does the same arithmetic on the same finite
numbers), one fixed synthetic batch. Per section, the contenders and the machine's
matmul/conv ceilings run in interleaved rounds; the table gives the median step time after
warm-up, images/s and the achieved GFLOP/s (3 x the forward FLOPs counted once by the TF
profiler, per step).

Sections:
* `float32` (the default): `like_for_like` and our default configuration in one interleaved
  section (keras-hub's default is its like-for-like configuration; Model Garden's default
  adds only an L2 term), so the models are built once and share the same minutes.
* `like_for_like` (float32): every layer trainable. Ours twice: targets encoded in the
  tf.data pipeline (our recommended setup) and inside the step (as keras-hub does).
* `default` (float32): each one's default training configuration (ours: frozen BatchNorm and
  frozen stem + conv2 as in the paper; keras-hub: all trainable; Model Garden: L2 1e-4).
* `bf16` (mixed_bfloat16): ours (default; all trainable too with `--bf16-all-trainable`),
  keras-hub, Model Garden. Then a
  short convergence check (ours and keras-hub, a real learning rate on the same batch):
  is the loss finite and falling?
* `proposals` (only when asked for): ours in its default configuration, float32 and
  mixed_bfloat16, with and without the proposed folding of frozen BatchNorms into the
  convolutions (`bench_lib/proposals.py`).

Each contender runs `--steps-per-round` timed steps per round after `--block-warmup` untimed
steps (interleaving evicts
oneDNN primitives and caches of the other models; the first step after a switch pays for
that, a training loop does not). The ceilings' best round is the reference of "vs ceiling"
(conservative on a loaded machine).

Example (peers need the .venv-peers environment, see benchmarks/README.md):
    .venv-peers/bin/python benchmarks/compare_train.py --out benchmarks/results/train.json
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras
import tensorflow as tf
from bench_lib import (
    ceiling,
    flops,
    keras_hub_peer,
    model_garden_peer,
    ours,
    proposals,
    report,
    timing,
)
from bench_lib.contenders import Settings, synthetic_batch
from bench_lib.machine import ForeignLoadMeter

SECTIONS = ("float32", "like_for_like", "default", "bf16", "proposals")
DEFAULT_SECTIONS = ("float32", "bf16")
FLOAT32 = "float32"
MIXED_BF16 = "mixed_bfloat16"
# The paper's learning rate (0.01 for batch 16) scaled linearly to batch 2.
CONVERGENCE_LEARNING_RATE = 0.00125
CONVERGENCE_STEPS = 6
SMOKE_SETTINGS = Settings(image_size=128, batch_size=2)
# Targets of the issue (see benchmarks/README.md).
FP32_CEILING_FRACTION = 0.85
LIKE_FOR_LIKE_SPEEDUP = 1.0
DEFAULT_SPEEDUP = 1.3
BF16_CEILING_FRACTION = 0.5
BF16_SPEEDUP = 2.8
BF16_STEP_S = 1.4
COLUMNS = (
    "contender",
    "config",
    "precision",
    "s/step",
    "min",
    "max",
    "img/s",
    "GFLOP/s",
    "vs ceiling",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    report.add_common_flags(parser, default_out="benchmarks/results/train.json")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(DEFAULT_SECTIONS))
    parser.add_argument("--rounds", type=int, default=4, help="interleaved timed rounds")
    parser.add_argument(
        "--steps-per-round",
        type=int,
        default=2,
        help="timed steps of a contender per round (after one untimed step)",
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument(
        "--block-warmup",
        type=int,
        default=1,
        help="untimed steps of a contender at the start of each of its blocks in a round",
    )
    parser.add_argument(
        "--convergence-steps",
        type=int,
        default=CONVERGENCE_STEPS,
        help="real SGD steps of the bf16 convergence check",
    )
    parser.add_argument(
        "--bf16-all-trainable",
        action="store_true",
        help="also time ours with every layer trainable in the bf16 section",
    )
    parser.add_argument("--image-size", type=int, default=Settings.image_size)
    parser.add_argument("--batch-size", type=int, default=Settings.batch_size)
    parser.add_argument(
        "--inter-op-threads",
        type=int,
        default=0,
        help="TensorFlow inter-op threads for the whole process (0: default)",
    )
    parser.add_argument(
        "--no-model-garden-bf16",
        action="store_true",
        help="leave Model Garden out of the bf16 section",
    )
    return parser


def peer_reasons(args) -> dict[str, str | None]:
    forced = report.forced_skip_reason(args)
    if forced:
        return {keras_hub_peer.NAME: forced, model_garden_peer.NAME: forced}
    return {
        keras_hub_peer.NAME: keras_hub_peer.unavailable_reason(),
        model_garden_peer.NAME: model_garden_peer.unavailable_reason(),
    }


def contender_specs(section: str, reasons: dict, args) -> list[dict]:
    """What runs in a section: implementation, config, precision, targets."""
    hub_ok = reasons[keras_hub_peer.NAME] is None
    garden_ok = reasons[model_garden_peer.NAME] is None
    specs = []
    if section in ("like_for_like", "float32"):
        specs += [
            {"impl": ours.NAME, "config": ours.ALL_TRAINABLE, "targets": ours.TARGETS_PIPELINE},
            {"impl": ours.NAME, "config": ours.ALL_TRAINABLE, "targets": ours.TARGETS_IN_GRAPH},
        ]
        if hub_ok:
            specs.append({"impl": keras_hub_peer.NAME, "config": "all_trainable (default)"})
        if garden_ok:
            specs.append(
                {"impl": model_garden_peer.NAME, "config": model_garden_peer.ALL_TRAINABLE}
            )
        if section == "float32":
            specs.append(
                {"impl": ours.NAME, "config": ours.DEFAULT, "targets": ours.TARGETS_PIPELINE}
            )
        precision = FLOAT32
    elif section == "default":
        specs.append({"impl": ours.NAME, "config": ours.DEFAULT, "targets": ours.TARGETS_PIPELINE})
        if hub_ok:
            specs.append({"impl": keras_hub_peer.NAME, "config": "all_trainable (default)"})
        if garden_ok:
            specs.append({"impl": model_garden_peer.NAME, "config": model_garden_peer.DEFAULT})
        precision = FLOAT32
    elif section == "proposals":
        for precision in (FLOAT32, MIXED_BF16):
            for folded in (False, True):
                specs.append(
                    {
                        "impl": ours.NAME,
                        "config": ours.DEFAULT,
                        "targets": "folded_bn" if folded else ours.TARGETS_PIPELINE,
                        "folded": folded,
                        "precision": precision,
                    }
                )
    else:
        specs.append({"impl": ours.NAME, "config": ours.DEFAULT, "targets": ours.TARGETS_PIPELINE})
        if args.bf16_all_trainable:
            specs.append(
                {"impl": ours.NAME, "config": ours.ALL_TRAINABLE, "targets": ours.TARGETS_PIPELINE}
            )
        if hub_ok:
            specs.append({"impl": keras_hub_peer.NAME, "config": "all_trainable (default)"})
        if garden_ok and not args.no_model_garden_bf16:
            specs.append(
                {"impl": model_garden_peer.NAME, "config": model_garden_peer.ALL_TRAINABLE}
            )
        precision = MIXED_BF16
    for spec in specs:
        spec.setdefault("precision", precision)
        spec["name"] = (
            "/".join(
                part
                for part in (spec["impl"], spec["config"].split(" ")[0], spec.get("targets"))
                if part
            )
            + f"/{spec['precision']}"
        )
    return specs


def build_trainer(spec: dict, settings: Settings, batch, learning_rate: float = 0.0):
    """`(trainer, forward_fn)` for a spec."""
    if spec["impl"] == ours.NAME:
        if spec.get("folded"):
            with proposals.folded_backbones():
                model = ours.build_model(settings, spec["config"], spec["precision"])
        else:
            model = ours.build_model(settings, spec["config"], spec["precision"])
        # "folded_bn" labels the proposal; its targets come from the pipeline as usual.
        targets = ours.TARGETS_PIPELINE if spec.get("folded") else spec["targets"]
        trainer = ours.Trainer(model, batch, targets, learning_rate)
        return trainer, ours.forward(model)
    if spec["impl"] == keras_hub_peer.NAME:
        model = keras_hub_peer.build_model(settings, spec["precision"])
        return keras_hub_peer.Trainer(model, batch, learning_rate), keras_hub_peer.forward(model)
    trainer = model_garden_peer.Trainer(
        settings, batch, spec["config"], spec["precision"], learning_rate
    )
    return trainer, model_garden_peer.forward(trainer.model)


def release_models() -> None:
    keras.backend.clear_session()
    gc.collect()


def run_section(section: str, settings: Settings, batch, reasons: dict, args, flop_cache: dict):
    specs = contender_specs(section, reasons, args)
    steps, meta = {}, {}
    for spec in specs:
        print(f"[{section}] building {spec['name']}", flush=True)
        trainer, forward = build_trainer(spec, settings, batch)
        if spec["impl"] not in flop_cache:
            # FLOPs are counted on the float32 graph; bf16 runs do the same operations.
            flop_cache[spec["impl"]] = flops.count_forward_flops(
                forward, (1, *settings.image_shape)
            )
        steps[spec["name"]] = trainer.step
        meta[spec["name"]] = spec
    ceiling_runs, ceiling_flops = ceiling.ceiling_steps(scale=0.25 if args.smoke else 1.0)
    steps.update(ceiling_runs)
    meter = ForeignLoadMeter()
    meter.start()
    results = timing.interleaved(
        steps,
        rounds=args.rounds,
        steps_per_round=args.steps_per_round,
        warmup=args.warmup,
        block_warmup=0 if args.smoke else args.block_warmup,
        on_round=lambda index: print(f"[{section}] round {index + 1}/{args.rounds}", flush=True),
    )
    load = meter.stop()
    ceilings = {
        name: ceiling_flops[name] / min(results[name].times_s) / 1e9 for name in ceiling_runs
    }
    ceilings_median = {
        name: ceiling_flops[name] / results[name].median_s / 1e9 for name in ceiling_runs
    }
    fp32_ceiling = max(ceilings["ceiling/matmul/float32"], ceilings["ceiling/conv3x3/float32"])
    rows = []
    for name, spec in meta.items():
        result = results[name]
        step_flops = flops.TRAINING_FLOPS_FACTOR * flop_cache[spec["impl"]] * settings.batch_size
        gflops = step_flops / result.median_s / 1e9
        reference = (
            fp32_ceiling
            if spec["precision"] == FLOAT32
            else ceilings["ceiling/conv_stack_train/bfloat16"]
        )
        low, high = result.spread
        rows.append(
            {
                "name": name,
                "contender": spec["impl"]
                + (f" ({spec['targets']})" if spec.get("targets") else ""),
                "config": spec["config"],
                "precision": spec["precision"],
                "s/step": result.median_s,
                "min": low,
                "max": high,
                "img/s": settings.batch_size / result.median_s,
                "GFLOP/s": gflops,
                "vs ceiling": gflops / reference,
                "timing": result.as_dict(),
            }
        )
    release_models()
    return {
        "rows": rows,
        "ceilings_gflops": ceilings,
        "ceilings_gflops_median": ceilings_median,
        "fp32_ceiling_gflops": fp32_ceiling,
        "load": load,
    }


def convergence_check(settings: Settings, batch, reasons: dict, steps: int) -> list[dict]:
    """Losses of a few real SGD steps (mixed_bfloat16) on the shared batch."""
    specs = [{"impl": ours.NAME, "config": ours.DEFAULT, "targets": ours.TARGETS_PIPELINE}]
    if reasons[keras_hub_peer.NAME] is None:
        specs.append({"impl": keras_hub_peer.NAME, "config": "all_trainable (default)"})
    rows = []
    for spec in specs:
        spec["precision"] = MIXED_BF16
        try:
            trainer, _ = build_trainer(spec, settings, batch, CONVERGENCE_LEARNING_RATE)
            losses = [trainer.step() for _ in range(steps)]
        except Exception as error:  # a peer's failure must not lose the timings
            if spec["impl"] == ours.NAME:
                raise
            print(report.skip_line(f"{spec['impl']} convergence", repr(error)), flush=True)
            rows.append({"contender": spec["impl"], "error": repr(error)})
            continue
        finite = all(math.isfinite(loss) for loss in losses)
        rows.append(
            {
                "contender": spec["impl"],
                "precision": MIXED_BF16,
                "learning_rate": CONVERGENCE_LEARNING_RATE,
                "losses": losses,
                "finite": finite,
                "falling": finite and losses[-1] < losses[0],
            }
        )
        print(f"[convergence] {spec['impl']}: {[f'{loss:.4g}' for loss in losses]}", flush=True)
        del trainer
        release_models()
    return rows


def _row(section_result, prefix: str):
    for row in section_result["rows"]:
        if row["name"].startswith(prefix):
            return row
    return None


def evaluate_targets(sections: dict, convergence: list[dict]) -> list[dict]:
    """The issue's training targets, each with the measured value and whether it is met."""
    checks = []

    def check(target, value, threshold, higher_is_better=True, note=""):
        met = (
            None
            if value is None
            else (value >= threshold if higher_is_better else value <= threshold)
        )
        checks.append(
            {"target": target, "value": value, "threshold": threshold, "met": met, "note": note}
        )

    like = sections.get("like_for_like") or sections.get("float32")
    if like:
        mine = _row(like, "ours/all_trainable/pipeline")
        check(
            "fp32 like for like: achieved / fp32 ceiling", mine["vs ceiling"], FP32_CEILING_FRACTION
        )
        peers = [row for row in like["rows"] if not row["name"].startswith("ours")]
        if peers:
            fastest = max(peers, key=lambda row: row["img/s"])
            check(
                f"fp32 like for like: ours img/s / fastest peer ({fastest['contender']})",
                mine["img/s"] / fastest["img/s"],
                LIKE_FOR_LIKE_SPEEDUP,
            )
            in_graph = _row(like, "ours/all_trainable/in_graph")
            check(
                f"fp32 like for like, targets in the step: ours / {fastest['contender']}",
                in_graph["img/s"] / fastest["img/s"],
                LIKE_FOR_LIKE_SPEEDUP,
            )
    default = sections.get("default") or sections.get("float32")
    if default:
        hub = _row(default, keras_hub_peer.NAME)
        if hub:
            mine = _row(default, "ours/default")
            check(
                "fp32 default config: ours img/s / keras-hub img/s",
                mine["img/s"] / hub["img/s"],
                DEFAULT_SPEEDUP,
            )
    proposal = sections.get("proposals")
    if proposal:
        for precision in (FLOAT32, MIXED_BF16):
            base = _row(proposal, f"ours/default/pipeline/{precision}")
            folded = _row(proposal, f"ours/default/folded_bn/{precision}")
            check(
                f"proposal, frozen BN folded ({precision}): speed-up",
                folded["img/s"] / base["img/s"],
                1.0,
                note="not a target",
            )
    bf16 = sections.get("bf16")
    if bf16:
        mine = _row(bf16, "ours/default")
        check(
            "mixed_bf16: achieved / bf16 conv-stack training ceiling",
            mine["vs ceiling"],
            BF16_CEILING_FRACTION,
        )
        check(
            "mixed_bf16: ours s/step (R50-FPN 512 b2)",
            mine["s/step"],
            BF16_STEP_S,
            higher_is_better=False,
            note="figure of the issue's AMX machine",
        )
        hub = _row(bf16, keras_hub_peer.NAME)
        if hub:
            check(
                "mixed_bf16: keras-hub s/step / ours s/step",
                hub["s/step"] / mine["s/step"],
                BF16_SPEEDUP,
            )
    for row in convergence:
        if row["contender"] == ours.NAME:
            check("mixed_bf16: ours loss finite and falling", float(row["falling"]), 1.0)
    return checks


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    settings = dataclasses.replace(
        SMOKE_SETTINGS
        if args.smoke
        else Settings(image_size=args.image_size, batch_size=args.batch_size),
        backbone=args.backbone,
    )
    if args.smoke:
        args.rounds, args.warmup, args.steps_per_round = 1, 1, 1
    batch = synthetic_batch(settings)
    reasons = peer_reasons(args)
    for name, reason in reasons.items():
        if reason:
            print(report.skip_line(name, reason), flush=True)
    flop_cache: dict[str, float] = {}
    sections: dict[str, dict] = {}
    convergence: list[dict] = []
    started = time.perf_counter()

    def save(final: bool) -> list[dict]:
        """Writes what is measured so far (after every section: a long run that is stopped
        keeps its finished sections)."""
        checks = evaluate_targets(sections, convergence)
        report.write_json(
            args.out,
            {
                "benchmark": "compare_train",
                "complete": final,
                "settings": dataclasses.asdict(settings),
                "smoke": args.smoke,
                "rounds": args.rounds,
                "steps_per_round": args.steps_per_round,
                "warmup": args.warmup,
                "block_warmup": args.block_warmup,
                "inter_op_threads": args.inter_op_threads,
                "forward_gflop_per_image": {
                    name: value / 1e9 for name, value in flop_cache.items()
                },
                "skipped": {name: reason for name, reason in reasons.items() if reason},
                "sections": sections,
                "convergence": convergence,
                "targets": checks,
                "wall_s": time.perf_counter() - started,
            },
        )
        return checks

    for section in args.sections:
        sections[section] = run_section(section, settings, batch, reasons, args, flop_cache)
        result = sections[section]
        print(report.table(result["rows"], COLUMNS, title=f"\n== {section} ({settings})"))
        print(
            "ceilings GFLOP/s (best round): "
            + ", ".join(
                f"{name.split('/', 1)[1]} {value:.0f}"
                for name, value in result["ceilings_gflops"].items()
            )
        )
        print(f"other processes kept {result['load']['foreign_cpus']:.2f} CPUs busy", flush=True)
        save(final=False)
    if "bf16" in args.sections:
        convergence = convergence_check(
            settings, batch, reasons, 2 if args.smoke else args.convergence_steps
        )
    checks = save(final=True)
    print(
        report.table(checks, ("target", "value", "threshold", "met", "note"), title="\n== targets")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
