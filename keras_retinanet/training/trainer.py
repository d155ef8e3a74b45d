"""`train(config)`: one training run from a `TrainConfig`, resumable, ending in COCO mAP.

What a run does, in order:

1. checks that the global dtype policy is the one `config.runtime.precision` resolves to
   (entry points set it with `setup_runtime`), seeds Keras / NumPy / Python and, when asked,
   makes TensorFlow ops deterministic;
2. builds the loaders, then under `strategy.scope()` the model (preset + overrides) and the
   optimizer (`CoupledWeightDecaySGD`, batch-scaled schedule), compiled;
3. restores the newest checkpoint of `model_dir/checkpoints` when there is one (weights,
   optimizer iterations and momentum slots), so the same command resumes a killed run;
4. trains with `fit`: one Keras epoch = `checkpoint.every_n_steps` steps, `initial_epoch` =
   the restored step / that; at each epoch end: optional COCO evaluation (`val_AP`, ...),
   `best.keras`, `last.keras`, TensorBoard scalars, then the checkpoint; a model with
   trainable BatchNorm first gets precise BatchNorm statistics from
   `evaluation.precise_bn_images` training images (`PreciseBatchNorm`), so every
   evaluation and saved model uses them; after training, one batch checks that
   inference mode detects where batch statistics do (`check_inference_mode` warns);
5. evaluates the final model with COCO mAP on `data.eval` and writes `metrics.json` and the
   detections (COCO results JSON).

Files in `checkpoint.model_dir`: config.json, inference_config.json, checkpoints/, logs/,
last.keras, best.keras (+ best.keras.json), metrics.json, detections.json,
train_result.json. In a multi-worker run only the chief writes them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
from typing import Any

import keras
import tensorflow as tf

from keras_retinanet.callbacks.precise_batch_norm import (
    PreciseBatchNorm,
    trainable_batch_norm_layers,
)
from keras_retinanet.callbacks.step_log_line import StepLogLine
from keras_retinanet.data import DetectionDataset
from keras_retinanet.data.input_pipeline import build_eval_pipeline
from keras_retinanet.evaluation.inference_mode_check import check_inference_mode
from keras_retinanet.training.coco_evaluation import build_coco_callback, evaluate_coco
from keras_retinanet.training.distribution_strategy import (
    STRATEGY_MULTI_WORKER,
    STRATEGY_TPU,
    is_chief,
)
from keras_retinanet.training.inference_config import InferenceConfig
from keras_retinanet.training.keras_file_checkpoint import KerasFileCheckpoint
from keras_retinanet.training.loader_factory import build_loader
from keras_retinanet.training.mixed_precision import global_precision, resolve_precision
from keras_retinanet.training.model_builder import build_retinanet, compile_retinanet
from keras_retinanet.training.multi_worker_fit import multi_worker_fit_context
from keras_retinanet.training.step_checkpoint import StepCheckpoint
from keras_retinanet.training.tensorboard_logger import TensorBoardLogger
from keras_retinanet.training.train_config import VERBOSE_AUTO, TrainConfig, config_to_dict
from keras_retinanet.training.train_input import build_train_input

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
LAST_MODEL_FILE = "last.keras"
BEST_MODEL_FILE = "best.keras"
METRICS_FILE = "metrics.json"
DETECTIONS_FILE = "detections.json"
RESULT_FILE = "train_result.json"
# Prefix of the in-training COCO metrics in the epoch logs; the best model follows val_AP.
EVAL_PREFIX = "val_"
BEST_METRIC = "val_AP"


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What a run produced.

    Attributes:
        model_dir: the output folder.
        initial_step: the step training started at (0, or the restored checkpoint's).
        final_step: optimizer iterations at the end.
        history: the epoch logs of this process's `fit` (`loss`, `classification_loss`,
            `box_loss`, `val_*` when evaluating during training).
        last_model_path: `last.keras` (None on non-chief workers).
        best_model_path: `best.keras` when one was saved, else None.
        metrics: final COCO metrics (`AP`, `AP50`, ...), or None without final evaluation
            or on non-chief workers.
        detections_path: the final detections as COCO results JSON, or None.
        is_chief: whether this process wrote the files.
    """

    model_dir: str
    initial_step: int
    final_step: int
    history: dict[str, list[float]]
    last_model_path: str | None
    best_model_path: str | None
    metrics: dict[str, float] | None
    detections_path: str | None
    is_chief: bool


def _check_precision(config: TrainConfig) -> None:
    expected = resolve_precision(config.runtime.precision, config.runtime.strategy)
    active = global_precision()
    if active != expected:
        raise ValueError(
            f"runtime.precision={config.runtime.precision!r} resolves to {expected!r} but the "
            f"global Keras dtype policy is {active!r}. Entry points set it before training "
            "(keras_retinanet.training.setup_runtime); set it, or pass the precision that "
            "matches the active policy."
        )


