"""Tests for `CocoMetricCallback` with a fake detector that returns fixed detections."""

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_retinanet.evaluation import (
    CocoEvaluator,
    CocoMetricCallback,
    build_coco_ground_truth,
)

CLASS_NAMES = ["cat", "dog"]
CATEGORY_IDS = [17, 18]
INPUT_SIZE = 640
PADDING_CLASS = -1
METRIC_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"]

# Image 1: 200 x 300 original, resized by 2 -> 400 x 600, padded to 640 x 640.
# Image 2: 1280 x 960 original, resized by 0.5 -> 640 x 480, padded to 640 x 640.
IMAGE_IDS = np.array([1, 2], dtype=np.int64)
SCALES = np.array([[2.0, 2.0], [0.5, 0.5]], dtype=np.float32)
ORIGINAL_SIZES = np.array([[200, 300], [1280, 960]], dtype=np.int32)
GT_BOXES_YXYX = [
    np.array([[20.0, 30.0, 120.0, 180.0]]),  # class 0 (category 17)
    np.array([[100.0, 200.0, 600.0, 900.0]]),  # class 1 (category 18)
]
# The same boxes in network-input pixels (original * scale), D = 3 rows per image; row 1 of
# image 1 is class padding and row 2 of both lies past num_detections.
JUNK_YXYX = [500.0, 500.0, 600.0, 600.0]
INPUT_BOXES_YXYX = np.array(
    [
        [[40.0, 60.0, 240.0, 360.0], JUNK_YXYX, JUNK_YXYX],
        [[50.0, 100.0, 300.0, 450.0], JUNK_YXYX, JUNK_YXYX],
    ],
    dtype=np.float32,
)
SCORES = np.array([[0.9, 0.99, 0.99], [0.8, 0.99, 0.99]], dtype=np.float32)
CLASSES = np.array([[0, PADDING_CLASS, 1], [1, 0, 0]], dtype=np.int32)
NUM_DETECTIONS = np.array([2, 1], dtype=np.int32)


class FixedDetector(keras.Model):
    """Returns the same detections for every batch, in `bounding_box_format`."""

    def __init__(self, bounding_box_format="yxyx", boxes_yxyx=INPUT_BOXES_YXYX):
        super().__init__()
        self.bounding_box_format = bounding_box_format
        self.dense = keras.layers.Dense(1)
        self._boxes = keras.utils.bounding_boxes.convert_format(
            boxes_yxyx,
            source="yxyx",
            target=bounding_box_format,
            height=INPUT_SIZE,
            width=INPUT_SIZE,
        )

    def call(self, images):
        return self.dense(keras.ops.mean(images, axis=(1, 2)))

    def predict_step(self, data):
        return {
            "boxes": keras.ops.convert_to_tensor(self._boxes),
            "scores": keras.ops.convert_to_tensor(SCORES),
            "classes": keras.ops.convert_to_tensor(CLASSES),
            "num_detections": keras.ops.convert_to_tensor(NUM_DETECTIONS),
        }


def _evaluation_dataset():
    images = np.zeros([2, INPUT_SIZE, INPUT_SIZE, 3], dtype=np.float32)
    meta = {"image_id": IMAGE_IDS, "scale": SCALES, "original_size": ORIGINAL_SIZES}
    return tf.data.Dataset.from_tensor_slices((images, meta)).batch(2)


def _evaluator():
    records = [
        {"image_id": int(i), "height": int(h), "width": int(w), "boxes": b, "classes": [c]}
        for i, (h, w), b, c in zip(IMAGE_IDS, ORIGINAL_SIZES, GT_BOXES_YXYX, [0, 1], strict=True)
    ]
    return CocoEvaluator(build_coco_ground_truth(records, CLASS_NAMES, CATEGORY_IDS), CATEGORY_IDS)


@pytest.mark.parametrize("box_format", ["yxyx", "xyxy", "center_xywh", "rel_yxyx"])
def test_writes_prefixed_metrics_into_logs(box_format):
    callback = CocoMetricCallback(_evaluation_dataset(), _evaluator(), prefix="val_")
    callback.set_model(FixedDetector(box_format))
    logs = {"loss": 0.5}
    callback.on_epoch_end(0, logs)
    # Converted to yxyx, divided by the scales and scored: perfect detections.
    assert set(logs) == {"loss"} | {f"val_{name}" for name in METRIC_NAMES}
    for name in ("AP", "AP50", "AP75", "APl", "AR100"):
        assert logs[f"val_{name}"] == pytest.approx(1.0, abs=1e-6), name
    assert logs["val_APs"] == -1.0  # No small object in the ground truth.
    assert callback.last_metrics["AP"] == logs["val_AP"]


