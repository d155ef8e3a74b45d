"""COCO mAP of any one-image detector (a `.tflite` or the Keras model) on loader elements.

Both sides see the same pixels: `keras_letterbox_detector` letterboxes exactly like
`TFLiteDetector.detect`, so a float `.tflite` and its Keras model give the same numbers and
an int8 `.tflite` can be compared with them on equal terms. Scoring is
`keras_retinanet.evaluation.CocoEvaluator` (pycocotools), the evaluator of training.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_retinanet.evaluation import CocoEvaluator, build_coco_ground_truth, rescale_detections
from keras_retinanet.export.letterbox import letterbox

# A detector: one RGB image `[h, w, 3]` -> `{"boxes": [1, N, 4] yxyx pixels of that image,
# "scores": [1, N], "classes": [1, N] (-1 padding), "num_detections": [1]}`.
Detector = Callable[[np.ndarray], Mapping[str, np.ndarray]]


def keras_letterbox_detector(
    model: keras.Model,
    image_size: tuple[int, int],
    round_to_uint8: bool = False,
    class_wise_nms: bool | None = None,
) -> Detector:
    """The Keras model as a one-image detector with the `.tflite`'s letterbox.

    Args:
        model: a `RetinaNet` (`predict_on_batch` returns yxyx pixel boxes).
        image_size: `(H, W)` of the exported input.
        round_to_uint8: round the letterboxed pixels to integers first, as an int8
            `.tflite` (uint8 input) sees them.
        class_wise_nms: None: the model's own decoder. True / False: decode with
            class-wise / class-agnostic NMS, e.g. as the `.tflite` being compared does
            (`TFLiteDetector.uses_regular_nms`), so that a comparison measures the
            conversion and not the NMS flavour.

    Returns:
        A `Detector` whose boxes are in pixels of the original image.
    """

    decoder = None
    if class_wise_nms is not None and class_wise_nms != model.detection_decoder.class_wise_nms:
        decoder = type(model.detection_decoder).from_config(
            {**model.detection_decoder.get_config(), "class_wise_nms": bool(class_wise_nms)}
        )

    def detect(image: np.ndarray) -> dict[str, np.ndarray]:
        boxed = letterbox(image, image_size)
        pixels = np.clip(np.rint(boxed.image), 0, 255) if round_to_uint8 else boxed.image
        batch = pixels[np.newaxis].astype(np.float32)
        if decoder is None:
            detections = model.predict_on_batch(batch)
        else:
            raw = model(batch, training=False)
            detections = model.decode_predictions(raw, batch.shape[1:3], decoder)
        result = {key: np.asarray(value) for key, value in detections.items()}
        result["boxes"] = np.asarray(
            rescale_detections(
                result["boxes"], boxed.scale[np.newaxis], boxed.original_size[np.newaxis]
            )
        )
        return result

    return detect


def evaluate_detector_on_elements(
    detect: Detector,
    elements: Iterable[Mapping[str, Any]],
    class_names: Sequence[str],
    category_ids: Sequence[int] | None = None,
    max_images: int | None = None,
) -> dict[str, float]:
    """Runs a detector over loader elements and scores it with COCO box mAP.

    Args:
        detect: the `Detector`.
        elements: loader elements (`{"image": uint8 [h, w, 3], "boxes": float32 [N, 4] yxyx
            pixels, "classes": int32 [N], "is_crowd": bool [N], "area": float32 [N]
            (optional), "image_id": int64}`), e.g.
            `ShapesDataset(...).as_dataset()`; a `tf.data.Dataset` is iterated as NumPy.
        class_names: K class names.
        category_ids: K category ids (default 1..K).
        max_images: evaluate only the first images.

    Returns:
        `{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"}` (floats in [0, 1], -1 where
        there is no ground truth), areas from the boxes.
    """
    if category_ids is None:
        category_ids = list(range(1, len(class_names) + 1))
    if isinstance(elements, tf.data.Dataset):
        elements = elements.as_numpy_iterator()
    records, detections = [], []
    for element in itertools.islice(elements, max_images):
        image = np.asarray(element["image"])
        records.append(
            {
                "image_id": int(element["image_id"]),
                "height": int(image.shape[0]),
                "width": int(image.shape[1]),
                "boxes": np.asarray(element["boxes"], np.float32).reshape(-1, 4),
                "classes": np.asarray(element["classes"], np.int64).reshape(-1),
                "is_crowd": np.asarray(element.get("is_crowd", []), bool).reshape(-1)
                if "is_crowd" in element
                else np.zeros([len(np.asarray(element["classes"]).reshape(-1))], bool),
            }
        )
        areas = np.asarray(element.get("area", []), np.float32).reshape(-1)
        if areas.size:
            # The object's own area (COCO: the mask's) decides small / medium / large, as
            # in the evaluation of training; without one, the box area.
            records[-1]["area"] = areas
        detections.append(detect(image))
    if not records:
        raise ValueError("No element to evaluate.")
    evaluator = CocoEvaluator(
        build_coco_ground_truth(records, class_names, category_ids), category_ids
    )
    for record, result in zip(records, detections):
        evaluator.update_state(
            [record["image_id"]],
            result["boxes"],
            result["scores"],
            result["classes"],
            np.asarray(result["num_detections"]).reshape(-1),
        )
    return evaluator.result()
