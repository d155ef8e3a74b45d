"""Loading a trained `.keras` model and what the CLI needs around it (resize, class names)."""

from __future__ import annotations

import os

import keras

import keras_retinanet
import keras_retinanet.training  # noqa: F401 - registers the optimizer and schedules
from keras_retinanet.data.input_pipeline import ResizeConfig
from keras_retinanet.data.resize_and_pad import LETTERBOX
from keras_retinanet.training.inference_config import InferenceConfig


def load_retinanet(path: str) -> keras.Model:
    """Loads a saved RetinaNet for inference (`compile=False`: no optimizer needed)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model file {path} does not exist.")
    return keras.models.load_model(path, compile=False)


def default_resize(model: keras.Model, inference: InferenceConfig | None) -> ResizeConfig:
    """The resize to evaluate / predict with when no `--resize.*` flag is given.

    The training resize from `inference_config.json` when there is one; otherwise letterbox
    to the model's fixed square input, or the paper's shorter-side-800 resize for a model
    with variable input size.
    """
    if inference is not None:
        return inference.resize
    height, width = tuple(getattr(model, "image_shape", (None, None, 3)))[:2]
    if height is not None and height == width:
        return ResizeConfig(mode=LETTERBOX, size=int(height))
    return ResizeConfig()
