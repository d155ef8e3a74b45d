import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_config_round_trip

import keras_retinanet as kr
from keras_retinanet import label_codes

TINY = {
    "backbone": "mobilenetv2_035",
    "backbone_weights": None,
    "fpn_channels": 16,
    "head_channels": 16,
    "head_depth": 1,
}


def tiny_model(num_classes=3, **kwargs):
    return kr.RetinaNet(num_classes=num_classes, **{**TINY, **kwargs})


def batch(size=128):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, size, size, 3)).astype("float32")
    y = {
        "boxes": np.array(
            [
                [[10, 12, 60, 50], [70, 64, 120, 126], [-1, -1, -1, -1]],
                [[30, 40, 100, 120], [-1] * 4, [-1] * 4],
            ],
            "float32",
        ),
        "classes": np.array([[0, 2, -1], [1, -1, -1]], "int32"),
    }
    return images, y


def test_raw_outputs_and_fresh_model_detects_nothing():
    model = tiny_model(num_classes=5)
    images, _ = batch()
    raw = model(images)
    # 128 px: 9 * (16^2 + 8^2 + 4^2 + 2^2 + 1^2) = 3,069 anchors.
    assert raw["classification"].shape == (2, 3069, 5)
    assert raw["box"].shape == (2, 3069, 4)
    np.testing.assert_allclose(tf.sigmoid(raw["classification"]), 0.01, rtol=0.05)
    detections = model.predict(images, verbose=0)
    assert detections["boxes"].shape == (2, 100, 4)
    assert detections["scores"].shape == (2, 100)
    assert detections["classes"].shape == (2, 100)
    assert detections["num_detections"].tolist() == [0, 0]


def test_config_round_trip_every_argument():
    args = {
        "num_classes": 4,
        "backbone": "mobilenetv2_035",
        "backbone_weights": None,
        "backbone_frozen_batch_norm": True,
        "backbone_frozen_stages": 0,
        "batch_norm_momentum": 0.9,
        "max_level": 6,
        "fpn_channels": 24,
        "fpn_separable": True,
        "fpn_batch_norm": True,
        "fpn_activation": "relu6",
        "head_channels": 16,
        "head_depth": 2,
        "head_separable": True,
        "head_batch_norm": True,
        "head_activation": "relu6",
        "prior_probability": 0.02,
        "anchor_generator": kr.AnchorGenerator(
            strides=[8, 16, 32, 64], sizes=[24, 48, 96, 192], scales=[1.0, 1.5], aspect_ratios=[1.0]
        ),
        "box_coder": kr.BoxCoder((8.0, 8.0, 4.0, 4.0)),
        "box_matcher": kr.BoxMatcher(0.6, 0.35, False),
        "detection_decoder": kr.DetectionDecoder(200, 0.1, 0.45, 50, False),
        "crowd_ioa_threshold": 0.6,
        "bounding_box_format": "xyxy",
        "image_shape": (96, 128, 3),
        "name": "my_retinanet",
    }
    model = kr.RetinaNet(**args)
    rebuilt = assert_config_round_trip(model, args)
    assert rebuilt.anchor_generator == args["anchor_generator"]
    assert rebuilt.detection_decoder == args["detection_decoder"]
    assert rebuilt.count_params() == model.count_params()
    # 2 anchors per cell, P3-P6 on 96x128: 2 * (12*16 + 6*8 + 3*4 + 2*2) = 512.
    assert model.outputs[0].shape == (None, 512, 4) or model.outputs[1].shape == (None, 512, 4)


def test_keras_save_load_exact_round_trip(tmp_path):
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    images, y = batch()
    model.fit(images, y, epochs=2, verbose=0)
    path = str(tmp_path / "retinanet.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, kr.RetinaNet)
    for key in ("classification", "box"):
        np.testing.assert_array_equal(model(images)[key], loaded(images)[key])
    a, b = model.predict(images, verbose=0), loaded.predict(images, verbose=0)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    # The compile configuration and the optimizer state come back too.
    assert isinstance(loaded.classification_loss, kr.FocalLoss)
    assert isinstance(loaded.optimizer, keras.optimizers.SGD)
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())
    np.testing.assert_allclose(
        loaded.evaluate(images, y, verbose=0), model.evaluate(images, y, verbose=0), rtol=1e-6
    )


