"""keras-retinanet (this repository) as a benchmark contender."""

from __future__ import annotations

import keras
import tensorflow as tf

from bench_lib.contenders import Settings, SyntheticBatch, keras_policy
from keras_retinanet.models.retinanet import RetinaNet

NAME = "ours"
# Training configurations: every layer trainable (like for like with the peers), or the
# model's defaults (ResNets: frozen BatchNorm and frozen stem + conv2, as in the paper and
# Detectron).
ALL_TRAINABLE = "all_trainable"
DEFAULT = "default"
CONFIGS = (ALL_TRAINABLE, DEFAULT)
# Where the anchor targets are made: in the tf.data pipeline (`model.encode_targets` in a
# map, the recommended setup) or inside the training step from raw boxes.
TARGETS_PIPELINE = "pipeline"
TARGETS_IN_GRAPH = "in_graph"
MOMENTUM = 0.9


def build_model(
    settings: Settings, config: str = ALL_TRAINABLE, precision: str = "float32", **overrides
) -> RetinaNet:
    """Our R50-FPN RetinaNet with random weights under the dtype policy `precision`."""
    if config not in CONFIGS:
        raise ValueError(f"Unknown config {config!r}; choose one of {CONFIGS}.")
    arguments = {
        "num_classes": settings.num_classes,
        "backbone": settings.backbone,
        "backbone_weights": None,
        "image_shape": settings.image_shape,
    }
    if config == ALL_TRAINABLE:
        arguments.update(backbone_frozen_batch_norm=False, backbone_frozen_stages=0)
    arguments.update(overrides)
    with keras_policy(precision):
        return RetinaNet(**arguments)


def forward(model: RetinaNet):
    """The raw forward pass (inference mode), for FLOP counting and forward-only timing."""
    return lambda images: model(images, training=False)


class Trainer:
    """Runs training steps of our model on one fixed batch with `train_on_batch`.

    Args:
        model: from `build_model`.
        batch: the shared synthetic batch.
        targets: `TARGETS_PIPELINE` (targets encoded once, as the pipeline's map would hand
            them over) or `TARGETS_IN_GRAPH` (raw boxes, encoded inside every step).
        learning_rate: SGD rate (momentum 0.9). 0 keeps the weights fixed, so every step
            does the same arithmetic on the same (finite) numbers.
        jit_compile: passed to `compile`.
    """

    def __init__(
        self,
        model: RetinaNet,
        batch: SyntheticBatch,
        targets: str = TARGETS_PIPELINE,
        learning_rate: float = 0.0,
        jit_compile: bool = False,
    ):
        self.model = model
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=MOMENTUM),
            jit_compile=jit_compile,
        )
        self.images = tf.constant(batch.images)
        boxes = tf.constant(batch.boxes_yxyx)
        classes = tf.constant(batch.classes)
        if targets == TARGETS_PIPELINE:
            encoded = model.encode_targets(tuple(batch.images.shape[1:3]), boxes, classes)
            self.y = {key: tf.constant(value) for key, value in encoded.items()}
        elif targets == TARGETS_IN_GRAPH:
            self.y = {"boxes": boxes, "classes": classes}
        else:
            raise ValueError(f"Unknown targets {targets!r}.")

    def step(self) -> float:
        """One training step; returns its loss."""
        logs = self.model.train_on_batch(self.images, self.y, return_dict=True)
        return float(logs["loss"])
