"""Quantized ops that LiteRT's default delegate (XNNPACK) refuses, found and fixed at export.

LiteRT applies the XNNPACK delegate by default (Python, Android, iOS). XNNPACK's quantized
operators have limits that the builtin kernels do not, and when a graph breaks one,
`allocate_tensors()` fails ("failed to create XNNPACK runtime ... failed to prepare") and
an app crashes at load. The public limits (XNNPACK `src/operators/*.c`) that matter for a
detector:

* CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and FULLY_CONNECTED: the requantization scale
  `input_scale * weight_scale[c] / output_scale` must be below 256 for every output
  channel c;
* ADD and SUB: each `input_scale / output_scale` must lie in [2^-10, 2^8).

After a short fine-tuning, a ReLU layer whose outputs are almost always zero gets an almost
empty calibration range, hence a tiny output scale, and its convolution's requantization
scale reaches thousands (seen: 182 to 37,365 on four classification-subnet convolutions).
`raise_output_scales` puts a floor on such an activation range relative to its inputs:
it raises the output scale until the ratio is `TARGET_REQUANTIZATION_SCALE`, which only
coarsens the resolution of a range that calibration saw as (almost) empty. Every consumer
of the tensor reads the new scale from the file, so the graph stays consistent; consumers
that copy bytes and need their output to share the input's quantization (RESHAPE, PAD,
MAX_POOL_2D, ...) get the same scale on their output, and the pass runs in execution
order so a raised scale propagates downstream. What cannot be fixed this way is reported
(`XnnpackIssue`) and the export fails naming the layers.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from keras_retinanet.export.tflite_graph import op_code_name

# XNNPACK refuses requantization scales >= this (convolutions, fully connected).
MAX_REQUANTIZATION_SCALE = 256.0
# What a raised output scale aims for: below the limit with a margin for float rounding.
TARGET_REQUANTIZATION_SCALE = 250.0
# ADD / SUB: each input-to-output scale ratio must lie in [2^-10, 2^8).
MIN_ADD_SCALE_RATIO = 2.0**-10
MAX_ADD_SCALE_RATIO = 2.0**8

_CONVOLUTIONS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
_ADDITIONS = ("ADD", "SUB")
# Quantized ops whose output must share the quantization of their (first) input.
_SAME_SCALE_OPS = (
    "RESHAPE",
    "SQUEEZE",
    "EXPAND_DIMS",
    "PAD",
    "PADV2",
    "MAX_POOL_2D",
    "STRIDED_SLICE",
    "SLICE",
    "GATHER",
    "TRANSPOSE",
    "RESIZE_NEAREST_NEIGHBOR",
    "SPACE_TO_DEPTH",
    "DEPTH_TO_SPACE",
)
_QUANTIZED_TYPES = (schema.TensorType.INT8, schema.TensorType.UINT8)


@dataclasses.dataclass(frozen=True)
class XnnpackIssue:
    """One quantized op that XNNPACK would refuse.

    Attributes:
        op_index: index of the op in the main subgraph (execution order).
        op_type: "CONV_2D", "ADD", ...
        output_name: the op's output tensor (the layer's name in the converted graph).
        ratio: the offending scale ratio (requantization scale, or input/output ratio).
        limit: the bound it breaks, as text ("< 256").
    """

    op_index: int
    op_type: str
    output_name: str
    ratio: float
    limit: str

    def __str__(self) -> str:
        return (
            f"#{self.op_index} {self.op_type} {self.output_name}: scale ratio {self.ratio:.4g} "
            f"(XNNPACK needs {self.limit})"
        )


def find_xnnpack_issues(model: bytes) -> list[XnnpackIssue]:
    """The quantized ops of `model` whose scales break XNNPACK's limits.

    Args:
        model: `.tflite` flatbuffer bytes.

    Returns:
        One `XnnpackIssue` per offending op (empty for float models and for files
        XNNPACK accepts).
    """
    graph = _Graph(flatbuffer_utils.convert_bytearray_to_object(bytearray(model)))
    return [issue for index in range(len(graph.ops)) for issue in graph.issues_of(index)]


def raise_output_scales(model: bytes) -> tuple[bytes, list[XnnpackIssue]]:
    """Raises the output scales that make convolutions / additions break XNNPACK's limits.

    Args:
        model: `.tflite` flatbuffer bytes (without appended metadata archive).

    Returns:
        `(content, fixed)`: the rewritten file and the issues that were fixed (an empty
        list and the unchanged bytes when there was nothing to do). Run
        `find_xnnpack_issues` on the result for what remains.
    """
    model_object = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    graph = _Graph(model_object)
    fixed: list[XnnpackIssue] = []
    for index in range(len(graph.ops)):
        issues = graph.issues_of(index, upper_bounds_only=True)
        if not issues:
            continue
        op = graph.ops[index]
        output = int(op.outputs[0])
        scale = graph.scale(output)
        worst = max(issue.ratio for issue in issues)
        # Both upper bounds are 256 (2^8): one target serves convolutions and additions.
        graph.set_scale(output, scale * worst / TARGET_REQUANTIZATION_SCALE)
        fixed.extend(issues)
    if not fixed:
        return model, []
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model_object)), fixed


class _Graph:
    """The main subgraph with the scale arithmetic of the checks."""

    def __init__(self, model_object: schema.ModelT):
        self._model = model_object
        self._subgraph = model_object.subgraphs[0]
        self.ops = self._subgraph.operators or []
        self._tensors = self._subgraph.tensors

    def op_type(self, index: int) -> str:
        return op_code_name(self._model.operatorCodes[self.ops[index].opcodeIndex])[0]

    def _quantized(self, tensor_index: int) -> bool:
        if tensor_index < 0:
            return False
        tensor = self._tensors[tensor_index]
        quantization = tensor.quantization
        return (
            tensor.type in _QUANTIZED_TYPES
            and quantization is not None
            and quantization.scale is not None
            and len(quantization.scale) > 0
        )

    def scale(self, tensor_index: int) -> float:
        return float(self._tensors[tensor_index].quantization.scale[0])

    def scales(self, tensor_index: int) -> np.ndarray:
        return np.asarray(self._tensors[tensor_index].quantization.scale, np.float64)

    def name(self, tensor_index: int) -> str:
        name = self._tensors[tensor_index].name
        return name.decode("utf-8") if isinstance(name, bytes) else str(name)

    def set_scale(self, tensor_index: int, scale: float) -> None:
        """Sets a per-tensor scale and carries it through byte-copying consumers."""
        self._tensors[tensor_index].quantization.scale = np.asarray([scale], np.float32)
        for index, op in enumerate(self.ops):
            inputs = [int(i) for i in (op.inputs if op.inputs is not None else [])]
            if inputs and inputs[0] == tensor_index and self.op_type(index) in _SAME_SCALE_OPS:
                output = int(op.outputs[0])
                if self._quantized(output):
                    self._tensors[output].quantization.zeroPoint = np.asarray(
                        self._tensors[tensor_index].quantization.zeroPoint, np.int64
                    )
                    self.set_scale(output, scale)

    def issues_of(self, index: int, upper_bounds_only: bool = False) -> list[XnnpackIssue]:
        op = self.ops[index]
        op_type = self.op_type(index)
        inputs = [int(i) for i in (op.inputs if op.inputs is not None else [])]
        outputs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
        if not outputs or not self._quantized(outputs[0]):
            return []
        output_scale = self.scale(outputs[0])
        name = self.name(outputs[0])
        if op_type in _CONVOLUTIONS:
            # TRANSPOSE_CONV's inputs are (output shape, weights, input).
            data, weights = (inputs[2], inputs[1]) if op_type == "TRANSPOSE_CONV" else inputs[:2]
            if not (self._quantized(data) and self._quantized(weights)):
                return []
            ratio = float(np.max(self.scale(data) * self.scales(weights) / output_scale))
            if ratio >= MAX_REQUANTIZATION_SCALE:
                limit = f"< {MAX_REQUANTIZATION_SCALE:g}"
                return [XnnpackIssue(index, op_type, name, ratio, limit)]
            return []
        if op_type in _ADDITIONS:
            issues = []
            for tensor in inputs[:2]:
                if not self._quantized(tensor):
                    continue
                ratio = self.scale(tensor) / output_scale
                too_low = ratio < MIN_ADD_SCALE_RATIO and not upper_bounds_only
                if ratio >= MAX_ADD_SCALE_RATIO or too_low:
                    limit = f"[2^-10, 2^8) = [{MIN_ADD_SCALE_RATIO:g}, {MAX_ADD_SCALE_RATIO:g})"
                    issues.append(XnnpackIssue(index, op_type, name, ratio, limit))
            return issues
        return []
