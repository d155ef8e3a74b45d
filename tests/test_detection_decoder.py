import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_config_round_trip

from keras_retinanet.ops import AnchorGenerator, BoxCoder, DetectionDecoder

# A 64x64 image with two levels (stride 32 size 32, stride 64 size 64, one anchor per
# cell): a0 [0, 0, 32, 32], a1 [0, 32, 32, 64], a2 [32, 0, 64, 32], a3 [32, 32, 64, 64]
# on the first level and a4 [0, 0, 64, 64] on the second.
GENERATOR = AnchorGenerator(strides=[32, 64], sizes=[32, 64], scales=[1.0], aspect_ratios=[1.0])
ANCHORS = GENERATOR(64, 64)
LEVEL_SIZES = GENERATOR.level_sizes(64, 64)
LOW = -10.0  # sigmoid(-10) = 4.5e-5, far under the 0.05 threshold


def logit(p):
    return float(np.log(p / (1 - p)))


def decode(logits, deltas=None, **kwargs):
    logits = np.asarray(logits, "float32")
    if deltas is None:
        deltas = np.zeros((*logits.shape[:2], 4), "float32")
    return {
        k: v.numpy()
        for k, v in DetectionDecoder(**kwargs)(
            logits, deltas, ANCHORS, LEVEL_SIZES, (64, 64), BoxCoder()
        ).items()
    }


def base_logits():
    logits = np.full((1, 5, 2), LOW, "float32")
    logits[0, 0, 1] = logit(0.88)  # a0, class 1
    logits[0, 1, 1] = logit(0.73)  # a1, class 1
    logits[0, 4, 1] = logit(0.50)  # a4, class 1: IoU(a4, a0) = 1024 / 4096 = 0.25, kept
    logits[0, 4, 0] = logit(0.95)  # a4, class 0
    return logits


def test_class_wise_nms_golden():
    out = decode(base_logits())
    assert out["num_detections"].tolist() == [4]
    np.testing.assert_allclose(out["scores"][0, :4], [0.95, 0.88, 0.73, 0.50], rtol=1e-5)
    assert out["classes"][0, :4].tolist() == [0, 1, 1, 1]
    np.testing.assert_allclose(
        out["boxes"][0, :4],
        [[0, 0, 64, 64], [0, 0, 32, 32], [0, 32, 32, 64], [0, 0, 64, 64]],
        atol=1e-4,
    )
    # Padding rows.
    assert out["classes"][0, 4:].tolist() == [-1] * 96
    assert np.all(out["scores"][0, 4:] == 0) and np.all(out["boxes"][0, 4:] == 0)


def test_class_agnostic_nms_suppresses_across_classes():
    out = decode(base_logits(), class_wise_nms=False)
    # a4 class 1 (0.50) has IoU 1 with a4 class 0 (0.95): suppressed.
    assert out["num_detections"].tolist() == [3]
    assert out["classes"][0, :3].tolist() == [0, 1, 1]


def test_overlapping_same_class_box_is_suppressed():
    deltas = np.zeros((1, 5, 4), "float32")
    # Move a1 (centre x 48) to [0, 4, 32, 36] (centre x 20): tx = (20 - 48) / 32 * 10.
    deltas[0, 1, 1] = (20 - 48) / 32 * 10
    out = decode(base_logits(), deltas)
    # IoU([0, 4, 32, 36], a0) = 896 / 1152 = 0.78 > 0.5: the 0.73 box goes.
    assert out["num_detections"].tolist() == [3]
    np.testing.assert_allclose(out["scores"][0, :3], [0.95, 0.88, 0.50], rtol=1e-5)


def test_score_threshold_and_max_detections():
    logits = base_logits()
    logits[0, 2, 0] = logit(0.049)  # under 0.05: dropped
    out = decode(logits)
    assert out["num_detections"].tolist() == [4]
    out = decode(logits, max_detections=2)
    assert out["scores"].shape == (1, 2)
    np.testing.assert_allclose(out["scores"][0], [0.95, 0.88], rtol=1e-5)


def test_top_k_is_per_level():
    # Keep one candidate per level: level 1 keeps a0/class 1, level 2 keeps a4/class 0.
    out = decode(base_logits(), pre_nms_top_k=1)
    assert out["num_detections"].tolist() == [2]
    np.testing.assert_allclose(out["scores"][0, :2], [0.95, 0.88], rtol=1e-5)


def test_boxes_are_clipped_to_the_image():
    logits = np.full((1, 5, 2), LOW, "float32")
    logits[0, 3, 0] = logit(0.9)
    deltas = np.zeros((1, 5, 4), "float32")
    deltas[0, 3] = [5.0, 5.0, 2.0, 2.0]  # a3 moved by half its size and enlarged
    out = decode(logits, deltas)
    box = out["boxes"][0, 0]
    assert box.min() >= 0 and box.max() <= 64
    assert box[2] == pytest.approx(64.0) and box[3] == pytest.approx(64.0)


def test_batch_and_empty_images():
    logits = np.concatenate([base_logits(), np.full((1, 5, 2), LOW, "float32")])
    out = decode(logits)
    assert out["num_detections"].tolist() == [4, 0]
    assert out["classes"][1].tolist() == [-1] * 100


def test_dynamic_shapes_in_graph():
    decoder = DetectionDecoder()

    @tf.function(input_signature=[tf.TensorSpec([None, None, 2]), tf.TensorSpec([None, None, 4])])
    def run(logits, deltas):
        sizes = GENERATOR.level_sizes(tf.constant(64), tf.constant(64))
        anchors = GENERATOR(tf.constant(64), tf.constant(64))
        return decoder(logits, deltas, anchors, sizes, (64, 64), BoxCoder())

    out = run(base_logits(), np.zeros((1, 5, 4), "float32"))
    assert out["num_detections"].numpy().tolist() == [4]


def test_config_round_trip():
    args = {
        "pre_nms_top_k": 50,
        "score_threshold": 0.3,
        "nms_iou_threshold": 0.6,
        "max_detections": 7,
        "class_wise_nms": False,
    }
    decoder = DetectionDecoder(**args)
    assert assert_config_round_trip(decoder, args) == decoder


@pytest.mark.parametrize(
    "kwargs", [{"pre_nms_top_k": 0}, {"score_threshold": 1.0}, {"nms_iou_threshold": 0.0}]
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        DetectionDecoder(**kwargs)
