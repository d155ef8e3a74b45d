"""TF Model Garden's RetinaNet (`official.vision`, tf-models-official) as a contender.

Built from the registered experiment `retinanet_resnetfpn_coco` with its model config
(ResNet50, FPN P3-P7, RetinaNetHead with 4 convs of 256 filters, 3 scales x 3 ratios,
anchor size 4), with `num_classes` and the input size replaced and no checkpoint (random
init). It is a tf_keras (Keras 2) model: its BatchNorms (backbone, FPN and per-level in the
heads: Model Garden's design) use TensorFlow's fused kernels.

Training runs Model Garden's own `RetinaNetTask.train_step` with its focal and Huber
losses on targets made by its `AnchorLabeler` (in its input pipeline; here once, on the
shared batch). Configurations: "all_trainable" (like for like: no L2 weight decay, as in
the other contenders) and "default" (the experiment's L2 weight decay 1e-4; every layer is
trainable in both, as in Model Garden's default).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bench_lib.contenders import Settings, SyntheticBatch

NAME = "model-garden"
SUPPORTED_MINOR = "2.20"
EXPERIMENT = "retinanet_resnetfpn_coco"
ALL_TRAINABLE = "all_trainable"
DEFAULT = "default"
MOMENTUM = 0.9


def unavailable_reason() -> str | None:
    """None when Model Garden can be benchmarked here, else why not."""
    try:
        import importlib.metadata

        import tf_keras  # noqa: F401
        from official.core import exp_factory  # noqa: F401
        from official.vision import registry_imports  # noqa: F401

        version = importlib.metadata.version("tf-models-official")
    except Exception as error:
        return f"tf-models-official is not importable ({type(error).__name__}: {error})"
    if not version.startswith(SUPPORTED_MINOR):
        return f"tf-models-official {version} found; these adapters target {SUPPORTED_MINOR}"
    return None


def experiment_config(settings: Settings, config: str = ALL_TRAINABLE):
    """The `retinanet_resnetfpn_coco` experiment adapted to `settings`."""
    from official.core import exp_factory
    from official.vision import registry_imports  # noqa: F401 - registers the experiments

    experiment = exp_factory.get_exp_config(EXPERIMENT)
    task = experiment.task
    task.init_checkpoint = None
    task.model.num_classes = settings.num_classes
    task.model.input_size = list(settings.image_shape)
    task.train_data.global_batch_size = settings.batch_size
    if config == ALL_TRAINABLE:
        task.losses.l2_weight_decay = 0.0
    elif config != DEFAULT:
        raise ValueError(f"Unknown config {config!r}.")
    return experiment


def build_task_and_model(settings: Settings, config: str = ALL_TRAINABLE, precision="float32"):
    """`(task, model)` under the tf_keras dtype policy `precision`."""
    import tf_keras
    from official.vision.tasks import retinanet as retinanet_task

    experiment = experiment_config(settings, config)
    task = retinanet_task.RetinaNetTask(experiment.task)
    previous = tf_keras.mixed_precision.global_policy().name
    tf_keras.mixed_precision.set_global_policy(precision)
    try:
        model = task.build_model()
        model(tf.zeros((1, *settings.image_shape)), training=True)  # build the variables
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)
    return task, model


def forward(model):
    """The raw forward pass (backbone, FPN, heads), without Model Garden's decoding."""
    return lambda images: model.head(model.decoder(model.backbone(images)))


def encode_labels(experiment, batch: SyntheticBatch) -> dict:
    """Model Garden's training labels for the batch, from its own `AnchorLabeler`."""
    from official.vision.ops import anchor

    model_config = experiment.task.model
    parser = experiment.task.train_data.parser
    generator = anchor.build_anchor_generator(
        min_level=model_config.min_level,
        max_level=model_config.max_level,
        num_scales=model_config.anchor.num_scales,
        aspect_ratios=model_config.anchor.aspect_ratios,
        anchor_size=model_config.anchor.anchor_size,
    )
    labeler = anchor.AnchorLabeler(parser.match_threshold, parser.unmatched_threshold)
    per_image = []
    for index in range(batch.images.shape[0]):
        boxes, classes = batch.real_boxes(index)
        anchor_boxes = generator(image_size=batch.images.shape[1:3])
        cls_targets, box_targets, _, cls_weights, box_weights = labeler.label_anchors(
            anchor_boxes, tf.constant(boxes), tf.constant(classes[:, None])
        )
        per_image.append(
            {
                "cls_targets": cls_targets,
                "box_targets": box_targets,
                "cls_weights": cls_weights,
                "box_weights": box_weights,
            }
        )
    return tf.nest.map_structure(lambda *parts: tf.stack(parts), *per_image)


class Trainer:
    """Runs Model Garden's `RetinaNetTask.train_step` (in a `tf.function`) on the batch."""

    def __init__(
        self,
        settings: Settings,
        batch: SyntheticBatch,
        config: str = ALL_TRAINABLE,
        precision: str = "float32",
        learning_rate: float = 0.0,
    ):
        import tf_keras

        self.experiment = experiment_config(settings, config)
        self.task, self.model = build_task_and_model(settings, config, precision)
        self.optimizer = tf_keras.optimizers.SGD(learning_rate=learning_rate, momentum=MOMENTUM)
        self.inputs = (tf.constant(batch.images), encode_labels(self.experiment, batch))
        self._step = tf.function(
            lambda inputs: self.task.train_step(inputs, self.model, self.optimizer)["loss"]
        )

    def step(self) -> float:
        return float(np.asarray(self._step(self.inputs)))


def anchor_boxes(model, image_size: int) -> dict:
    """Model Garden's multilevel anchors for a square input, with a batch axis of 1."""
    from official.vision.ops import anchor

    config = model.get_config()
    boxes = anchor.Anchor(
        min_level=config["min_level"],
        max_level=config["max_level"],
        num_scales=config["num_scales"],
        aspect_ratios=config["aspect_ratios"],
        anchor_size=config["anchor_size"],
        image_size=(image_size, image_size),
    ).multilevel_boxes
    return {level: value[tf.newaxis] for level, value in boxes.items()}