def test_boxes_not_in_input_pixels_score_zero():
    # Control: a model that (wrongly) returns original-image boxes gets them divided by the
    # scale a second time. Image 1: [20, 30, 120, 180] / 2 = [10, 15, 60, 90], IoU with the
    # ground truth 50 * 75 / (100 * 150) = 0.25. Image 2: [100, 200, 600, 900] / 0.5, clipped
    # to the 1280 x 960 image = [200, 400, 1200, 960], IoU 400 * 500 / 710000 = 0.28. Both
    # below 0.5: AP = 0.
    callback = CocoMetricCallback(_evaluation_dataset(), _evaluator())
    original_boxes = np.stack([GT_BOXES_YXYX[0], GT_BOXES_YXYX[1]]).astype(np.float32)
    boxes_yxyx = np.concatenate([original_boxes, INPUT_BOXES_YXYX[:, 1:]], axis=1)
    callback.set_model(FixedDetector(boxes_yxyx=boxes_yxyx))
    assert callback.evaluate()["AP"] == pytest.approx(0.0, abs=1e-6)


def test_evaluates_every_n_epochs_and_writes_results(tmp_path):
    callback = CocoMetricCallback(
        _evaluation_dataset(),
        _evaluator(),
        every_n_epochs=2,
        prefix="coco_",
        results_path=str(tmp_path / "detections_{epoch}.json"),
    )
    callback.set_model(FixedDetector())
    logs = {}
    callback.on_epoch_end(0, logs)
    assert logs == {}
    assert not list(tmp_path.iterdir())
    callback.on_epoch_end(1, logs)
    assert logs["coco_AP"] == pytest.approx(1.0, abs=1e-6)
    results = json.loads((tmp_path / "detections_2.json").read_text())
    # Image 1: yxyx [40, 60, 240, 360] / 2 = [20, 30, 120, 180] -> xywh [30, 20, 150, 100].
    # Image 2: yxyx [50, 100, 300, 450] / 0.5 = [100, 200, 600, 900] -> xywh [200, 100, 700,
    # 500]; classes 0 / 1 -> categories 17 / 18.
    assert [(r["image_id"], r["category_id"], r["bbox"]) for r in results] == [
        (1, 17, [30.0, 20.0, 150.0, 100.0]),
        (2, 18, [200.0, 100.0, 700.0, 500.0]),
    ]


def test_fit_history_and_checkpoint_see_the_metrics(tmp_path):
    model = FixedDetector()
    model.compile(optimizer="sgd", loss="mse")
    checkpoint_path = tmp_path / "best.weights.h5"
    history = model.fit(
        np.zeros([2, 8, 8, 3], dtype=np.float32),
        np.zeros([2, 1], dtype=np.float32),
        epochs=2,
        verbose=0,
        callbacks=[
            CocoMetricCallback(_evaluation_dataset(), _evaluator()),
            keras.callbacks.ModelCheckpoint(
                checkpoint_path,
                monitor="val_AP",
                mode="max",
                save_best_only=True,
                save_weights_only=True,
            ),
        ],
    )
    np.testing.assert_allclose(history.history["val_AP"], [1.0, 1.0], atol=1e-6)
    assert checkpoint_path.exists()


def test_needs_a_bounding_box_format():
    class NoFormat(keras.Model):
        def call(self, images):
            return images

    callback = CocoMetricCallback(_evaluation_dataset(), _evaluator())
    callback.set_model(NoFormat())
    with pytest.raises(ValueError, match="bounding_box_format"):
        callback.on_epoch_end(0, {})


def test_rejects_non_positive_interval():
    with pytest.raises(ValueError, match="every_n_epochs"):
        CocoMetricCallback(_evaluation_dataset(), _evaluator(), every_n_epochs=0)


class EmptyDetector(FixedDetector):
    """Detects nothing (num_detections 0 everywhere)."""

    def predict_step(self, data):
        return {**super().predict_step(data), "num_detections": keras.ops.zeros([2], "int32")}


def test_an_evaluation_without_any_detection_warns():
    callback = CocoMetricCallback(_evaluation_dataset(), _evaluator())
    callback.set_model(EmptyDetector())
    with pytest.warns(UserWarning, match="no detection at all") as record:
        metrics = callback.evaluate()
    assert metrics["AP"] == 0.0
    assert not any("BatchNorm" in str(w.message) for w in record)  # no BatchNorm here
    callback.set_model(FixedDetector())
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*no detection at all.*")
        assert callback.evaluate()["AP"] > 0.5
