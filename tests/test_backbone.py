import keras
import numpy as np
import pytest

from keras_retinanet.models.backbone import (
    BACKBONES,
    build_backbone,
    get_backbone_spec,
    resolve_frozen_batch_norm,
)

LIGHT_BACKBONES = [
    "mobilenetv2",
    "mobilenetv2_035",
    "mobilenetv3small",
    "mobilenetv3large",
    "mobilenetv3small_minimalistic",
    "mobilenetv3large_minimalistic",
]


@pytest.mark.parametrize("name", ["resnet50", *LIGHT_BACKBONES])
def test_taps_are_at_strides_8_16_32(name):
    backbone = build_backbone(name, weights=None)
    c3, c4, c5 = backbone(np.zeros((1, 128, 96, 3), "float32"))
    assert [tuple(c.shape[1:3]) for c in (c3, c4, c5)] == [(16, 12), (8, 6), (4, 3)]


@pytest.mark.parametrize("name", ["resnet101", "resnet152"])
def test_deep_resnets_taps(name):
    backbone = build_backbone(name, weights=None)
    shapes = [tuple(o.shape) for o in backbone.outputs]
    assert shapes == [(None, None, None, 512), (None, None, None, 1024), (None, None, None, 2048)]


def test_resnet_defaults_freeze_batch_norm_and_stem_and_conv2():
    backbone = build_backbone("resnet50", weights=None)
    layers = {layer.name: layer for layer in backbone.layers}
    assert not any(
        layer.trainable
        for layer in backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert not layers["conv1_conv"].trainable
    assert not layers["conv2_block1_1_conv"].trainable
    assert layers["conv3_block1_1_conv"].trainable
    # Frozen BatchNorm uses its moving statistics even when training.
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(
        backbone(x, training=True)[0], backbone(x, training=False)[0], atol=1e-5
    )


def test_options_override_defaults():
    backbone = build_backbone("resnet50", weights=None, frozen_batch_norm=False, frozen_stages=0)
    assert all(layer.trainable for layer in backbone.layers)
    mobile = build_backbone("mobilenetv2_035", weights=None)
    assert all(layer.trainable for layer in mobile.layers)
    assert get_backbone_spec("mobilenetv2").default_frozen_stages == 0


def test_weights_from_a_file(tmp_path):
    source = keras.applications.MobileNetV2(
        include_top=False, weights=None, alpha=0.35, input_shape=(None, None, 3)
    )
    path = str(tmp_path / "mobilenet.weights.h5")
    source.save_weights(path)
    backbone = build_backbone("mobilenetv2_035", weights=path)
    for expected, loaded in zip(source.weights, backbone.weights):
        np.testing.assert_array_equal(expected.numpy(), loaded.numpy())
    # Pretrained: BatchNorm frozen by default (torchvision / detectron2), trainable on request.
    batch_norms = [
        layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert batch_norms and not any(layer.trainable for layer in batch_norms)
    unfrozen = build_backbone("mobilenetv2_035", weights=path, frozen_batch_norm=False)
    assert all(
        layer.trainable
        for layer in unfrozen.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )


@pytest.mark.parametrize(
    ("name", "weights", "requested", "expected"),
    [
        ("mobilenetv2_035", None, None, False),  # from scratch: BatchNorm trains
        ("mobilenetv2_035", "imagenet", None, True),
        ("mobilenetv2_035", "w.weights.h5", None, True),
        ("mobilenetv3large", "imagenet", None, True),
        ("mobilenetv2_035", "imagenet", False, False),
        ("resnet50", None, None, True),  # ResNets: frozen even from scratch (the paper)
        ("resnet50", "imagenet", False, False),
    ],
)
def test_default_frozen_batch_norm_follows_the_weights(name, weights, requested, expected):
    assert resolve_frozen_batch_norm(name, weights, requested) is expected


def test_errors():
    with pytest.raises(ValueError, match="Unknown backbone"):
        build_backbone("vgg16")
    with pytest.raises(FileNotFoundError, match="not found"):
        build_backbone("mobilenetv2_035", weights="/nonexistent/w.h5")
    with pytest.raises(ValueError, match="frozen_stages"):
        build_backbone("mobilenetv2_035", weights=None, frozen_stages=1)


def test_registry_lists_the_issue_backbones():
    for name in (
        "resnet50",
        "resnet101",
        "resnet152",
        "mobilenetv2",
        "mobilenetv3small",
        "mobilenetv3large",
    ):
        assert name in BACKBONES


def test_retinanet_from_config_keeps_the_pretrained_default(tmp_path):
    from keras_retinanet.models.retinanet import RetinaNet

    source = keras.applications.MobileNetV2(
        include_top=False, weights=None, alpha=0.35, input_shape=(None, None, 3)
    )
    path = str(tmp_path / "mobilenet.weights.h5")
    source.save_weights(path)
    model = RetinaNet(
        num_classes=2,
        backbone="mobilenetv2_035",
        backbone_weights=path,
        fpn_channels=16,
        head_channels=16,
        head_depth=1,
    )
    config = model.get_config()
    assert config["backbone_frozen_batch_norm"] is None  # the argument, not its resolution
    rebuilt = RetinaNet.from_config(config)  # built without weights, yet frozen like `model`
    assert rebuilt.backbone_frozen_batch_norm is None

    def trainable_batch_norms(retinanet):
        backbone = retinanet.get_layer("backbone")
        return [
            layer.trainable
            for layer in backbone.layers
            if isinstance(layer, keras.layers.BatchNormalization)
        ]

    assert trainable_batch_norms(model) and not any(trainable_batch_norms(model))
    assert trainable_batch_norms(rebuilt) == trainable_batch_norms(model)
