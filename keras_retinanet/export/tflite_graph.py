"""Reads the op graph of a `.tflite` flatbuffer: ops, their tensors, dtypes and shapes.

Uses the flatbuffer schema that ships with TensorFlow
(`tensorflow.lite.python.schema_py_generated`) and its object API, so it needs no
interpreter and sees the graph exactly as written (before any delegate rewrites it).
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter

import numpy as np
from flatbuffers import flexbuffers
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

# Name the op summaries use for a builtin op code (`schema.BuiltinOperator.CONV_2D` -> ...).
_BUILTIN_NAMES = {
    value: name
    for name, value in vars(schema.BuiltinOperator).items()
    if not name.startswith("_") and isinstance(value, int)
}
_TENSOR_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(schema.TensorType).items()
    if not name.startswith("_") and isinstance(value, int)
}
# The builtin code of every custom op; its name is `OperatorCode.customCode`.
_CUSTOM_CODE = schema.BuiltinOperator.CUSTOM
# An optional input that is absent is written as tensor index -1.
_ABSENT_TENSOR = -1


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One tensor of the main subgraph.

    Attributes:
        index: index in the subgraph's tensor list.
        name: tensor name.
        dtype: lower-case TFLite type name ("float32", "int8", "uint8", "int32", ...).
        shape: static shape (what the interpreter allocates).
        shape_signature: shape with -1 for dynamic dimensions (equals `shape` when static).
        is_constant: the tensor has a data buffer (weights, biases, anchors).
        scale: quantization scales (empty when not quantized).
        zero_point: quantization zero points.
    """

    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    is_constant: bool
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()

    @property
    def is_dynamic(self) -> bool:
        """Some dimension is only known at run time (-1 in the shape signature)."""
        return any(d < 0 for d in self.shape_signature)

    @property
    def num_non_unit_dims(self) -> int:
        """Number of dimensions larger than 1."""
        return sum(1 for d in self.shape if d != 1)


