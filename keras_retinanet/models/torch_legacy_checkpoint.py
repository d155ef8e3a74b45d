"""Reads a PyTorch state dict saved in the legacy (non-zip) serialization, without torch.

The legacy format (`torch.save(..., _use_new_zipfile_serialization=False)`, and the format
of torchvision's older `.pth` files) is a sequence of pickles followed by raw data:

1. the magic number `0x1950a86a20f9469cfc6c`;
2. the protocol version (1001);
3. system information (`{"little_endian": ..., "type_sizes": ...}`);
4. the object itself (here a state dict) whose tensors refer to storages through
   persistent ids `("storage", storage_type, key, location, numel[, view_metadata])` and are
   rebuilt by `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`;
5. the list of storage keys, in the order their data follows;
6. for each key: its element count as an 8-byte little-endian integer, then the elements
   (little-endian, the storage type's element size each).

Only what a state dict needs is accepted: an unpickler that resolves any other global
refuses the file (a pickle can run arbitrary code otherwise).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import pickle
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
# Storage classes of the legacy format and their element types (little-endian).
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
_ELEMENT_COUNT_BYTES = 8
_ZIP_MAGIC = b"PK\x03\x04"


@dataclasses.dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype


@dataclasses.dataclass(frozen=True)
class _TensorRef:
    """A tensor view on a storage not read yet (sizes and strides in elements)."""

    key: str
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *unused) -> _TensorRef:
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, storages: dict[str, np.dtype]):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(
            f"{module}.{name} is not part of a plain state dict; refusing to load it."
        )

    def persistent_load(self, pid: Any) -> str:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"Unknown persistent id {pid!r}.")
        _, storage_type, key, _location, _numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("Storage views (legacy view metadata) are not supported.")
        self._storages[key] = storage_type.dtype
        return key


def read_torch_legacy_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a legacy-format `torch.save` state dict, as NumPy arrays.

    Args:
        path: the `.pth` / `.pt` file.

    Returns:
        `{name: array}` in the file's order, each array C-contiguous with the tensor's
        shape and dtype (float32 weights, int64 `num_batches_tracked`, ...).

    Raises:
        ValueError: the file is a zip-format checkpoint (torch >= 1.6 default), not the
            legacy format, or its header is not the legacy one; or it holds something
            other than a flat dict of tensors.
        pickle.UnpicklingError: it refers to objects a state dict does not hold.
    """
    with open(path, "rb") as file:
        if file.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC:
            raise ValueError(
                f"{os.fspath(path)!r} is a zip-format torch checkpoint; only the legacy format "
                "is read here (re-save it with `torch.save(state_dict, path, "
                "_use_new_zipfile_serialization=False)`)."
            )
        file.seek(0)
        storages: dict[str, np.dtype] = {}
        magic = _StateDictUnpickler(file, storages).load()
        protocol = _StateDictUnpickler(file, storages).load()
        if magic != LEGACY_MAGIC_NUMBER or protocol != LEGACY_PROTOCOL_VERSION:
            raise ValueError(
                f"{os.fspath(path)!r} is not a legacy torch checkpoint (magic {magic!r}, "
                f"protocol {protocol!r})."
            )
        system_info = _StateDictUnpickler(file, storages).load()
        if isinstance(system_info, dict) and not system_info.get("little_endian", True):
            raise ValueError(f"{os.fspath(path)!r} was written on a big-endian machine.")
        state = _StateDictUnpickler(file, storages).load()
        keys = _StateDictUnpickler(file, storages).load()
        data: dict[str, np.ndarray] = {}
        for key in keys:
            count = int.from_bytes(file.read(_ELEMENT_COUNT_BYTES), "little", signed=True)
            dtype = storages[key]
            raw = file.read(count * dtype.itemsize)
            if len(raw) != count * dtype.itemsize:
                raise ValueError(f"{os.fspath(path)!r} is truncated (storage {key!r}).")
            data[key] = np.frombuffer(raw, dtype=dtype)
    if not isinstance(state, dict):
        raise ValueError(f"{os.fspath(path)!r} holds a {type(state).__name__}, not a state dict.")
    arrays = {}
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            raise ValueError(f"State dict entry {name!r} is not a tensor.")
        storage = data[ref.key]
        if not ref.size:  # a scalar (as_strided would not drop the storage's dimension)
            arrays[name] = np.array(storage[ref.offset])
            continue
        itemsize = storage.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            storage[ref.offset :],
            shape=ref.size,
            strides=tuple(s * itemsize for s in ref.stride),
            writeable=False,
        )
        arrays[name] = np.ascontiguousarray(view)
    return arrays
