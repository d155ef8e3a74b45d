"""ClassColumnLayout: golden layouts, the thread rule, label maps, column -> class mapping."""

import numpy as np
import pytest

from keras_retinanet.export.class_column_layout import (
    MAX_SAFE_THREADS,
    NO_CLASS,
    PLACEHOLDER_LABEL,
    ClassColumnLayout,
)


def test_thread_safe_layout_golden():
    # 5 classes: 0, 1 in columns 0, 1; columns 2..8 (skipped by 2..8 threads) empty;
    # classes 2, 3, 4 in columns 9, 10, 11.
    layout = ClassColumnLayout.thread_safe(5)
    assert layout.column_classes == (0, 1, -1, -1, -1, -1, -1, -1, -1, 2, 3, 4)
    assert layout.num_columns == 12 and layout.num_classes == 5
    assert layout.class_columns == (0, 1, 9, 10, 11)


@pytest.mark.parametrize("num_classes", [1, 2])
def test_two_classes_or_fewer_need_no_placeholder(num_classes):
    layout = ClassColumnLayout.thread_safe(num_classes)
    assert layout.is_identity
    assert all(layout.safe_on(t) for t in range(1, 17))


@pytest.mark.parametrize("num_classes", [3, 10, 80])
def test_safe_on_every_thread_count_a_phone_uses(num_classes):
    layout = ClassColumnLayout.thread_safe(num_classes)
    assert all(layout.safe_on(t) for t in range(1, MAX_SAFE_THREADS + 1))
    # The kernel skips column T on T threads: column 9 holds class 2.
    assert not layout.safe_on(MAX_SAFE_THREADS + 1)
    identity = ClassColumnLayout.identity(num_classes)
    assert [t for t in range(1, 9) if not identity.safe_on(t)] == list(
        range(2, min(num_classes, 9))
    )


def test_labels_round_trip_and_mapping():
    layout = ClassColumnLayout.thread_safe(4)
    labels = layout.labels(["a", "b", "c", "d"])
    assert labels == ["a", "b"] + [PLACEHOLDER_LABEL] * 7 + ["c", "d"]
    assert ClassColumnLayout.from_labels(labels) == layout
    columns = np.array([[0, 1, 9, 10, 4, -1, 99]])
    np.testing.assert_array_equal(layout.to_classes(columns), [[0, 1, 2, 3, NO_CLASS, -1, -1]])


def test_placeholder_name_is_reserved():
    with pytest.raises(ValueError, match="reserved"):
        ClassColumnLayout.thread_safe(3).labels(["a", PLACEHOLDER_LABEL, "c"])
    with pytest.raises(ValueError, match="3 names for 4 classes"):
        ClassColumnLayout.thread_safe(4).labels(["a", "b", "c"])