def _write_json(path: str, payload: Any) -> None:
    with open(path, "w", encoding="utf-8") as file:
        json.dump(payload, file, indent=2)


def _steps(model: keras.Model) -> int:
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def train(config: TrainConfig, strategy: tf.distribute.Strategy | None = None) -> TrainResult:
    """Runs (or resumes) the training described by `config` (see the module docstring).

    Args:
        config: the `TrainConfig`.
        strategy: the distribution strategy; None uses TensorFlow's current one (entry
            points pass the one `setup_runtime` built from `config.runtime`).

    Returns:
        The `TrainResult`.

    Raises:
        ValueError: the global dtype policy does not match the config, or the evaluation
            data's classes differ from the training data's.
        FloatingPointError: the loss became NaN (training stopped early).
    """
    _check_precision(config)
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(config.runtime.seed)
    if config.runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    chief = is_chief(strategy)
    model_dir = config.checkpoint.model_dir
    multi_worker = config.runtime.strategy == STRATEGY_MULTI_WORKER

    train_loader = build_loader(config.data.train)
    evaluates = config.data.eval is not None and config.evaluation.enabled
    eval_loader = build_loader(config.data.eval) if evaluates else None
    if eval_loader is not None and eval_loader.class_names != train_loader.class_names:
        raise ValueError(
            f"The evaluation classes {eval_loader.class_names} differ from the training "
            f"classes {train_loader.class_names}."
        )
    if chief:
        os.makedirs(model_dir, exist_ok=True)
        _write_json(os.path.join(model_dir, CONFIG_FILE), config_to_dict(config))
        InferenceConfig(
            tuple(train_loader.class_names), tuple(train_loader.category_ids), config.data.resize
        ).save(model_dir)

    with strategy.scope():
        model = build_retinanet(config.model, train_loader.num_classes)
        compile_retinanet(model, config)

    # Every worker saves (saving joins collective reads of synchronised variables); the
    # non-chief workers write to a scratch folder that is deleted at the end.
    scratch_dir = None if chief else tempfile.mkdtemp(prefix="retinanet_worker_")
    write_dir = model_dir if chief else scratch_dir
    checkpoint = StepCheckpoint(
        os.path.join(model_dir, CHECKPOINT_DIR),
        keep=config.checkpoint.keep,
        save_directory=os.path.join(write_dir, CHECKPOINT_DIR),
    )
    restored = checkpoint.restore(model) if config.checkpoint.resume else None
    initial_step = restored.step if restored is not None else 0
    if restored is not None:
        logger.info("Resuming from %s (step %d).", restored.weights_path, restored.step)

    every = config.checkpoint.every_n_steps
    callbacks: list[keras.callbacks.Callback] = []
    statistics_batches = _statistics_batches(model, config, strategy, train_loader)
    if statistics_batches is not None and config.evaluation.precise_bn_images:
        # First: Keras calls callbacks in order, evaluation and saving must see its result.
        callbacks.append(
            PreciseBatchNorm(statistics_batches, num_images=config.evaluation.precise_bn_images)
        )
    best_path = os.path.join(model_dir, BEST_MODEL_FILE)
    if config.evaluation.every_n_steps and eval_loader is not None:
        callbacks.append(
            build_coco_callback(
                eval_loader,
                config.data.resize,
                config.evaluation.batch_size,
                config.evaluation.max_images,
                every_n_epochs=config.evaluation.every_n_steps // every,
            )
        )
        if config.checkpoint.save_best and chief:
            callbacks.append(KerasFileCheckpoint(best_path, monitor=BEST_METRIC, mode="max"))
    last_path = os.path.join(model_dir, LAST_MODEL_FILE)
    last_saver = KerasFileCheckpoint(os.path.join(write_dir, LAST_MODEL_FILE))
    callbacks.append(last_saver)
    if chief and config.runtime.verbose == VERBOSE_AUTO and not sys.stdout.isatty():
        # Logs get a line every log_every_n_steps (Keras' bar writes only per epoch there).
        callbacks.append(
            StepLogLine(config.checkpoint.log_every_n_steps, config.schedule.total_steps)
        )
    if chief:
        if config.checkpoint.tensorboard:
            callbacks.append(
                TensorBoardLogger(
                    os.path.join(model_dir, LOG_DIR), config.checkpoint.log_every_n_steps
                )
            )
    callbacks += [keras.callbacks.TerminateOnNaN(), _SkipWhenStopped(checkpoint)]

    try:
        history = _fit(model, config, strategy, train_loader, initial_step, callbacks)
        if not history:  # already trained to the end: nothing was saved in this run
            last_saver.set_model(model)
            last_saver.save()
    finally:
        if scratch_dir is not None:
            shutil.rmtree(scratch_dir, ignore_errors=True)
    final_step = _steps(model)
    if chief and statistics_batches is not None:
        for batch in statistics_batches.take(1):
            check_inference_mode(model, batch[0])  # warns when inference mode is broken

    metrics = None
    detections_path = None
    if chief and config.evaluation.at_end and eval_loader is not None:
        eval_model = model
        if multi_worker:
            # The trained model's predict needs every worker; evaluate a local copy instead.
            eval_model = keras.models.load_model(last_path, compile=False)
        if config.evaluation.write_detections:
            detections_path = os.path.join(model_dir, DETECTIONS_FILE)
        metrics = evaluate_coco(
            eval_model,
            eval_loader,
            config.data.resize,
            config.evaluation.batch_size,
            config.evaluation.max_images,
            results_path=detections_path,
        )
        _write_json(os.path.join(model_dir, METRICS_FILE), {"step": final_step, **metrics})
        logger.info("COCO metrics at step %d: %s", final_step, metrics)

    result = TrainResult(
        model_dir=model_dir,
        initial_step=initial_step,
        final_step=final_step,
        history=history,
        last_model_path=last_path if chief else None,
        best_model_path=best_path if chief and os.path.exists(best_path) else None,
        metrics=metrics,
        detections_path=detections_path,
        is_chief=chief,
    )
    if chief:
        _write_json(os.path.join(model_dir, RESULT_FILE), dataclasses.asdict(result))
    return result