def test_compile_defaults_and_loss_components():
    model = tiny_model()
    model.compile()
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(0.01)
    assert model.optimizer.momentum == pytest.approx(0.9)
    images, y = batch()
    logs = model.evaluate(images, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "classification_loss", "box_loss"}
    assert logs["loss"] == pytest.approx(logs["classification_loss"] + logs["box_loss"], rel=1e-5)
    with pytest.raises(ValueError, match="classification_loss"):
        model.compile(loss="mse")


def test_pre_encoded_targets_give_the_same_loss():
    model = tiny_model()
    model.compile()
    images, y = batch()
    raw = model.evaluate(images, y, verbose=0, return_dict=True)
    encoded = model.encode_targets((128, 128), y["boxes"], y["classes"])
    pre = model.evaluate(
        images, {k: v.numpy() for k, v in encoded.items()}, verbose=0, return_dict=True
    )
    for key in raw:
        assert pre[key] == pytest.approx(raw[key], rel=1e-6)
    # Per-sample encoding (as in a tf.data map) equals the batch encoding.
    single = model.encode_targets((128, 128), y["boxes"][1], y["classes"][1])
    np.testing.assert_array_equal(single["class_targets"], encoded["class_targets"][1])


@pytest.mark.parametrize("box_format", ["xyxy", "xywh", "center_yxhw", "rel_yxyx"])
def test_training_boxes_declare_their_format_in_the_key(box_format):
    reference = tiny_model()
    reference.compile()
    images, y = batch()
    expected = reference.evaluate(images, y, verbose=0, return_dict=True)
    # The model's bounding_box_format (predictions) does not change how y is read.
    model = tiny_model(bounding_box_format=box_format)
    model.set_weights(reference.get_weights())
    model.compile()
    got_plain = model.evaluate(images, y, verbose=0, return_dict=True)
    assert got_plain["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    converted = keras.utils.bounding_boxes.convert_format(
        y["boxes"], source="yxyx", target=box_format, height=128, width=128
    )
    converted = np.where(y["classes"][..., None] >= 0, np.asarray(converted), -1.0)
    declared = {f"boxes_{box_format}": converted, "classes": y["classes"]}
    got = reference.evaluate(images, declared, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)


# A tall object, yxyx pixels: 100 high, 30 wide. Transposed (read as xyxy) it would be
# a wide one: x 10..110, y 40..70.
TALL_BOX_YXYX = [10.0, 40.0, 110.0, 70.0]


def _tall_box_dataset():
    element = {
        "image": np.zeros((128, 128, 3), "uint8"),
        "boxes": np.array([TALL_BOX_YXYX], "float32"),
        "classes": np.array([1], "int32"),
        "is_crowd": np.array([False]),
        "image_id": np.int64(0),
    }
    return tf.data.Dataset.from_tensors(element)


@pytest.mark.parametrize("box_format", ["xyxy", "rel_xywh"])
def test_model_predicting_another_format_trains_on_the_pipeline_boxes(box_format):
    from keras_retinanet.data.input_pipeline import (
        AugmentationConfig,
        ResizeConfig,
        build_train_pipeline,
    )

    model = tiny_model(bounding_box_format=box_format)
    pipeline = build_train_pipeline(
        _tall_box_dataset(),
        1,
        resize=ResizeConfig(mode="letterbox", size=128),
        augmentation=AugmentationConfig.disabled(),
        max_boxes=2,
        encode_targets=model.encode_targets,
        seed=0,
        shuffle_buffer=0,
    )
    images, y = next(iter(pipeline))
    np.testing.assert_allclose(y["boxes"][0, 0], TALL_BOX_YXYX)
    for class_targets in (y["class_targets"], model._targets(images, y)["class_targets"]):
        positives = np.flatnonzero(class_targets.numpy()[0] == 1)
        anchors = model.anchor_generator(128, 128).numpy()[positives]
        heights = anchors[:, 2] - anchors[:, 0]
        widths = anchors[:, 3] - anchors[:, 1]
        # Matched anchors are the tall ones (aspect 2:1) around the box's centre (60, 55).
        assert positives.size > 0
        assert np.all(heights > widths), (heights, widths)
        centres = (anchors[:, :2] + anchors[:, 2:]) / 2
        np.testing.assert_allclose(centres.mean(axis=0), [60.0, 55.0], atol=8.0)


