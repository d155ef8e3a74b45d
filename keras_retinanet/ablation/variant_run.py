"""Trains and scores one `AblationVariant` on the base config's data and budget."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from keras_retinanet.ablation.ablation_variant import AblationVariant
from keras_retinanet.ablation.step_loss_recorder import StepLossRecorder
from keras_retinanet.ablation.variant_model import build_classification_loss, build_variant_model
from keras_retinanet.data import DetectionDataset
from keras_retinanet.losses.smooth_l1_loss import SmoothL1Loss
from keras_retinanet.training.coco_evaluation import build_coco_callback, evaluate_coco
from keras_retinanet.training.loader_factory import build_loader
from keras_retinanet.training.mixed_precision import global_precision, resolve_precision
from keras_retinanet.training.optimizer_builder import build_optimizer
from keras_retinanet.training.train_config import (
    TrainConfig,
    config_to_dict,
)
from keras_retinanet.training.train_input import build_train_input

logger = logging.getLogger(__name__)

RESULT_FILE = "result.json"
MODEL_FILE = "model.keras"
METRIC_NAMES = ("AP", "AP50", "AP75")
# The final loss of a run is the mean over this fraction of its last steps.
FINAL_LOSS_FRACTION = 0.1
EVAL_PREFIX = "val_"
FINGERPRINT_LENGTH = 12


@dataclasses.dataclass(frozen=True)
class VariantResult:
    """What one ablation run measured.

    Attributes:
        run_key: the variant's `run_key` (its folder under `runs/`).
        base_fingerprint: `config_fingerprint` of the base config it was trained with.
        variant: the variant as a dict.
        metrics: final COCO metrics (`AP`, `AP50`, `AP75`, ...) on the evaluation data; None
            when training did not stay finite.
        finite: every step's loss was finite (training did not diverge).
        steps: steps trained (fewer than planned when the loss became NaN).
        initial_losses: name -> losses of the first `recorded_steps` steps.
        final_loss: mean total loss over the last 10% of the steps (NaN if it diverged).
        loss_curve: total loss of every step.
        classification_loss_curve: classification loss of every step.
        eval_curve: step -> in-training COCO metrics (when the base config evaluates
            during training).
        train_seconds: wall time of training (evaluation excluded).
    """

    run_key: str
    base_fingerprint: str
    variant: dict
    metrics: dict[str, float] | None
    finite: bool
    steps: int
    initial_losses: dict[str, list[float]]
    final_loss: float
    loss_curve: list[float]
    classification_loss_curve: list[float]
    eval_curve: dict[str, dict[str, float]]
    train_seconds: float

    def save(self, path: str) -> None:
        """Writes the result as JSON (non-finite floats as null)."""
        with open(path, "w", encoding="utf-8") as file:
            json.dump(json_safe(dataclasses.asdict(self)), file, indent=1)

    @classmethod
    def load(cls, path: str) -> VariantResult:
        """Reads a result written by `save` (null floats back to NaN)."""
        with open(path, encoding="utf-8") as file:
            payload = json.load(file)
        payload["final_loss"] = _nan_if_none(payload["final_loss"])
        for key in ("loss_curve", "classification_loss_curve"):
            payload[key] = [_nan_if_none(value) for value in payload[key]]
        payload["initial_losses"] = {
            name: [_nan_if_none(value) for value in values]
            for name, values in payload["initial_losses"].items()
        }
        return cls(**payload)


def json_safe(value):
    """`value` with every non-finite float (nested in dicts / lists) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def _nan_if_none(value):
    return float("nan") if value is None else value


def config_fingerprint(config: TrainConfig) -> str:
    """A short hash of the fields of `config` that change what a run trains.

    The checkpoint settings (output folder, epoch length) and the verbosity are left out.
    """
    payload = config_to_dict(config)
    del payload["checkpoint"]
    del payload["runtime"]["verbose"]
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


def check_precision(config: TrainConfig) -> None:
    """Raises unless the global dtype policy is the one `config.runtime.precision` gives."""
    expected = resolve_precision(config.runtime.precision, config.runtime.strategy)
    if global_precision() != expected:
        raise ValueError(
            f"runtime.precision={config.runtime.precision!r} resolves to {expected!r} but the "
            f"global Keras dtype policy is {global_precision()!r}; call "
            "keras_retinanet.training.setup_runtime(config.runtime) first."
        )


