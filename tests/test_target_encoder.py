import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_config_round_trip

from keras_retinanet import label_codes
from keras_retinanet.ops import AnchorGenerator, BoxCoder, BoxMatcher, TargetEncoder

BG, IG = label_codes.BACKGROUND, label_codes.IGNORE


def four_anchor_encoder(**kwargs):
    # 64x64 image, one level (stride 32, size 32, ratio 1): the anchors are
    # a0 [0, 0, 32, 32], a1 [0, 32, 32, 64], a2 [32, 0, 64, 32], a3 [32, 32, 64, 64].
    generator = AnchorGenerator(strides=[32], sizes=[32], scales=[1.0], aspect_ratios=[1.0])
    return TargetEncoder(num_classes=3, anchor_generator=generator, **kwargs)


def test_positive_negative_and_deltas():
    # Box [0, 8, 32, 40]: IoU with a0 = 768 / 1280 = 0.6 (positive), with a1 =
    # 256 / 1792 = 0.14 (negative); a2, a3 do not overlap it.
    targets = four_anchor_encoder()((64, 64), [[0.0, 8.0, 32.0, 40.0]], [2])
    assert targets["class_targets"].numpy().tolist() == [2, BG, BG, BG]
    # Deltas of a0: centre x moves by 8 px on a 32 px anchor: tx = 8 / 32 * 10 = 2.5.
    np.testing.assert_allclose(targets["box_targets"].numpy()[0], [0.0, 2.5, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(targets["box_targets"].numpy()[1:], 0.0)


def test_ignore_band_and_low_quality_match():
    # Box [0, 0, 32, 14.4]: IoU with a0 = 460.8 / 1024 = 0.45, in the ignore band.
    box, cls = [[0.0, 0.0, 32.0, 14.4]], [1]
    strict = four_anchor_encoder(box_matcher=BoxMatcher(allow_low_quality_matches=False))
    assert strict((64, 64), box, cls)["class_targets"].numpy().tolist() == [IG, BG, BG, BG]
    # By default a box's best anchor is a positive however low its IoU.
    assert four_anchor_encoder()((64, 64), box, cls)["class_targets"].numpy().tolist() == [
        1,
        BG,
        BG,
        BG,
    ]


def test_crowd_padding_and_degenerate_boxes():
    boxes = [
        [32.0, 32.0, 64.0, 64.0],  # crowd region over a3: a3 ignored, not negative
        [0.0, 0.0, 32.0, 32.0],  # padding row (class -1) on a0: ignored entirely
        [40.0, 0.0, 40.0, 30.0],  # zero-height box over a2: never matches
    ]
    classes = [label_codes.CROWD_CLASS, label_codes.PADDING_CLASS, 0]
    targets = four_anchor_encoder()((64, 64), boxes, classes)
    assert targets["class_targets"].numpy().tolist() == [BG, BG, BG, IG]
    assert np.all(np.isfinite(targets["box_targets"].numpy()))


def test_zero_boxes_and_all_padding():
    encoder = four_anchor_encoder()
    empty = encoder((64, 64), np.zeros((0, 4), "float32"), np.zeros((0,), "int32"))
    assert empty["class_targets"].numpy().tolist() == [BG] * 4
    padded = encoder((64, 64), -np.ones((3, 4), "float32"), -np.ones((3,), "int32"))
    assert padded["class_targets"].numpy().tolist() == [BG] * 4
    np.testing.assert_array_equal(padded["box_targets"].numpy(), 0.0)


def test_batch_equals_single_in_graph_mode():
    encoder = TargetEncoder(num_classes=4)
    rng = np.random.default_rng(1)
    corners = rng.uniform(0, 100, (2, 6, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(8, 80, (2, 6, 2))], -1).astype("float32")
    classes = rng.integers(-1, 4, (2, 6)).astype("int32")

    @tf.function(
        input_signature=[tf.TensorSpec([None, None, 4]), tf.TensorSpec([None, None], tf.int32)]
    )
    def encode_batch(b, c):
        return encoder((128, 128), b, c)

    batch = encode_batch(boxes, classes)
    for i in range(2):
        single = encoder((128, 128), boxes[i], classes[i])
        np.testing.assert_array_equal(batch["class_targets"][i], single["class_targets"])
        np.testing.assert_allclose(batch["box_targets"][i], single["box_targets"], atol=1e-5)
    assert batch["class_targets"].shape == (2, 9 * (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1))


def test_positive_targets_decode_to_their_boxes():
    encoder = TargetEncoder(num_classes=2)
    boxes = np.array([[10.0, 20.0, 60.0, 50.0], [64.0, 64.0, 120.0, 126.0]], "float32")
    targets = encoder((128, 128), boxes, [0, 1])
    anchors = encoder.anchor_generator(128, 128)
    decoded = BoxCoder().decode(targets["box_targets"], anchors).numpy()
    class_targets = targets["class_targets"].numpy()
    for cls in (0, 1):
        positives = decoded[class_targets == cls]
        assert len(positives) >= 1  # every object has at least one anchor
        np.testing.assert_allclose(
            positives, np.repeat(boxes[cls : cls + 1], len(positives), 0), atol=1e-3
        )


@pytest.mark.parametrize(
    "boxes, classes, message",
    [
        ([[0.0, 0.0, 10.0, 10.0]], [3], "class id >= num_classes"),
        ([[0.0, 0.0, 10.0, 10.0]], [-3], "class id < -2"),
        ([[20.0, 0.0, 10.0, 10.0]], [0], "ymax < ymin"),
        ([[0.0, 20.0, 10.0, 10.0]], [0], "xmax < xmin"),
        ([[0.0, 0.0, np.nan, 10.0]], [0], "NaN"),
    ],
)
def test_invalid_ground_truth_raises(boxes, classes, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        four_anchor_encoder()((64, 64), np.array(boxes, "float32"), classes)


def test_inverted_padding_row_is_fine():
    targets = four_anchor_encoder()((64, 64), [[5.0, 5.0, -1.0, -1.0]], [label_codes.PADDING_CLASS])
    assert targets["class_targets"].numpy().tolist() == [BG] * 4


def test_config_round_trip():
    args = {
        "num_classes": 7,
        "anchor_generator": AnchorGenerator(strides=[8], sizes=[16]),
        "box_matcher": BoxMatcher(0.6, 0.3),
        "box_coder": BoxCoder((1.0, 1.0, 1.0, 1.0)),
        "crowd_ioa_threshold": 0.7,
    }
    encoder = TargetEncoder(**args)
    rebuilt = assert_config_round_trip(encoder, args)
    assert rebuilt.anchor_generator == args["anchor_generator"]
    assert rebuilt.box_matcher == args["box_matcher"]
    assert rebuilt.box_coder == args["box_coder"]


def test_padding_rows_change_nothing():
    # One image is encoded on its real rows only (padding dropped first); the result must
    # equal the encoding without padding, crowd regions included, in graph mode too.
    encoder = TargetEncoder(num_classes=3)
    boxes = np.array([[10, 10, 60, 70], [40, 50, 120, 110], [0, 0, 64, 64]], "float32")
    classes = np.array([0, 2, label_codes.CROWD_CLASS], "int32")
    reference = encoder((128, 128), boxes, classes)
    pad = 100
    padded_boxes = np.concatenate([boxes[:1], -np.ones((pad, 4), "float32"), boxes[1:]])
    padded_classes = np.concatenate([classes[:1], -np.ones((pad,), "int32"), classes[1:]])
    encode = tf.function(lambda b, c: encoder((128, 128), b, c))
    for result in (
        encoder((128, 128), padded_boxes, padded_classes),
        encode(padded_boxes, padded_classes),
    ):
        np.testing.assert_array_equal(result["class_targets"], reference["class_targets"])
        np.testing.assert_allclose(result["box_targets"], reference["box_targets"], atol=1e-5)
    assert (reference["class_targets"].numpy() == label_codes.IGNORE).any()  # the crowd
