"""keras-hub's `RetinaNetObjectDetector` as a benchmark contender (random init).

ResNet50 (v1, bottleneck blocks) from `keras_hub.models.ResNetBackbone`, wrapped in
`RetinaNetBackbone` (FPN P3-P7, P6 from C5 as in the paper: `use_p5=False`) and the
detector with its default heads (4 convs of 256 channels, 9 anchors). keras-hub's default
training configuration is every layer trainable with targets encoded inside the training
step by its `RetinaNetLabelEncoder`; there is no other.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from bench_lib.contenders import Settings, SyntheticBatch, keras_policy

NAME = "keras-hub"
SUPPORTED_MINOR = "0.32"
MOMENTUM = 0.9
# ResNet50 v1 as keras-hub's presets define it.
RESNET50 = {
    "input_conv_filters": [64],
    "input_conv_kernel_sizes": [7],
    "stackwise_num_filters": [64, 128, 256, 512],
    "stackwise_num_blocks": [3, 4, 6, 3],
    "stackwise_num_strides": [1, 2, 2, 2],
    "block_type": "bottleneck_block",
    "use_pre_activation": False,
}


def unavailable_reason() -> str | None:
    """None when keras-hub can be benchmarked here, else why not."""
    try:
        import keras_hub
    except Exception as error:
        return f"keras-hub is not importable ({type(error).__name__}: {error})"
    if not keras_hub.__version__.startswith(SUPPORTED_MINOR):
        return f"keras-hub {keras_hub.__version__} found; these adapters target {SUPPORTED_MINOR}"
    return None


def build_model(settings: Settings, precision: str = "float32"):
    """keras-hub's R50-FPN RetinaNet with random weights under the policy `precision`."""
    import keras_hub

    with keras_policy(precision):
        encoder = keras_hub.models.ResNetBackbone(image_shape=settings.image_shape, **RESNET50)
        backbone = keras_hub.models.RetinaNetBackbone(
            image_encoder=encoder,
            min_level=3,
            max_level=7,
            use_p5=False,
            image_shape=settings.image_shape,
        )
        return keras_hub.models.RetinaNetObjectDetector(
            backbone=backbone, num_classes=settings.num_classes, bounding_box_format="yxyx"
        )


def forward(model):
    """The raw forward pass (inference mode)."""
    return lambda images: model(images, training=False)


class Trainer:
    """Runs keras-hub training steps on the shared batch (targets encoded in the step).

    keras-hub's `PipelineModel.train_on_batch` cannot take a dict `y`; the base Keras
    `train_on_batch` runs the same `train_step` (no preprocessor is attached).
    """

    def __init__(self, model, batch: SyntheticBatch, learning_rate: float = 0.0):
        self.model = model
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=MOMENTUM)
        )
        self.images = tf.constant(batch.images)
        self.y = {"boxes": tf.constant(batch.boxes_yxyx), "labels": tf.constant(batch.classes)}

    def step(self) -> float:
        logs = keras.Model.train_on_batch(self.model, self.images, self.y, return_dict=True)
        return float(logs["loss"])
