"""The RetinaNet detector as a Keras model: `compile`, `fit`, `evaluate`, `predict`, `save`."""

from collections.abc import Sequence

import keras
import tensorflow as tf

from keras_retinanet.layers.conv_block import DEFAULT_BATCH_NORM_MOMENTUM
from keras_retinanet.layers.feature_pyramid import FeaturePyramid
from keras_retinanet.layers.image_normalization import ImageNormalization
from keras_retinanet.layers.prediction_head import PredictionHead
from keras_retinanet.losses.focal_loss import FocalLoss
from keras_retinanet.losses.positive_anchor_count import positive_anchor_count
from keras_retinanet.losses.smooth_l1_loss import SmoothL1Loss
from keras_retinanet.models.backbone import (
    build_backbone,
    get_backbone_spec,
    resolve_frozen_batch_norm,
)
from keras_retinanet.ops.anchor_generator import (
    DEFAULT_ASPECT_RATIOS,
    DEFAULT_OFFSET,
    DEFAULT_SCALES,
    AnchorGenerator,
)
from keras_retinanet.ops.box_coder import BoxCoder
from keras_retinanet.ops.box_matcher import BoxMatcher
from keras_retinanet.ops.detection_decoder import DetectionDecoder
from keras_retinanet.ops.target_encoder import DEFAULT_CROWD_IOA_THRESHOLD, TargetEncoder

MIN_LEVEL = 3
DEFAULT_MAX_LEVEL = 7
# Base anchor size of level l: ANCHOR_SIZE_PER_STRIDE * 2^l (32 on P3 ... 512 on P7).
ANCHOR_SIZE_PER_STRIDE = 4.0
DEFAULT_PRIOR_PROBABILITY = 0.01
NUM_BOX_DELTAS = 4
# The paper's optimiser for a batch of 16.
DEFAULT_LEARNING_RATE = 0.01
DEFAULT_MOMENTUM = 0.9

BOUNDING_BOX_FORMATS = (
    "yxyx",
    "xyxy",
    "xywh",
    "center_xywh",
    "center_yxhw",
    "rel_yxyx",
    "rel_xyxy",
    "rel_xywh",
    "rel_center_xywh",
)
# Output names of the raw (training) outputs.
CLASSIFICATION = "classification"
BOX = "box"
# Format of `y["boxes"]`: what every loader and `build_train_pipeline` emit, whatever the
# model's `bounding_box_format` (which is the format of the predictions only).
TRAINING_BOX_FORMAT = "yxyx"
# Key of the training boxes in `y`; `f"{BOXES_KEY}_{format}"` declares another format.
BOXES_KEY = "boxes"


def default_anchor_generator(max_level: int = DEFAULT_MAX_LEVEL) -> AnchorGenerator:
    """The paper's anchors on P3..P`max_level`: strides 2^l, base sizes 4 * 2^l."""
    strides = [2**level for level in range(MIN_LEVEL, max_level + 1)]
    return AnchorGenerator(
        strides=strides,
        sizes=[ANCHOR_SIZE_PER_STRIDE * s for s in strides],
        scales=DEFAULT_SCALES,
        aspect_ratios=DEFAULT_ASPECT_RATIOS,
        offset=DEFAULT_OFFSET,
    )


