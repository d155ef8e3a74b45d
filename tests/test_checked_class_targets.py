"""`checked_class_targets`: the target check every classification loss shares."""

import numpy as np
import pytest
import tensorflow as tf

from keras_retinanet.losses.checked_class_targets import checked_class_targets

LOGITS = tf.zeros([1, 3, 4])  # K = 4


def test_valid_targets_pass_through_as_int32():
    targets = checked_class_targets(np.array([[3, -1, -2]]), LOGITS, "SomeLoss")
    assert targets.dtype == tf.int32
    assert targets.numpy().tolist() == [[3, -1, -2]]


@pytest.mark.parametrize(
    "targets, message",
    [([[4, 0, 0]], "SomeLoss: class target >= num_classes"), ([[0, -3, 0]], "< -2")],
)
def test_out_of_range_targets_raise_naming_the_loss(targets, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        checked_class_targets(np.array(targets), LOGITS, "SomeLoss")