def _fit(
    model: keras.Model,
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    train_loader: DetectionDataset,
    initial_step: int,
    callbacks: list[keras.callbacks.Callback],
) -> dict[str, list[float]]:
    """Runs `fit` from `initial_step` to `schedule.total_steps`; returns the epoch logs."""
    total_steps = config.schedule.total_steps
    if initial_step >= total_steps:
        return {}
    every = config.checkpoint.every_n_steps
    strategy_name = config.runtime.strategy
    train_input = build_train_input(
        train_loader,
        config.data,
        strategy,
        seed=config.runtime.seed,
        start_step=initial_step,
        resume_data=config.checkpoint.resume_data,
        # Per-sample encoding in the parallel map needs one image size for every batch.
        encode_targets=model.encode_targets if config.data.resize.fixed_output_size else None,
        distribute_per_pipeline=strategy_name in (STRATEGY_MULTI_WORKER, STRATEGY_TPU),
    )
    fit_args = {
        "epochs": total_steps // every,
        "steps_per_epoch": every,
        "initial_epoch": initial_step // every,
        "callbacks": callbacks,
        "verbose": config.runtime.fit_verbose(sys.stdout.isatty()),
        "shuffle": False,  # the input pipeline shuffles
    }
    if strategy_name == STRATEGY_MULTI_WORKER:
        with multi_worker_fit_context(model, strategy):
            history = model.fit(train_input, **fit_args)
    else:
        history = model.fit(train_input, **fit_args)
    if model.stop_training and _steps(model) < total_steps:
        raise FloatingPointError(
            f"Training stopped at step {_steps(model)}: the loss became NaN or infinite. "
            "Lower the learning rate or check the data (retinanet-debug)."
        )
    return {name: [float(v) for v in values] for name, values in history.history.items()}


def _statistics_batches(
    model: keras.Model,
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    train_loader: DetectionDataset,
) -> tf.data.Dataset | None:
    """Training images for BatchNorm statistics, or None where none are computed.

    Batches of `(images, meta)`: the training images in a seeded random order through the
    evaluation preprocessing (what inference sees), at the per-replica training batch size
    (the batch size the weights' statistics come from). None when the model has no
    trainable BatchNorm, and under multi-worker / TPU strategies (not supported there).
    """
    if not trainable_batch_norm_layers(model):
        return None
    if config.runtime.strategy in (STRATEGY_MULTI_WORKER, STRATEGY_TPU):
        if config.evaluation.precise_bn_images:
            logger.warning(
                "Precise BatchNorm statistics are not supported with the %r strategy; the "
                "moving averages are kept.",
                config.runtime.strategy,
            )
        return None
    batch_size = max(1, config.data.global_batch_size // strategy.num_replicas_in_sync)
    elements = train_loader.as_dataset(shuffle=True, seed=config.runtime.seed)
    return build_eval_pipeline(elements, batch_size=batch_size, resize=config.data.resize)


class _SkipWhenStopped(keras.callbacks.Callback):
    """Runs the step checkpoint at epoch ends, except when training was stopped early.

    `fit` still ends the epoch after `TerminateOnNaN` stops it mid-epoch; checkpointing then
    would store a NaN state at a step that is no epoch boundary.
    """

    def __init__(self, checkpoint: StepCheckpoint):
        super().__init__()
        self.checkpoint = checkpoint

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        self.checkpoint.set_model(model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.model.stop_training:
            self.checkpoint.on_epoch_end(epoch, logs)
