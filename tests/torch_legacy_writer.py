"""Writes the legacy torch serialization by hand (no torch), for the weight-reader tests.

Opcodes of pickle protocol 2 spelled out: GLOBAL `c`, MARK `(`, TUPLE `t`, EMPTY_TUPLE `)`,
REDUCE `R`, BINPERSID `Q`, SETITEMS `u`, BININT `J`, BINUNICODE `X`, NEWFALSE, STOP `.`.
"""

from __future__ import annotations

import pickle
import struct

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
_STORAGE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage"}


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _str(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


_EMPTY_ORDERED_DICT = _global("collections", "OrderedDict") + b")R"
_FALSE = b"\x89"


def write_legacy_state_dict(path, tensors: dict[str, tuple[str, int, tuple, tuple]], storages):
    """Writes a state dict whose tensors are views on storages.

    Args:
        path: output file.
        tensors: `{name: (storage key, offset, size, stride)}` (elements).
        storages: `{key: 1-D array}` (float32 or int64), written in this order.
    """
    body = b"\x80\x02" + _EMPTY_ORDERED_DICT + b"("
    for name, (key, offset, size, stride) in tensors.items():
        array = storages[key]
        persistent_id = _tuple(
            [
                _str("storage"),
                _global("torch", _STORAGE_NAMES[array.dtype]),
                _str(key),
                _str("cpu"),
                _int(array.size),
            ]
        )
        body += _str(name) + _global("torch._utils", "_rebuild_tensor_v2")
        body += _tuple(
            [
                persistent_id + b"Q",
                _int(offset),
                _tuple([_int(s) for s in size]),
                _tuple([_int(s) for s in stride]),
                _FALSE,
                _EMPTY_ORDERED_DICT,
            ]
        )
        body += b"R"
    body += b"u."
    with open(path, "wb") as file:
        file.write(pickle.dumps(MAGIC_NUMBER, protocol=2))
        file.write(pickle.dumps(PROTOCOL_VERSION, protocol=2))
        file.write(
            pickle.dumps(
                {"protocol_version": PROTOCOL_VERSION, "little_endian": True, "type_sizes": {}},
                protocol=2,
            )
        )
        file.write(body)
        file.write(pickle.dumps(list(storages), protocol=2))
        for array in storages.values():
            file.write(struct.pack("<q", array.size))
            file.write(array.astype(array.dtype.newbyteorder("<")).tobytes())


def write_contiguous_state_dict(path, arrays: dict[str, np.ndarray]) -> None:
    """Writes `{name: array}` with one contiguous storage per tensor."""
    tensors, storages = {}, {}
    for index, (name, array) in enumerate(arrays.items()):
        key = str(index)
        strides = tuple(s // array.itemsize for s in np.ascontiguousarray(array).strides)
        tensors[name] = (key, 0, array.shape, strides)
        storages[key] = np.ascontiguousarray(array).reshape(-1)
    write_legacy_state_dict(path, tensors, storages)
