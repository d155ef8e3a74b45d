"""Named model configurations used by the recipes, the CLI and the exporter.

A preset is a typed, frozen description of one RetinaNet variant and its input size;
`build_model` turns it into a `RetinaNet`. Recipes override single fields with
`dataclasses.replace` or keyword overrides, never by editing the preset.

BatchNorm: a pretrained backbone (`backbone_weights` set) keeps its BatchNorm frozen, as
torchvision and detectron2 fine-tune (ResNets always, MobileNets when pretrained); the
BatchNorms of FPN-Lite and of BatchNorm heads train, and their moving averages (momentum
0.99) are replaced by precise statistics from training images before every evaluation and
save (`keras_retinanet.callbacks.PreciseBatchNorm`, added by the trainer): after a short
run the moving averages alone leave inference-mode scores below the detection threshold.
"""

import dataclasses
from typing import Any

from keras_retinanet.models.retinanet import RetinaNet

# FPN-Lite (TF Object Detection API SSD MobileNet FPNLite): 128 channels,
# depthwise-separable convs with BatchNorm and ReLU6, 4 shared head convs.
LITE_CHANNELS = 128
# The 128 px FPN-Lite of the demo: narrower and shallower, for training from scratch on a CPU.
DEMO_LITE_CHANNELS = 64
DEMO_LITE_HEAD_DEPTH = 2


@dataclasses.dataclass(frozen=True)
class ModelPreset:
    """One named RetinaNet configuration.

    Attributes:
        name: the preset's name.
        backbone: backbone name (see `keras_retinanet.models.backbone.BACKBONES`).
        image_size: square input side for training and export; None for the paper's
            shorter-side-800 / longer-side-1333 resizing with variable input sizes.
        max_level: highest pyramid level.
        fpn_channels, fpn_separable, fpn_batch_norm, fpn_activation: FPN options.
        head_channels, head_depth, head_separable, head_batch_norm, head_activation:
            subnet options.
        description: one line for `--help` and the README.
    """

    name: str
    backbone: str
    image_size: int | None
    max_level: int = 7
    fpn_channels: int = 256
    fpn_separable: bool = False
    fpn_batch_norm: bool = False
    fpn_activation: str | None = None
    head_channels: int = 256
    head_depth: int = 4
    head_separable: bool = False
    head_batch_norm: bool = False
    head_activation: str = "relu"
    description: str = ""

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `RetinaNet` for this preset (without num_classes)."""
        side = self.image_size
        return {
            "backbone": self.backbone,
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
            "image_shape": (side, side, 3) if side else (None, None, 3),
        }


def _paper(name: str, backbone: str, image_size: int | None, description: str) -> ModelPreset:
    return ModelPreset(name=name, backbone=backbone, image_size=image_size, description=description)


def _lite(
    name: str, backbone: str, image_size: int, description: str, **overrides: Any
) -> ModelPreset:
    """An FPN-Lite preset: separable convs, BatchNorm, ReLU6; `overrides` other fields."""
    fields = {
        "fpn_channels": LITE_CHANNELS,
        "fpn_separable": True,
        "fpn_batch_norm": True,
        "fpn_activation": "relu6",
        "head_channels": LITE_CHANNELS,
        "head_separable": True,
        "head_batch_norm": True,
        "head_activation": "relu6",
        **overrides,
    }
    return ModelPreset(
        name=name, backbone=backbone, image_size=image_size, description=description, **fields
    )


PRESETS: dict[str, ModelPreset] = {
    preset.name: preset
    for preset in (
        _paper(
            "retinanet_resnet50_fpn",
            "resnet50",
            None,
            "The paper's R50-FPN: shorter side 800, longer side <= 1333.",
        ),
        _paper("retinanet_resnet50_fpn_640", "resnet50", 640, "R50-FPN at 640x640."),
        _paper("retinanet_resnet50_fpn_512", "resnet50", 512, "R50-FPN at 512x512."),
        _paper("retinanet_resnet101_fpn", "resnet101", None, "R101-FPN, shorter side 800."),
        _lite(
            "retinanet_mobilenetv2_fpnlite_320",
            "mobilenetv2",
            320,
            "MobileNetV2 FPN-Lite 320 for phones and the Edge TPU.",
        ),
        _lite(
            "retinanet_mobilenetv2_035_fpnlite_320",
            "mobilenetv2_035",
            320,
            "MobileNetV2 width 0.35 FPN-Lite 320: the smallest, CPU-trainable in minutes.",
        ),
        _lite(
            "retinanet_mobilenetv2_035_fpnlite_128",
            "mobilenetv2_035",
            128,
            "MobileNetV2-0.35 FPN-Lite (64 channels, two separable convs per subnet, P3-P6) "
            "at 128 px: trains from scratch on a CPU in minutes (the demo and the shapes "
            "recipe); exports like the 320 px FPN-Lite presets.",
            max_level=6,
            fpn_channels=DEMO_LITE_CHANNELS,
            head_channels=DEMO_LITE_CHANNELS,
            head_depth=DEMO_LITE_HEAD_DEPTH,
        ),
        ModelPreset(
            name="retinanet_mobilenetv2_035_fpn_128",
            backbone="mobilenetv2_035",
            image_size=128,
            max_level=6,
            fpn_channels=64,
            head_channels=64,
            head_depth=2,
            head_batch_norm=True,
            description=(
                "MobileNetV2-0.35 with a standard-conv 64-channel FPN and BatchNorm heads at "
                "128 px (the ablation studies' model)."
            ),
        ),
        _lite(
            "retinanet_mobilenetv3_small_fpnlite_320",
            "mobilenetv3small_minimalistic",
            320,
            "MobileNetV3-Small (minimalistic: no SE, no hard-swish) FPN-Lite 320.",
        ),
        _lite(
            "retinanet_mobilenetv3_large_fpnlite_320",
            "mobilenetv3large_minimalistic",
            320,
            "MobileNetV3-Large (minimalistic) FPN-Lite 320.",
        ),
    )
}


def get_preset(name: str) -> ModelPreset:
    """The preset called `name`."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.") from None


def build_model(
    preset: str | ModelPreset,
    num_classes: int,
    backbone_weights: str | None = "imagenet",
    **overrides: Any,
) -> RetinaNet:
    """Builds a `RetinaNet` from a preset.

    Args:
        preset: a preset name or a `ModelPreset`.
        num_classes: number of object classes.
        backbone_weights: None, "imagenet" or a weights file.
        **overrides: any other `RetinaNet` keyword argument, applied last.

    Returns:
        The model (not compiled).
    """
    if isinstance(preset, str):
        preset = get_preset(preset)
    kwargs = {**preset.model_kwargs(), "backbone_weights": backbone_weights, **overrides}
    return RetinaNet(num_classes=num_classes, name=preset.name, **kwargs)