@keras.saving.register_keras_serializable(package="keras_retinanet")
class RetinaNet(keras.Model):
    """RetinaNet (Lin et al., "Focal Loss for Dense Object Detection").

    backbone (C3-C5) -> `FeaturePyramid` (P3-P7) -> two `PredictionHead`s shared
    across levels (classification with the prior-probability bias; box deltas).

    Inputs: RGB images `[B, H, W, 3]` with pixel values in [0, 255] (float or uint8);
    the backbone's normalisation happens inside the model. H and W may vary between
    batches (image_shape `(None, None, 3)`); multiples of 128 avoid any cropping in
    the FPN.

    Training data: `(images, {"boxes": [B, N, 4], "classes": [B, N]})`, boxes yxyx
    pixels of the network input (`TRAINING_BOX_FORMAT`, what every loader and
    `build_train_pipeline` emit, whatever `bounding_box_format` is), classes int with -1
    for padded rows and -2 for crowd regions (see `keras_retinanet.label_codes`). Boxes in
    another format declare it in their key: `{"boxes_xyxy": ...}`, `{"boxes_rel_xywh":
    ...}` (any of `BOUNDING_BOX_FORMATS`); a y with two box keys is refused. Targets are
    encoded in `compute_loss` by `TargetEncoder` on the batch; a pipeline may instead
    encode per sample with `encode_targets` and add `{"class_targets", "box_targets"}`
    to the y dict, which `compute_loss` then uses as they are.

    Outputs:
        * `model(images)` (and `fit`/`evaluate`): raw float32 outputs
          `{"classification": [B, A, K] logits, "box": [B, A, 4] deltas}`.
        * `model.predict(images)`: decoded detections `{"boxes": [B, D, 4] in
          bounding_box_format, "scores": [B, D], "classes": [B, D] (-1 padding),
          "num_detections": [B]}`, D = `detection_decoder.max_detections` (100).

    Args:
        num_classes: number of object classes K (no background class).
        backbone: a name of `keras_retinanet.models.backbone.BACKBONES`.
        backbone_weights: None, "imagenet" or a weights file of the headless
            keras.applications backbone. `from_config` (and so `load_model`) never loads
            them: the weights come from the saved file.
        backbone_frozen_batch_norm: freeze the backbone's BatchNorm (None: the backbone's
            default: True for ResNets as in the paper and for any backbone with
            `backbone_weights` (torchvision / detectron2 fine-tune with frozen BatchNorm),
            False for a MobileNet from random initialisation).
        backbone_frozen_stages: leading backbone stages with frozen weights (None: the
            backbone's default, 2 for ResNets (stem + conv2, Detectron), 0 otherwise).
        batch_norm_momentum: momentum of the moving statistics of every trainable
            BatchNorm (backbone, FPN-Lite, heads). None keeps the layers' own defaults
            (keras.applications: 0.999 for MobileNets, 0.99 for ResNets; ours 0.99).
            Short runs from scratch need a lower value (e.g. 0.9), or the moving
            statistics lag behind the weights and inference-mode outputs are wrong.
        max_level: highest pyramid level: 7 (P3-P7, the paper), 6 or 5.
        fpn_channels: FPN width (256 in the paper).
        fpn_separable: depthwise-separable FPN convs (FPN-Lite).
        fpn_batch_norm: BatchNorm after the FPN's 3x3 convs.
        fpn_activation: activation after the FPN's 3x3 convs (None in the paper).
        head_channels: width of the subnets (256 in the paper).
        head_depth: hidden convs per subnet (4 in the paper).
        head_separable: depthwise-separable head convs.
        head_batch_norm: BatchNorm (per level) after the hidden head convs.
        head_activation: activation of the hidden head convs ("relu").
        prior_probability: pi of the classification bias `-log((1 - pi) / pi)` (0.01).
        anchor_generator: `AnchorGenerator`; None: the paper's anchors for the levels.
        box_coder: `BoxCoder`; None: scale factors (10, 10, 5, 5).
        box_matcher: `BoxMatcher`; None: IoU >= 0.5 positive, < 0.4 negative, best
            anchor of each box positive.
        detection_decoder: `DetectionDecoder`; None: top 1000 per level, score > 0.05,
            class-wise NMS at 0.5, 100 detections.
        crowd_ioa_threshold: negatives this much inside a crowd region are ignored.
        bounding_box_format: box format of the predicted boxes (`predict`,
            `decode_predictions`). Not the format of the training boxes: `y["boxes"]` is
            always yxyx pixels; other formats are declared by the key (see above).
        image_shape: input shape `(H, W, 3)`, None for variable sides.
    """

    def __init__(
        self,
        num_classes: int,
        backbone: str = "resnet50",
        backbone_weights: str | None = "imagenet",
        backbone_frozen_batch_norm: bool | None = None,
        backbone_frozen_stages: int | None = None,
        batch_norm_momentum: float | None = None,
        max_level: int = DEFAULT_MAX_LEVEL,
        fpn_channels: int = 256,
        fpn_separable: bool = False,
        fpn_batch_norm: bool = False,
        fpn_activation: str | None = None,
        head_channels: int = 256,
        head_depth: int = 4,
        head_separable: bool = False,
        head_batch_norm: bool = False,
        head_activation: str = "relu",
        prior_probability: float = DEFAULT_PRIOR_PROBABILITY,
        anchor_generator: AnchorGenerator | None = None,
        box_coder: BoxCoder | None = None,
        box_matcher: BoxMatcher | None = None,
        detection_decoder: DetectionDecoder | None = None,
        crowd_ioa_threshold: float = DEFAULT_CROWD_IOA_THRESHOLD,
        bounding_box_format: str = "yxyx",
        image_shape: Sequence[int | None] = (None, None, 3),
        name: str = "retinanet",
        **kwargs,
    ):
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"`num_classes` must be an int >= 1; got {num_classes!r}.")
        if bounding_box_format not in BOUNDING_BOX_FORMATS:
            raise ValueError(
                f"Unknown bounding_box_format {bounding_box_format!r}; choose one of "
                f"{BOUNDING_BOX_FORMATS}."
            )
        image_shape = tuple(image_shape)
        if len(image_shape) != 3 or image_shape[-1] != 3:
            raise ValueError(f"`image_shape` must be (height, width, 3); got {image_shape}.")
        anchor_generator = _deserialize(anchor_generator) or default_anchor_generator(max_level)
        expected_strides = tuple(2**level for level in range(MIN_LEVEL, max_level + 1))
        if anchor_generator.strides != expected_strides:
            raise ValueError(
                f"The anchor generator's strides {anchor_generator.strides} do not match the "
                f"pyramid levels P{MIN_LEVEL}-P{max_level} (strides {expected_strides})."
            )
        spec = get_backbone_spec(backbone)

        # --- the graph ---
        images = keras.Input(shape=image_shape, name="images")
        normalized = ImageNormalization(
            mean=spec.mean,
            std=spec.std,
            reverse_channels=spec.reverse_channels,
            name="image_normalization",
        )(images)
        backbone_model = build_backbone(
            backbone,
            weights=backbone_weights,
            frozen_batch_norm=backbone_frozen_batch_norm,
            frozen_stages=backbone_frozen_stages,
            batch_norm_momentum=batch_norm_momentum,
        )
        pyramid = FeaturePyramid(
            channels=fpn_channels,
            max_level=max_level,
            separable=fpn_separable,
            use_batch_norm=fpn_batch_norm,
            activation=fpn_activation,
            batch_norm_momentum=_or_default(batch_norm_momentum, DEFAULT_BATCH_NORM_MOMENTUM),
            name="feature_pyramid",
        )(backbone_model(normalized))
        head_args = {
            "num_anchors": anchor_generator.num_anchors_per_location,
            "num_levels": len(expected_strides),
            "channels": head_channels,
            "depth": head_depth,
            "separable": head_separable,
            "use_batch_norm": head_batch_norm,
            "activation": head_activation,
            "batch_norm_momentum": _or_default(batch_norm_momentum, DEFAULT_BATCH_NORM_MOMENTUM),
        }
        class_logits = PredictionHead(
            outputs_per_anchor=num_classes,
            prior_probability=prior_probability,
            name="classification_head",
            **head_args,
        )(pyramid)
        box_deltas = PredictionHead(
            outputs_per_anchor=NUM_BOX_DELTAS, name="box_head", **head_args
        )(pyramid)
        super().__init__(
            inputs=images,
            outputs={CLASSIFICATION: class_logits, BOX: box_deltas},
            name=name,
            **kwargs,
        )

        # --- configuration ---
        self.num_classes = num_classes
        self.backbone_name = backbone
        self.backbone_weights = backbone_weights
        self.backbone_frozen_batch_norm = backbone_frozen_batch_norm
        self.backbone_frozen_stages = backbone_frozen_stages
        self.batch_norm_momentum = batch_norm_momentum
        self.max_level = max_level
        self.fpn_channels = fpn_channels
        self.fpn_separable = fpn_separable
        self.fpn_batch_norm = fpn_batch_norm
        self.fpn_activation = fpn_activation
        self.head_channels = head_channels
        self.head_depth = head_depth
        self.head_separable = head_separable
        self.head_batch_norm = head_batch_norm
        self.head_activation = head_activation
        self.prior_probability = prior_probability
        self.anchor_generator = anchor_generator
        self.box_coder = _deserialize(box_coder) or BoxCoder()
        self.box_matcher = _deserialize(box_matcher) or BoxMatcher()
        self.detection_decoder = _deserialize(detection_decoder) or DetectionDecoder()
        self.crowd_ioa_threshold = crowd_ioa_threshold
        self.bounding_box_format = bounding_box_format
        self.image_shape = image_shape
        self.target_encoder = TargetEncoder(
            num_classes=num_classes,
            anchor_generator=self.anchor_generator,
            box_matcher=self.box_matcher,
            box_coder=self.box_coder,
            crowd_ioa_threshold=crowd_ioa_threshold,
        )
        self.classification_loss_tracker = keras.metrics.Mean(name="classification_loss")
        self.box_loss_tracker = keras.metrics.Mean(name="box_loss")
        self.classification_loss = None
        self.box_loss = None
        self.box_loss_weight = None

    def call(self, inputs, training=None, mask=None):
        _check_images(inputs)
        return super().call(inputs, training=training, mask=mask)

    # ------------------------------------------------------------------ training

    def compile(
        self,
        optimizer=None,
        classification_loss: keras.losses.Loss | None = None,
        box_loss: keras.losses.Loss | None = None,
        box_loss_weight: float = 1.0,
        loss=None,
        **kwargs,
    ):
        """Configures training.

        Args:
            optimizer: a Keras optimizer; None: SGD(0.01, momentum 0.9), the paper's for
                a batch of 16 (scale the rate linearly with the batch).
                A fresh optimizer on a trained model (e.g. Adam after SGD) spikes the loss
                in its first steps unless its rate warms up
                (`keras_retinanet.training.WarmupStepDecay`; README, "Switching
                optimizers").
            classification_loss: None: `FocalLoss()` (alpha 0.25, gamma 2). Any loss
                taking `(class_targets [B, A], logits [B, A, K])`.
            box_loss: None: `SmoothL1Loss()`. Called as
                `box_loss(box_targets, deltas, sample_weight=positives / normaliser)`.
            box_loss_weight: weight of the box loss in the total.
            loss: not accepted: RetinaNet computes its own loss.
            **kwargs: passed to `keras.Model.compile` (metrics, jit_compile, ...).
        """
        if loss is not None:
            raise ValueError(
                "RetinaNet computes its own loss; configure it with `classification_loss=`, "
                "`box_loss=` and `box_loss_weight=` instead of `loss=`."
            )
        if optimizer is None:
            optimizer = keras.optimizers.SGD(
                learning_rate=DEFAULT_LEARNING_RATE, momentum=DEFAULT_MOMENTUM
            )
        self.classification_loss = _deserialize(classification_loss) or FocalLoss()
        self.box_loss = _deserialize(box_loss) or SmoothL1Loss()
        self.box_loss_weight = float(box_loss_weight)
        super().compile(optimizer=optimizer, **kwargs)

    def encode_targets(
        self, image_size, boxes, classes, box_format: str = TRAINING_BOX_FORMAT
    ) -> dict[str, tf.Tensor]:
        """Encodes ground truth into anchor targets (for one image or a batch).

        Use it in a `tf.data` map to move target encoding out of the training step.

        Args:
            image_size: `(height, width)` of the network input (ints, scalar tensors, or
                an int tensor whose first two entries are height and width, e.g. the
                `[3]` image shape a `tf.data` map sees).
            boxes: float `[N, 4]` or `[B, N, 4]` in `box_format`.
            classes: int `[N]` or `[B, N]` (-1 padding, -2 crowd).
            box_format: format of `boxes`: yxyx pixels (what the package's pipelines
                emit) unless told otherwise; independent of `bounding_box_format`.

        Returns:
            `{"class_targets": int32 [..., A], "box_targets": float32 [..., A, 4]}`.
        """
        boxes_yxyx = _to_yxyx(boxes, box_format, image_size)
        return self.target_encoder(image_size, boxes_yxyx, classes)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Focal loss + weighted smooth L1, both normalised by the positive anchors.

        Args:
            x: images `[B, H, W, 3]`.
            y: `{"boxes" (yxyx pixels) or "boxes_<format>", "classes"}` (encoded here) or
                `{"class_targets", "box_targets"}`.
            y_pred: the raw outputs of `call`.
            sample_weight: not supported (raises if given).
            training: unused.

        Returns:
            float32 scalar: classification + box_loss_weight * box (+ layer losses).
        """
        del training
        if sample_weight is not None:
            raise ValueError("RetinaNet does not support `sample_weight`.")
        if self.classification_loss is None:
            raise RuntimeError("Call `compile()` before training or evaluating RetinaNet.")
        if not isinstance(y, dict):
            raise ValueError(
                'RetinaNet expects y = {"boxes": [B, N, 4], "classes": [B, N]}; got '
                f"{type(y).__name__}."
            )
        targets = self._targets(x, y)
        class_targets = targets["class_targets"]
        box_targets = targets["box_targets"]
        class_logits = y_pred[CLASSIFICATION]
        with tf.control_dependencies(
            [
                tf.debugging.assert_equal(
                    tf.shape(class_targets)[-1],
                    tf.shape(class_logits)[1],
                    message=(
                        "The number of anchors of the targets differs from the model's: "
                        "targets were encoded for another image size."
                    ),
                )
            ]
        ):
            class_targets = tf.identity(class_targets)

        classification_loss = self.classification_loss(class_targets, class_logits)
        positives = tf.cast(tf.greater_equal(class_targets, 0), tf.float32)
        box_weights = positives / positive_anchor_count(class_targets)
        box_loss = self.box_loss(box_targets, y_pred[BOX], sample_weight=box_weights)

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.classification_loss_tracker.update_state(classification_loss * replicas)
        self.box_loss_tracker.update_state(box_loss * replicas)
        total = classification_loss + self.box_loss_weight * box_loss
        for layer_loss in self.losses:
            total += self._aggregate_additional_loss(layer_loss)
        return total

    def _targets(self, x, y) -> dict[str, tf.Tensor]:
        if "class_targets" in y and "box_targets" in y:
            return {"class_targets": y["class_targets"], "box_targets": y["box_targets"]}
        box_keys = sorted(key for key in y if key == BOXES_KEY or key in _DECLARED_BOX_KEYS)
        if len(box_keys) != 1 or "classes" not in y:
            raise ValueError(
                'RetinaNet expects y with "classes" and one box key: "boxes" (yxyx pixels) '
                'or "boxes_<format>" (e.g. "boxes_xyxy"), or pre-encoded "class_targets" '
                f'and "box_targets"; got keys {sorted(y)}.'
            )
        (key,) = box_keys
        box_format = _DECLARED_BOX_KEYS.get(key, TRAINING_BOX_FORMAT)
        return self.encode_targets(_image_size(x), y[key], y["classes"], box_format)

    # ------------------------------------------------------------------ inference

    def predict_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.decode_predictions(self(x, training=False), _image_size(x))

    def decode_predictions(
        self, raw_outputs: dict, image_size, detection_decoder: DetectionDecoder | None = None
    ) -> dict[str, tf.Tensor]:
        """Decodes raw outputs into detections (top-k, decoding, class-wise NMS).

        Args:
            raw_outputs: `{"classification": [B, A, K], "box": [B, A, 4]}` from `call`.
            image_size: `(height, width)` of the network input.
            detection_decoder: None: the model's own. Another `DetectionDecoder`, e.g. with
                `class_wise_nms=False` to match a `.tflite` with fast NMS.

        Returns:
            `{"boxes": [B, D, 4] in bounding_box_format, "scores": [B, D],
              "classes": int32 [B, D] (-1 padding), "num_detections": int32 [B]}`.
        """
        height, width = image_size[0], image_size[1]
        anchors = self.anchor_generator(height, width)
        decoder = detection_decoder or self.detection_decoder
        detections = decoder(
            raw_outputs[CLASSIFICATION],
            raw_outputs[BOX],
            anchors,
            self.anchor_generator.level_sizes(height, width),
            (height, width),
            self.box_coder,
        )
        detections["boxes"] = self._from_yxyx(detections["boxes"], image_size)
        return detections

    @property
    def metrics(self):
        metrics = list(super().metrics)
        for tracker in (self.classification_loss_tracker, self.box_loss_tracker):
            if tracker not in metrics:
                metrics.append(tracker)
        return metrics

    # ------------------------------------------------------------------ formats

    def _from_yxyx(self, boxes, image_size):
        if self.bounding_box_format == "yxyx":
            return boxes
        return keras.utils.bounding_boxes.convert_format(
            boxes,
            source="yxyx",
            target=self.bounding_box_format,
            height=image_size[0],
            width=image_size[1],
        )

    # ------------------------------------------------------------------ config

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "num_classes": self.num_classes,
            "backbone": self.backbone_name,
            "backbone_weights": self.backbone_weights,
            "backbone_frozen_batch_norm": self.backbone_frozen_batch_norm,
            "backbone_frozen_stages": self.backbone_frozen_stages,
            "batch_norm_momentum": self.batch_norm_momentum,
            "max_level": self.max_level,
            "fpn_channels": self.fpn_channels,
            "fpn_separable": self.fpn_separable,
            "fpn_batch_norm": self.fpn_batch_norm,
            "fpn_activation": self.fpn_activation,
            "head_channels": self.head_channels,
            "head_depth": self.head_depth,
            "head_separable": self.head_separable,
            "head_batch_norm": self.head_batch_norm,
            "head_activation": self.head_activation,
            "prior_probability": self.prior_probability,
            "anchor_generator": keras.saving.serialize_keras_object(self.anchor_generator),
            "box_coder": keras.saving.serialize_keras_object(self.box_coder),
            "box_matcher": keras.saving.serialize_keras_object(self.box_matcher),
            "detection_decoder": keras.saving.serialize_keras_object(self.detection_decoder),
            "crowd_ioa_threshold": self.crowd_ioa_threshold,
            "bounding_box_format": self.bounding_box_format,
            "image_shape": self.image_shape,
        }

    @classmethod
    def from_config(cls, config: dict) -> "RetinaNet":
        """Rebuilds the model; backbone weights are not loaded (they come from the file)."""
        config = dict(config)
        backbone_weights = config.pop("backbone_weights", None)
        trainable = config.pop("trainable", True)
        # The default frozen BatchNorm depends on the weights the model was built from.
        frozen_batch_norm = config.pop("backbone_frozen_batch_norm", None)
        resolved_frozen = resolve_frozen_batch_norm(
            config.get("backbone", "resnet50"), backbone_weights, frozen_batch_norm
        )
        model = cls(**config, backbone_weights=None, backbone_frozen_batch_norm=resolved_frozen)
        model.backbone_weights = backbone_weights
        model.backbone_frozen_batch_norm = frozen_batch_norm
        model.trainable = trainable
        return model

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is None or self.classification_loss is None:
            return config
        config = dict(config)
        config["classification_loss"] = keras.saving.serialize_keras_object(
            self.classification_loss
        )
        config["box_loss"] = keras.saving.serialize_keras_object(self.box_loss)
        config["box_loss_weight"] = self.box_loss_weight
        return config

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)


# "boxes_xyxy" -> "xyxy", ... : keys of y that declare their boxes' format.
_DECLARED_BOX_KEYS = {
    f"{BOXES_KEY}_{box_format}": box_format for box_format in BOUNDING_BOX_FORMATS
}


def _to_yxyx(boxes, box_format: str, image_size):
    """Converts `[..., 4]` boxes in `box_format` to float32 yxyx pixels."""
    if box_format not in BOUNDING_BOX_FORMATS:
        raise ValueError(
            f"Unknown box format {box_format!r}; choose one of {BOUNDING_BOX_FORMATS}."
        )
    boxes = tf.cast(boxes, tf.float32)
    if box_format == "yxyx":
        return boxes
    return keras.utils.bounding_boxes.convert_format(
        boxes, source=box_format, target="yxyx", height=image_size[0], width=image_size[1]
    )


def _or_default(value, default):
    return default if value is None else value


def _deserialize(obj):
    """Accepts an object or its serialized config (as stored by `get_config`)."""
    if isinstance(obj, dict):
        return keras.saving.deserialize_keras_object(obj)
    return obj


def _check_images(images) -> None:
    """Raises a clear error for image batches of the wrong rank or channel count."""
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[-1] != 3:
        hint = " For a single image add a batch axis: images[None]." if len(shape) == 3 else ""
        raise ValueError(
            "RetinaNet expects RGB images of shape [batch, height, width, 3]; got shape "
            f"{shape}.{hint}"
        )


def _image_size(images) -> tuple:
    """`(height, width)` of an image batch: Python ints when static, else tensors."""
    static = images.shape
    dynamic = tf.shape(images)
    height = static[1] if static[1] is not None else dynamic[1]
    width = static[2] if static[2] is not None else dynamic[2]
    return height, width