def run_variant(
    base: TrainConfig,
    variant: AblationVariant,
    run_dir: str,
    strategy: tf.distribute.Strategy | None = None,
    recorded_steps: int = 20,
    save_model: bool = True,
    run_eagerly: bool = False,
    train_loader: DetectionDataset | None = None,
    eval_loader: DetectionDataset | None = None,
) -> VariantResult:
    """Trains the variant for the base config's budget, scores it, saves model and result.

    Every run starts from the same seed (`base.runtime.seed`): the same initial weights
    (where shapes agree), the same images in the same order, the same augmentations.

    Args:
        base: the base training run (see `AblationConfig`).
        variant: what this run changes.
        run_dir: output folder (`model.keras`, `result.json`).
        strategy: the distribution strategy; None: TensorFlow's current one.
        recorded_steps: the first steps whose losses are kept in `initial_losses`.
        save_model: write the trained model to `run_dir/model.keras` (when finite).
        run_eagerly: run the training steps eagerly (no tracing: quicker for a handful of
            steps, much slower for real runs).
        train_loader: the training loader (e.g. an `InMemoryDataset` shared by the runs of
            a grid); None: built from `base.data.train`.
        eval_loader: the evaluation loader; None: built from `base.data.eval`.

    Returns:
        The `VariantResult` (also written to `run_dir/result.json`).
    """
    check_precision(base)
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(base.runtime.seed)
    os.makedirs(run_dir, exist_ok=True)
    train_loader = train_loader or build_loader(base.data.train)
    eval_loader = eval_loader or build_loader(base.data.eval)
    if eval_loader.class_names != train_loader.class_names:
        raise ValueError(
            f"The evaluation classes {eval_loader.class_names} differ from the training "
            f"classes {train_loader.class_names}."
        )
    with strategy.scope():
        model = build_variant_model(base.model, variant, train_loader.num_classes)
        model.compile(
            optimizer=build_optimizer(base.optimizer, base.schedule, base.data.global_batch_size),
            classification_loss=build_classification_loss(variant),
            box_loss=SmoothL1Loss(beta=base.model.smooth_l1_beta),
            box_loss_weight=base.model.box_loss_weight,
            run_eagerly=run_eagerly,
        )
    train_input = build_train_input(
        train_loader,
        base.data,
        strategy,
        seed=base.runtime.seed,
        encode_targets=model.encode_targets,
    )
    recorder = StepLossRecorder()
    every = base.checkpoint.every_n_steps
    eval_recorder = _EvalCurveRecorder(every)
    callbacks: list[keras.callbacks.Callback] = [recorder]
    if base.evaluation.every_n_steps:
        callbacks.append(
            build_coco_callback(
                eval_loader,
                base.data.resize,
                base.evaluation.batch_size,
                base.evaluation.max_images,
                every_n_epochs=base.evaluation.every_n_steps // every,
            )
        )
    callbacks += [eval_recorder, keras.callbacks.TerminateOnNaN()]
    logger.info("Ablation run %s (%s)", variant.name, variant.run_key)
    start = time.perf_counter()
    model.fit(
        train_input,
        epochs=base.schedule.total_steps // every,
        steps_per_epoch=every,
        callbacks=callbacks,
        verbose=base.runtime.fit_verbose(sys.stdout.isatty()),
        shuffle=False,
    )
    train_seconds = time.perf_counter() - start
    losses = recorder.losses
    loss_curve = losses.get("loss", [])
    finite = bool(loss_curve) and all(math.isfinite(value) for value in loss_curve)
    finite = finite and len(loss_curve) == base.schedule.total_steps
    metrics = None
    if finite:
        metrics = evaluate_coco(
            model,
            eval_loader,
            base.data.resize,
            base.evaluation.batch_size,
            base.evaluation.max_images,
        )
        if save_model:
            model.save(os.path.join(run_dir, MODEL_FILE))
    tail = max(1, int(len(loss_curve) * FINAL_LOSS_FRACTION))
    result = VariantResult(
        run_key=variant.run_key,
        base_fingerprint=config_fingerprint(base),
        variant=config_to_dict(variant),
        metrics=metrics,
        finite=finite,
        steps=len(loss_curve),
        initial_losses={name: values[:recorded_steps] for name, values in losses.items()},
        final_loss=float(np.mean(loss_curve[-tail:])) if finite else float("nan"),
        loss_curve=loss_curve,
        classification_loss_curve=losses.get("classification_loss", []),
        eval_curve=eval_recorder.curve,
        train_seconds=train_seconds,
    )
    result.save(os.path.join(run_dir, RESULT_FILE))
    return result


class _EvalCurveRecorder(keras.callbacks.Callback):
    """Keeps the in-training COCO metrics (`val_*` epoch logs) by step."""

    def __init__(self, steps_per_epoch: int):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.curve: dict[str, dict[str, float]] = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = {
            name[len(EVAL_PREFIX) :]: float(value)
            for name, value in (logs or {}).items()
            if name.startswith(EVAL_PREFIX)
        }
        if metrics:
            self.curve[str((epoch + 1) * self.steps_per_epoch)] = metrics