def test_two_box_keys_are_refused():
    model = tiny_model()
    model.compile()
    images, y = batch()
    with pytest.raises(ValueError, match="one box key"):
        model.evaluate(images, {**y, "boxes_xyxy": y["boxes"]}, verbose=0)
    with pytest.raises(ValueError, match="Unknown box format"):
        model.encode_targets((128, 128), y["boxes"], y["classes"], box_format="ltrb")


def test_predicted_boxes_use_the_model_format():
    model = tiny_model(bounding_box_format="xywh")
    raw = model(batch()[0])
    logits = raw["classification"].numpy()
    logits[:, 0, 0] = 5.0  # one confident detection on the first anchor
    out = model.decode_predictions({"classification": logits, "box": raw["box"]}, (128, 128))
    yxyx = model.anchor_generator(128, 128).numpy()[0]
    decoded = kr.BoxCoder().decode(raw["box"][:, :1], yxyx[None]).numpy()[0, 0]
    clipped = np.clip(decoded, 0, 128)
    expected_xywh = [clipped[1], clipped[0], clipped[3] - clipped[1], clipped[2] - clipped[0]]
    np.testing.assert_allclose(out["boxes"].numpy()[0, 0], expected_xywh, atol=1e-3)


def test_crowd_boxes_are_accepted():
    model = tiny_model()
    model.compile()
    images, y = batch()
    y["classes"][1, 1] = label_codes.CROWD_CLASS
    y["boxes"][1, 1] = [0, 0, 64, 64]
    assert np.all(np.isfinite(model.evaluate(images, y, verbose=0)))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="num_classes"):
        kr.RetinaNet(num_classes=0, **TINY)
    with pytest.raises(ValueError, match="bounding_box_format"):
        kr.RetinaNet(num_classes=2, bounding_box_format="ltrb", **TINY)
    model = tiny_model()
    with pytest.raises(ValueError, match=r"\[batch, height, width, 3\]"):
        model.predict(np.zeros((64, 64, 3), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"\[batch, height, width, 3\]"):
        model(np.zeros((1, 64, 64, 1), "float32"))
    model.compile()
    images, y = batch()
    bad = {"boxes": y["boxes"], "classes": np.where(y["classes"] == 2, 3, y["classes"])}
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes"):
        model.fit(images, bad, verbose=0)
    inverted = {"boxes": y["boxes"][..., [2, 1, 0, 3]], "classes": y["classes"]}
    with pytest.raises(tf.errors.InvalidArgumentError, match="ymax < ymin"):
        model.fit(images, inverted, verbose=0)
    with pytest.raises(ValueError, match='"classes" and one box key'):
        model.fit(images, {"bboxes": y["boxes"], "labels": y["classes"]}, verbose=0)


def test_mixed_bfloat16_trains_finite():
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = tiny_model()
        model.compile(optimizer=keras.optimizers.SGD(0.005, momentum=0.9))
        images, y = batch()
        raw = model(images)
        assert raw["classification"].dtype == tf.float32
        history = model.fit(images, y, epochs=3, verbose=0).history["loss"]
        assert np.all(np.isfinite(history))
        assert model.predict(images, verbose=0)["boxes"].dtype == np.float32
    finally:
        keras.mixed_precision.set_global_policy(policy)