@dataclasses.dataclass(frozen=True)
class OpInfo:
    """One op of the main subgraph, in execution order.

    Attributes:
        index: position in the subgraph's operator list (execution order).
        op_type: builtin name (e.g. "CONV_2D") or the custom code of a custom op.
        is_custom: a custom op (e.g. "TFLite_Detection_PostProcess").
        inputs: input tensors (absent optional inputs left out).
        outputs: output tensors.
    """

    index: int
    op_type: str
    is_custom: bool
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    @property
    def activation_inputs(self) -> tuple[TensorInfo, ...]:
        """Non-constant inputs (the activations flowing into the op)."""
        return tuple(t for t in self.inputs if not t.is_constant)

    def io_dtypes(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(input dtypes, output dtypes)."""
        return tuple(t.dtype for t in self.inputs), tuple(t.dtype for t in self.outputs)


@dataclasses.dataclass(frozen=True)
class TFLiteGraph:
    """The main subgraph of a model: its ops, inputs, outputs and signatures.

    Attributes:
        ops: ops in execution order.
        inputs: graph input tensors, in the subgraph's order.
        outputs: graph output tensors, in the subgraph's order.
        signatures: `{signature key: {"inputs": {name: tensor index}, "outputs": {...}}}`.
        num_subgraphs: subgraphs in the model (control flow adds subgraphs).
    """

    ops: tuple[OpInfo, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    signatures: dict[str, dict[str, dict[str, int]]]
    num_subgraphs: int

    def op_counts(self) -> dict[str, int]:
        """`{op type: count}`, most frequent first."""
        return dict(Counter(op.op_type for op in self.ops).most_common())


def read_tflite_graph(model: bytes | str | os.PathLike) -> TFLiteGraph:
    """Parses the main subgraph (subgraph 0) of a `.tflite` model.

    Args:
        model: the flatbuffer bytes, or the path of a `.tflite` file.

    Returns:
        A `TFLiteGraph`.
    """
    model_object = _load(model)
    subgraph = model_object.subgraphs[0]
    buffers = model_object.buffers
    tensors = [_tensor_info(i, t, buffers) for i, t in enumerate(subgraph.tensors)]
    ops = []
    for index, operator in enumerate(subgraph.operators or []):
        op_type, is_custom = op_code_name(model_object.operatorCodes[operator.opcodeIndex])
        ops.append(
            OpInfo(
                index=index,
                op_type=op_type,
                is_custom=is_custom,
                inputs=_tensors_at(tensors, operator.inputs),
                outputs=_tensors_at(tensors, operator.outputs),
            )
        )
    signatures = {}
    for signature in model_object.signatureDefs or []:
        signatures[_text(signature.signatureKey)] = {
            "inputs": {_text(m.name): int(m.tensorIndex) for m in signature.inputs or ()},
            "outputs": {_text(m.name): int(m.tensorIndex) for m in signature.outputs or ()},
        }
    return TFLiteGraph(
        ops=tuple(ops),
        inputs=_tensors_at(tensors, subgraph.inputs),
        outputs=_tensors_at(tensors, subgraph.outputs),
        signatures=signatures,
        num_subgraphs=len(model_object.subgraphs),
    )


def read_op_codes(model: bytes | str | os.PathLike) -> tuple[str, ...]:
    """The op types a model declares (its operator-code table), read without copying it.

    Cheap even for large models: only the flatbuffer's operator codes are touched.

    Args:
        model: the flatbuffer bytes, or the path of a `.tflite` file.

    Returns:
        Builtin names ("CONV_2D") and custom codes ("TFLite_Detection_PostProcess").
    """
    content = _read_bytes(model)
    root = schema.Model.GetRootAs(content, 0)
    names = []
    for index in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(index)
        builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
        if builtin == _CUSTOM_CODE:
            names.append(_text(code.CustomCode()))
        else:
            names.append(_BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}"))
    return tuple(names)


def read_custom_options(model: bytes | str | os.PathLike, op_type: str) -> dict | None:
    """The attributes of the first custom op `op_type`, read without copying the model.

    Args:
        model: the flatbuffer bytes, or the path of a `.tflite` file.
        op_type: the custom code, e.g. "TFLite_Detection_PostProcess".

    Returns:
        The op's flexbuffer options as a dict (e.g. `{"use_regular_nms": True, ...}`),
        `{}` when it has none, None when the model has no such op.
    """
    content = _read_bytes(model)
    codes = read_op_codes(content)
    if op_type not in codes:
        return None
    subgraph = schema.Model.GetRootAs(content, 0).Subgraphs(0)
    for index in range(subgraph.OperatorsLength()):
        operator = subgraph.Operators(index)
        if codes[operator.OpcodeIndex()] != op_type:
            continue
        if operator.CustomOptionsLength() == 0:
            return {}
        return dict(flexbuffers.Loads(bytes(operator.CustomOptionsAsNumpy())))
    return None


def set_custom_options(model: bytes, op_type: str, options: dict) -> bytes:
    """Rewrites the flexbuffer options of every custom op `op_type`.

    Args:
        model: flatbuffer bytes.
        op_type: the custom code, e.g. "TFLite_Detection_PostProcess".
        options: the complete new options (`{"max_detections": 100, ...}`); Python bools,
            ints and floats keep their flexbuffer types.

    Returns:
        The rewritten flatbuffer bytes.

    Raises:
        ValueError: the model has no such op.
    """
    model_object = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    encoded = np.frombuffer(flexbuffers.Dumps(dict(options)), np.uint8)
    found = False
    for operator in model_object.subgraphs[0].operators:
        name, is_custom = op_code_name(model_object.operatorCodes[operator.opcodeIndex])
        if is_custom and name == op_type:
            operator.customOptions = encoded
            found = True
    if not found:
        raise ValueError(f"The model has no {op_type!r} op.")
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model_object))


def rewrite_io(
    model: bytes,
    input_names: dict[int, str],
    output_order: list[int],
    output_names: dict[int, str],
) -> bytes:
    """Renames graph input/output tensors and reorders the graph outputs.

    Signature maps refer to tensor indices, so they stay valid.

    Args:
        model: flatbuffer bytes.
        input_names: `{tensor index: new name}` for graph inputs.
        output_order: tensor indices of the graph outputs in the wanted order (a
            permutation of the current outputs).
        output_names: `{tensor index: new name}` for graph outputs.

    Returns:
        The rewritten flatbuffer bytes.
    """
    model_object = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    subgraph = model_object.subgraphs[0]
    current = sorted(int(i) for i in subgraph.outputs)
    if sorted(output_order) != current:
        raise ValueError(f"output_order {output_order} is not a permutation of {current}.")
    subgraph.outputs = np.asarray(output_order, dtype=np.int32)
    for index, name in {**input_names, **output_names}.items():
        subgraph.tensors[index].name = name.encode("utf-8")
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model_object))


def _load(model: bytes | str | os.PathLike) -> schema.ModelT:
    return flatbuffer_utils.convert_bytearray_to_object(_read_bytes(model))


def _read_bytes(model: bytes | str | os.PathLike) -> bytearray:
    if isinstance(model, (bytes, bytearray)):
        return bytearray(model)
    with open(model, "rb") as file:
        return bytearray(file.read())


def op_code_name(op_code: schema.OperatorCodeT) -> tuple[str, bool]:
    """`(name, is_custom)` of an operator code: "CONV_2D" or the custom code."""
    # Old files only set the deprecated field, new ones set both (the deprecated one
    # saturated for codes above 127): the larger value is the real code.
    code = max(int(op_code.builtinCode), int(op_code.deprecatedBuiltinCode))
    if code == _CUSTOM_CODE:
        return _text(op_code.customCode), True
    return _BUILTIN_NAMES.get(code, f"BUILTIN_{code}"), False


def _tensor_info(index: int, tensor: schema.TensorT, buffers) -> TensorInfo:
    shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else []))
    signature = (
        tuple(int(d) for d in tensor.shapeSignature)
        if tensor.shapeSignature is not None and len(tensor.shapeSignature)
        else shape
    )
    buffer = buffers[tensor.buffer] if 0 <= tensor.buffer < len(buffers) else None
    is_constant = buffer is not None and (
        (buffer.data is not None and len(buffer.data) > 0) or int(buffer.size or 0) > 0
    )
    quantization = tensor.quantization
    scale = zero_point = ()
    if quantization is not None and quantization.scale is not None:
        scale = tuple(float(s) for s in quantization.scale)
        zero_point = tuple(
            int(z) for z in (quantization.zeroPoint if quantization.zeroPoint is not None else [])
        )
    return TensorInfo(
        index=index,
        name=_text(tensor.name),
        dtype=_TENSOR_TYPE_NAMES.get(int(tensor.type), f"type_{tensor.type}"),
        shape=shape,
        shape_signature=signature,
        is_constant=is_constant,
        scale=scale,
        zero_point=zero_point,
    )


def _tensors_at(tensors: list[TensorInfo], indices) -> tuple[TensorInfo, ...]:
    if indices is None:
        return ()
    return tuple(tensors[int(i)] for i in indices if int(i) != _ABSENT_TENSOR)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8")
    return str(value)
