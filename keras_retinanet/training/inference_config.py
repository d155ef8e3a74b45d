"""What inference needs besides the weights: class names, category ids and the resize.

`train()` writes `inference_config.json` next to `last.keras` / `best.keras`; the evaluate and
predict commands read it from the model's folder so that they resize images exactly as in
training and can name the classes.
"""

from __future__ import annotations

import dataclasses
import json
import os

from keras_retinanet.data.input_pipeline import ResizeConfig

INFERENCE_CONFIG_FILE = "inference_config.json"


@dataclasses.dataclass(frozen=True)
class InferenceConfig:
    """How a trained model's inputs and outputs are to be read.

    Attributes:
        class_names: K class names; class `c` of the model is `class_names[c]`.
        category_ids: K dataset category ids (COCO results use them).
        resize: the resize the model was trained with.
    """

    class_names: tuple[str, ...]
    category_ids: tuple[int, ...]
    resize: ResizeConfig

    def __post_init__(self):
        if len(self.class_names) != len(self.category_ids) or not self.class_names:
            raise ValueError(
                f"Need as many category_ids as class_names (>= 1); got {len(self.class_names)} "
                f"names and {len(self.category_ids)} ids."
            )

    def save(self, directory: str) -> str:
        """Writes `directory/inference_config.json` and returns its path."""
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, INFERENCE_CONFIG_FILE)
        payload = {
            "class_names": list(self.class_names),
            "category_ids": list(self.category_ids),
            "resize": dataclasses.asdict(self.resize),
        }
        with open(path, "w", encoding="utf-8") as file:
            json.dump(payload, file, indent=2)
        return path

    @classmethod
    def load(cls, path: str) -> InferenceConfig:
        """Reads an `inference_config.json`."""
        with open(path, encoding="utf-8") as file:
            payload = json.load(file)
        try:
            return cls(
                class_names=tuple(payload["class_names"]),
                category_ids=tuple(int(i) for i in payload["category_ids"]),
                resize=ResizeConfig(**payload["resize"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"{path} is not an inference config: {error}") from None

    @classmethod
    def find_for_model(cls, model_path: str) -> InferenceConfig | None:
        """The `inference_config.json` in the folder of `model_path`, or None."""
        path = os.path.join(os.path.dirname(os.path.abspath(model_path)), INFERENCE_CONFIG_FILE)
        return cls.load(path) if os.path.exists(path) else None
