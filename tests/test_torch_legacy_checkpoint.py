"""read_torch_legacy_state_dict on hand-written legacy files (no torch needed)."""

import pickle

import numpy as np
import pytest
from torch_legacy_writer import write_legacy_state_dict

from keras_retinanet.models.torch_legacy_checkpoint import read_torch_legacy_state_dict


def test_views_offsets_strides_and_dtypes(tmp_path):
    shared = np.arange(12, dtype=np.float32)  # one storage, two tensors
    counts = np.array([7], np.int64)
    path = tmp_path / "legacy.pth"
    write_legacy_state_dict(
        path,
        {
            "a.weight": ("0", 0, (3, 2), (2, 1)),  # rows of 2: [[0, 1], [2, 3], [4, 5]]
            "a.transposed": ("0", 6, (2, 3), (1, 2)),  # from 6, column-major: [[6, 8, 10], ...]
            "a.num_batches_tracked": ("1", 0, (), ()),
        },
        {"0": shared, "1": counts},
    )
    state = read_torch_legacy_state_dict(path)
    assert list(state) == ["a.weight", "a.transposed", "a.num_batches_tracked"]
    np.testing.assert_array_equal(state["a.weight"], [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(state["a.transposed"], [[6, 8, 10], [7, 9, 11]])
    assert state["a.weight"].dtype == np.float32 and state["a.weight"].flags.c_contiguous
    assert state["a.num_batches_tracked"].dtype == np.int64
    assert int(state["a.num_batches_tracked"]) == 7


def test_refuses_zip_format_foreign_globals_and_truncation(tmp_path):
    zipped = tmp_path / "new.pth"
    zipped.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match="zip-format"):
        read_torch_legacy_state_dict(zipped)

    evil = tmp_path / "evil.pth"
    evil.write_bytes(b"\x80\x02cos\nsystem\n(X\x02\x00\x00\x00lst" + b"R.")
    with pytest.raises(pickle.UnpicklingError, match=r"os\.system"):
        read_torch_legacy_state_dict(evil)

    path = tmp_path / "truncated.pth"
    write_legacy_state_dict(path, {"w": ("0", 0, (4,), (1,))}, {"0": np.ones(4, np.float32)})
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_torch_legacy_state_dict(path)
