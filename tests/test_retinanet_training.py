"""Training behaviour: stable from step 0 with the paper's optimiser; overfits a batch."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_retinanet as kr
from keras_retinanet.data import ShapesDataset
from keras_retinanet.ops.iou import pairwise_iou

SIZE = 128
MAX_BOXES = 8


def shapes_arrays(num_images, seed, max_objects=4):
    """Images `[B, 128, 128, 3]` and padded y from the generated shapes data."""
    dataset = ShapesDataset(
        num_images, image_size=SIZE, seed=seed, max_objects=max_objects, min_size=20
    )
    images, boxes, classes = [], [], []
    for element in dataset.as_dataset():
        n = int(element["classes"].shape[0])
        images.append(element["image"].numpy().astype("float32"))
        padded = -np.ones((MAX_BOXES, 4), "float32")
        padded[:n] = element["boxes"].numpy()
        labels = -np.ones((MAX_BOXES,), "int32")
        labels[:n] = element["classes"].numpy()
        boxes.append(padded)
        classes.append(labels)
    return (
        np.stack(images),
        {"boxes": np.stack(boxes), "classes": np.stack(classes)},
        dataset.num_classes,
    )


def test_paper_setting_is_stable_from_step_zero():
    # SGD momentum 0.9, lr 0.01 for a batch of 16 scaled to 8, 10 warmup steps, no
    # gradient clipping: the prior-probability bias must keep the first steps sane.
    images, y, num_classes = shapes_arrays(32, seed=5)
    model = kr.RetinaNet(
        num_classes=num_classes,
        backbone="mobilenetv2_035",
        backbone_weights=None,
        fpn_channels=32,
        head_channels=32,
        head_depth=2,
        batch_norm_momentum=0.9,
        image_shape=(SIZE, SIZE, 3),
    )
    batch_size, steps, warmup = 8, 60, 10
    learning_rate = 0.01 * batch_size / 16
    schedule = keras.optimizers.schedules.PolynomialDecay(
        learning_rate / warmup, warmup, learning_rate, power=1.0
    )
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9))
    initial = model.evaluate(images, y, batch_size=batch_size, verbose=0, return_dict=True)
    dataset = (
        tf.data.Dataset.from_tensor_slices((images, y))
        .shuffle(32, seed=0)
        .repeat()
        .batch(batch_size)
    )
    history = model.fit(dataset, steps_per_epoch=5, epochs=steps // 5, verbose=0).history
    losses, class_losses = history["loss"], history["classification_loss"]
    assert np.all(np.isfinite(losses))
    final = model.evaluate(images, y, batch_size=batch_size, verbose=0, return_dict=True)
    # The prior bias: every anchor starts at p = 0.01, so the focal loss is the positives'
    # alpha (1 - pi)^gamma log(1 / pi) = 0.25 * 0.99^2 * ln(100) = 1.1284 (the negatives
    # add ~1e-6 each); without it (pi = 0.5) the negatives alone would add tens.
    analytic = 0.25 * 0.99**2 * np.log(100.0)
    assert initial["classification_loss"] == pytest.approx(analytic, rel=0.01)
    # Stable: the classification loss only goes down, epoch after epoch (measured on this
    # setting: 1.129 -> 1.124 in 12 epochs of 5 steps), and no epoch's mean total loss
    # exceeds the starting loss by more than 2 % (measured: at most 0.8 %).
    assert np.all(np.diff(class_losses) <= 1e-4), class_losses
    assert class_losses[-1] < class_losses[0]
    assert max(losses) <= initial["loss"] * 1.02, (initial, losses)
    # The paper's learning rate is meant for 90k steps: in 60 it moves the loss by only
    # 1.2-1.7 % (measured, two seeds), so the drop asserted is small but real.
    assert final["loss"] < 0.995 * initial["loss"], (initial, final)
    assert final["classification_loss"] < initial["classification_loss"]


def test_overfits_two_images_and_finds_the_boxes():
    images, y, num_classes = shapes_arrays(2, seed=11, max_objects=2)
    model = kr.RetinaNet(
        num_classes=num_classes,
        backbone="mobilenetv2_035",
        backbone_weights=None,
        fpn_channels=32,
        head_channels=32,
        head_depth=2,
        head_batch_norm=True,
        batch_norm_momentum=0.9,
        image_shape=(SIZE, SIZE, 3),
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    initial = model.evaluate(images, y, verbose=0, return_dict=True)["loss"]
    batch = tf.data.Dataset.from_tensors((images, y)).repeat()
    model.fit(batch, steps_per_epoch=200, epochs=1, verbose=0)
    final = model.evaluate(images, y, verbose=0, return_dict=True)["loss"]
    assert final < initial / 10, (initial, final)
    detections = model.predict(images, verbose=0)
    for index in range(2):
        real = y["classes"][index] >= 0
        truth_boxes, truth_classes = y["boxes"][index][real], y["classes"][index][real]
        count = int(detections["num_detections"][index])
        boxes = detections["boxes"][index][:count]
        classes = detections["classes"][index][:count]
        iou = pairwise_iou(tf.constant(truth_boxes), tf.constant(boxes)).numpy()  # [T, D]
        for t in range(len(truth_boxes)):
            same_class = classes == truth_classes[t]
            assert same_class.any(), f"image {index}: no detection of class {truth_classes[t]}"
            assert iou[t][same_class].max() > 0.7, (index, t, iou[t], classes)


@pytest.fixture(autouse=True)
def _float32_policy():
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy(policy)
