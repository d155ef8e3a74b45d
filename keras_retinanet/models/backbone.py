"""Backbones from `keras.applications` that return the C3, C4, C5 feature maps."""

import dataclasses
import os
from collections.abc import Callable

import keras

from keras_retinanet.models.torch_mobilenet_v2_weights import (
    is_torch_weights_file,
    load_torch_mobilenet_v2_weights,
)

# Caffe-style ImageNet preprocessing of keras.applications' ResNets: BGR, mean only.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
CAFFE_STD = (1.0, 1.0, 1.0)
# MobileNets expect pixels scaled to [-1, 1].
SYMMETRIC_MEAN = (127.5, 127.5, 127.5)
SYMMETRIC_STD = (127.5, 127.5, 127.5)

# Detectron's default for ResNets: the stem and the first residual stage (conv2) stay
# frozen while fine-tuning from ImageNet.
RESNET_DEFAULT_FROZEN_STAGES = 2
RESNET_STAGE_PREFIXES = ("conv1_", "conv2_", "conv3_", "conv4_", "conv5_")

# Backbone output strides of the three taps.
TAP_STRIDES = (8, 16, 32)


@dataclasses.dataclass(frozen=True)
class Tap:
    """Where a feature map is taken: a layer's output, a layer's input, or the model output.

    Layer inputs are used where keras.applications gives the wanted tensor no stable
    layer name (MobileNetV3 activations are auto-named).
    """

    layer: str | None
    use_input: bool = False

    def resolve(self, model: keras.Model):
        if self.layer is None:
            return model.output
        layer = model.get_layer(self.layer)
        return layer.input if self.use_input else layer.output


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and read C3-C5 from it.

    Attributes:
        constructor: the `keras.applications` function.
        constructor_kwargs: extra keyword arguments for it (width, variant).
        taps: where C3, C4, C5 (strides 8, 16, 32) are read.
        mean: per-channel mean of the expected input (after channel reversal).
        std: per-channel std of the expected input.
        reverse_channels: the weights expect BGR.
        default_frozen_batch_norm: BatchNorm frozen unless the user says otherwise, even
            from random initialisation (ResNets, as in the paper).
        frozen_batch_norm_when_pretrained: BatchNorm frozen by default when the backbone
            starts from pretrained weights (torchvision and detectron2 fine-tune every
            pretrained backbone with frozen BatchNorm: its ImageNet statistics are better
            than any a short run's moving average reaches).
        default_frozen_stages: stages frozen unless the user says otherwise.
        stage_prefixes: layer-name prefixes of stage 1 (stem), 2, ...; empty when the
            backbone does not support freezing stages.
    """

    constructor: Callable[..., keras.Model]
    taps: tuple[Tap, Tap, Tap]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    reverse_channels: bool
    default_frozen_batch_norm: bool
    frozen_batch_norm_when_pretrained: bool = True
    default_frozen_stages: int = 0
    stage_prefixes: tuple[str, ...] = ()
    constructor_kwargs: dict = dataclasses.field(default_factory=dict)


def _resnet(constructor, c3: str, c4: str) -> BackboneSpec:
    return BackboneSpec(
        constructor=constructor,
        taps=(Tap(c3), Tap(c4), Tap("conv5_block3_out")),
        mean=CAFFE_BGR_MEAN,
        std=CAFFE_STD,
        reverse_channels=True,
        default_frozen_batch_norm=True,
        default_frozen_stages=RESNET_DEFAULT_FROZEN_STAGES,
        stage_prefixes=RESNET_STAGE_PREFIXES,
    )


def _mobilenet_v2(alpha: float) -> BackboneSpec:
    # The expansion outputs of the first block of the next stage, before its strided
    # depthwise conv: the widest maps at strides 8 and 16.
    return BackboneSpec(
        constructor=keras.applications.MobileNetV2,
        constructor_kwargs={"alpha": alpha},
        taps=(Tap("block_6_expand_relu"), Tap("block_13_expand_relu"), Tap(None)),
        mean=SYMMETRIC_MEAN,
        std=SYMMETRIC_STD,
        reverse_channels=False,
        default_frozen_batch_norm=False,
    )


def _mobilenet_v3(constructor, stride8_block: int, stride16_block: int, **kwargs) -> BackboneSpec:
    # Inputs of the zero-padding before the strided depthwise conv of the first block
    # at strides 16 and 32: the expansion outputs at strides 8 and 16.
    return BackboneSpec(
        constructor=constructor,
        constructor_kwargs={"include_preprocessing": False, **kwargs},
        taps=(
            Tap(f"expanded_conv_{stride8_block}_depthwise_pad", use_input=True),
            Tap(f"expanded_conv_{stride16_block}_depthwise_pad", use_input=True),
            Tap(None),
        ),
        mean=SYMMETRIC_MEAN,
        std=SYMMETRIC_STD,
        reverse_channels=False,
        default_frozen_batch_norm=False,
    )


BACKBONES: dict[str, BackboneSpec] = {
    "resnet50": _resnet(keras.applications.ResNet50, "conv3_block4_out", "conv4_block6_out"),
    "resnet101": _resnet(keras.applications.ResNet101, "conv3_block4_out", "conv4_block23_out"),
    "resnet152": _resnet(keras.applications.ResNet152, "conv3_block8_out", "conv4_block36_out"),
    "mobilenetv2": _mobilenet_v2(1.0),
    "mobilenetv2_075": _mobilenet_v2(0.75),
    "mobilenetv2_050": _mobilenet_v2(0.5),
    "mobilenetv2_035": _mobilenet_v2(0.35),
    "mobilenetv3small": _mobilenet_v3(keras.applications.MobileNetV3Small, 3, 8),
    "mobilenetv3large": _mobilenet_v3(keras.applications.MobileNetV3Large, 6, 12),
    "mobilenetv3small_minimalistic": _mobilenet_v3(
        keras.applications.MobileNetV3Small, 3, 8, minimalistic=True
    ),
    "mobilenetv3large_minimalistic": _mobilenet_v3(
        keras.applications.MobileNetV3Large, 6, 12, minimalistic=True
    ),
}


def get_backbone_spec(name: str) -> BackboneSpec:
    """The `BackboneSpec` of a backbone name (a key of `BACKBONES`)."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"Unknown backbone {name!r}; choose one of {sorted(BACKBONES)}.") from None


def resolve_frozen_batch_norm(
    name: str, weights: str | None, frozen_batch_norm: bool | None = None
) -> bool:
    """Whether the backbone's BatchNorm is frozen: `frozen_batch_norm`, or the default.

    The default (None): frozen for ResNets, and for every backbone built from pretrained
    weights (`weights` not None); trainable for a MobileNet from random initialisation.
    """
    if frozen_batch_norm is not None:
        return bool(frozen_batch_norm)
    spec = get_backbone_spec(name)
    return spec.default_frozen_batch_norm or (
        weights is not None and spec.frozen_batch_norm_when_pretrained
    )


def build_backbone(
    name: str,
    weights: str | None = "imagenet",
    frozen_batch_norm: bool | None = None,
    frozen_stages: int | None = None,
    batch_norm_momentum: float | None = None,
) -> keras.Model:
    """Builds a backbone returning `[C3, C4, C5]`.

    Args:
        name: a key of `BACKBONES`, e.g. "resnet50", "mobilenetv2_035".
        weights: None (random init), "imagenet" (downloaded by keras.applications on
            first use and cached), the path of a weights file for the headless
            keras.applications model, or (backbone "mobilenetv2") torchvision's ImageNet
            MobileNetV2 file `mobilenet_v2-b0353104.pth` (legacy torch format, read
            without torch: `load_torch_mobilenet_v2_weights`).
        frozen_batch_norm: run every BatchNorm in inference mode with frozen statistics
            and affine parameters (the paper's setting for ResNets, whose statistics
            from ImageNet are kept). None: `resolve_frozen_batch_norm`'s default (True for
            ResNets and for any pretrained backbone (`weights` not None), False for a
            MobileNet from random initialisation).
        frozen_stages: number of leading stages whose weights are frozen (1: the stem,
            2: stem and conv2, ...). None: the backbone's default (2 for ResNets, as in
            Detectron; 0 for MobileNets, which do not support freezing stages).
        batch_norm_momentum: momentum of the moving statistics of the backbone's
            trainable BatchNorms. None keeps keras.applications' value (0.999 for the
            MobileNets, 0.99 for ResNets); short runs from scratch need a lower one
            (e.g. 0.99), or the moving statistics lag far behind the batch statistics
            and inference-mode outputs are wrong.

    Returns:
        A `keras.Model` named "backbone" mapping normalised images `[B, H, W, 3]` to
        `[C3, C4, C5]` at strides 8, 16, 32.
    """
    spec = get_backbone_spec(name)
    frozen_batch_norm = resolve_frozen_batch_norm(name, weights, frozen_batch_norm)
    frozen_stages = spec.default_frozen_stages if frozen_stages is None else frozen_stages
    if frozen_stages < 0 or frozen_stages > len(spec.stage_prefixes):
        raise ValueError(
            f"Backbone {name!r} supports frozen_stages in [0, {len(spec.stage_prefixes)}]; "
            f"got {frozen_stages}."
        )
    if batch_norm_momentum is not None and not 0.0 <= batch_norm_momentum < 1.0:
        raise ValueError(f"`batch_norm_momentum` must be in [0, 1); got {batch_norm_momentum}.")
    if not (weights is None or isinstance(weights, str)):
        raise ValueError(
            f"`backbone_weights` must be None, 'imagenet' or a file path; got {weights!r}."
        )
    if weights not in (None, "imagenet") and not os.path.exists(weights):
        raise FileNotFoundError(f"Backbone weights file not found: {weights!r}.")
    torch_file = is_torch_weights_file(weights)
    if torch_file and spec.constructor is not keras.applications.MobileNetV2:
        raise ValueError(
            f"A torch weights file ({weights!r}) is supported for MobileNetV2 backbones only; "
            f"got backbone {name!r}."
        )
    base = spec.constructor(
        include_top=False,
        weights=None if torch_file else weights,
        input_shape=(None, None, 3),
        **spec.constructor_kwargs,
    )
    if torch_file:
        load_torch_mobilenet_v2_weights(base, weights)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            if frozen_batch_norm:
                layer.trainable = False
            if batch_norm_momentum is not None:
                layer.momentum = batch_norm_momentum
        if any(layer.name.startswith(p) for p in spec.stage_prefixes[:frozen_stages]):
            layer.trainable = False
    features = [tap.resolve(base) for tap in spec.taps]
    return keras.Model(inputs=base.input, outputs=features, name="backbone")
