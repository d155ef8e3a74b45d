"""Helpers shared by the training tests (imported explicitly; not a pytest conftest)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.training.train_config import (
    AugmentationSettings,
    CheckpointConfig,
    DataConfig,
    DatasetSpec,
    EvaluationConfig,
    ModelConfig,
    OptimizerConfig,
    RuntimeConfig,
    ScheduleConfig,
    TrainConfig,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_IMAGE_SIZE = 64
TINY_ANCHOR_SIZES = (16.0, 32.0, 64.0, 128.0, 256.0)

# A tiny model with frozen BatchNorm everywhere (equal results on any number of replicas).
TINY_MODEL = ModelConfig(
    preset="retinanet_mobilenetv2_035_fpnlite_320",
    backbone_weights=None,
    image_size=TINY_IMAGE_SIZE,
    backbone_frozen_batch_norm=True,
    fpn_channels=16,
    fpn_batch_norm=False,
    head_channels=16,
    head_depth=1,
    head_batch_norm=False,
    anchor_sizes=TINY_ANCHOR_SIZES,
)

# The same as `retinanet-train shapes` flags, for subprocess runs.
TINY_SHAPES_FLAGS = (
    "--model.image_size", str(TINY_IMAGE_SIZE),
    "--model.backbone_frozen_batch_norm", "true",
    "--model.fpn_channels", "16",
    "--model.fpn_batch_norm", "false",
    "--model.head_channels", "16",
    "--model.head_depth", "1",
    "--model.head_batch_norm", "false",
    "--data.resize.size", str(TINY_IMAGE_SIZE),
    "--data.train.image_size", str(TINY_IMAGE_SIZE),
    "--data.eval.image_size", str(TINY_IMAGE_SIZE),
    "--data.train.num_images", "32",
    "--data.eval.num_images", "8",
    "--runtime.precision", "float32",
    "--runtime.verbose", "0",
)  # fmt: skip


def shapes_spec(num_images: int, seed: int, image_size: int = TINY_IMAGE_SIZE) -> DatasetSpec:
    """A generated-shapes split."""
    return DatasetSpec(format="shapes", num_images=num_images, image_size=image_size, seed=seed)


def tiny_config(model_dir: str, **replacements) -> TrainConfig:
    """A `TrainConfig` that trains the tiny model for 4 steps of 2 images at 64 px (float32).

    Args:
        model_dir: the run's output folder.
        **replacements: sub-configs replacing the defaults (e.g. `schedule=...`).
    """
    config = TrainConfig(
        name="tiny",
        model=TINY_MODEL,
        data=DataConfig(
            train=shapes_spec(16, seed=0),
            eval=shapes_spec(4, seed=1),
            global_batch_size=2,
            resize=ResizeConfig(mode="letterbox", size=TINY_IMAGE_SIZE),
            augmentation=AugmentationSettings(flip_probability=0.5),
            shuffle_buffer=8,
        ),
        optimizer=OptimizerConfig(base_learning_rate=0.01, reference_batch_size=2),
        schedule=ScheduleConfig(total_steps=4, warmup_steps=1, step_boundaries=(3,)),
        checkpoint=CheckpointConfig(model_dir=model_dir, every_n_steps=2, tensorboard=False),
        evaluation=EvaluationConfig(at_end=False),
        runtime=RuntimeConfig(precision="float32", verbose=0),
    )
    return dataclasses.replace(config, **replacements)


def run_module(module: str, *args: str, env: dict | None = None, timeout: float = 300):
    """Runs `python -m module args` from the repository root; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env or subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def subprocess_env(**extra: str) -> dict:
    """The environment for a child Python: quiet TensorFlow, repository on the path."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env
