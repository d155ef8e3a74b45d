"""Checks whether an int8 `.tflite` can run on a Coral Edge TPU, without the compiler.

The Edge TPU compiler (`edgetpu_compiler`, x86-64 Linux only) maps a prefix of the graph
to the accelerator and leaves everything from the first op it cannot map onwards on the
CPU. A detector therefore runs fully accelerated only when every op before
`TFLite_Detection_PostProcess` (which always runs on the CPU) maps. An op maps when
(Coral, "TensorFlow models on the Edge TPU", requirements and supported operations):

* its type is in `EDGETPU_SUPPORTED_OPS`;
* its activations are 8-bit (int8 / uint8);
* its tensor sizes are static (known at compile time);
* its activation tensors have at most 3 dimensions larger than 1, and those are the
  innermost ones ("if a tensor has more than 3 dimensions, only the 3 innermost may
  have a size greater than 1").

The DEQUANTIZE ops that only feed the post-process op belong to its CPU tail (they turn
the int8 head outputs into the float inputs the op takes) and are not counted among the
ops that must map. When `edgetpu_compiler` is on the PATH, it is also run and its log kept.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile

from keras_retinanet.export.detection_postprocess import POSTPROCESS_OP_NAME
from keras_retinanet.export.tflite_graph import OpInfo, TensorInfo, read_tflite_graph

# TFLite builtin op names the Edge TPU supports. Source: Coral documentation, "TensorFlow
# models on the Edge TPU" (coral.ai/docs/edgetpu/models-intro/, section "Supported
# operations", Edge TPU compiler 16), also reproduced in Axis' ARTPEC-7 (Edge TPU)
# supported-ops page. Some ops carry extra limits there (e.g. Concatenation without fused
# activation, ResizeBilinear on 3-D tensors, Mean/Pad/Pack not on the batch dimension)
# that this name-level check does not model; the compiler has the final word.
EDGETPU_SUPPORTED_OPS = frozenset(
    {
        "ADD",
        "AVERAGE_POOL_2D",
        "CONCATENATION",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "EXPAND_DIMS",
        "FULLY_CONNECTED",
        "L2_NORMALIZATION",
        "LOGISTIC",
        "LSTM",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "MAXIMUM",
        "MAX_POOL_2D",
        "MEAN",
        "MINIMUM",
        "MUL",
        "PACK",
        "PAD",
        "PRELU",
        "QUANTIZE",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "RSQRT",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "SPLIT",
        "SQUARED_DIFFERENCE",
        "SQUEEZE",
        "STRIDED_SLICE",
        "SUB",
        "SUM",
        "TANH",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
    }
)
# At most this many innermost dimensions of an activation tensor may exceed 1.
MAX_NON_UNIT_INNER_DIMS = 3
EIGHT_BIT_DTYPES = ("int8", "uint8")
# Integer tensors that are not activations (shapes, axes, biases) are always allowed.
_INDEX_DTYPES = ("int32", "int64")
DEQUANTIZE = "DEQUANTIZE"
EDGETPU_COMPILER = "edgetpu_compiler"
# Seconds the compiler may run.
COMPILER_TIMEOUT_S = 600


@dataclasses.dataclass(frozen=True)
class OpIssue:
    """Why one op cannot map to the Edge TPU.

    Attributes:
        index: the op's position in the graph.
        op_type: its type.
        reasons: what is wrong ("not supported", "float32 activations", ...).
    """

    index: int
    op_type: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"#{self.index} {self.op_type}: {'; '.join(self.reasons)}"


@dataclasses.dataclass(frozen=True)
class EdgeTpuReadiness:
    """The result of `check_edgetpu_readiness`.

    Attributes:
        ops: every op, in execution order.
        num_ops: `len(ops)`.
        non_int8_ops: ops with a non-8-bit activation input or output (the CPU tail
            included), as `OpIssue`s.
        dynamic_tensors: names of tensors whose shape is only known at run time.
        high_rank_tensors: activation tensors with a dimension > 1 outside the 3
            innermost (name and shape).
        unsupported_ops: ops whose type is not in `EDGETPU_SUPPORTED_OPS` (the CPU tail
            included).
        postprocess_index: position of the post-process op (None when absent).
        postprocess_is_last: it is the last op of the graph.
        cpu_tail: ops that run on the CPU by design: the post-process op and the
            DEQUANTIZE ops that only feed it.
        blocking_issues: ops before the post-process op (CPU tail excepted) that would
            not map, in graph order; the first one ends the Edge TPU part of the graph.
        compiler_log: output of `edgetpu_compiler` when it ran, else None.
    """

    ops: tuple[OpInfo, ...]
    num_ops: int
    non_int8_ops: tuple[OpIssue, ...]
    dynamic_tensors: tuple[str, ...]
    high_rank_tensors: tuple[str, ...]
    unsupported_ops: tuple[OpIssue, ...]
    postprocess_index: int | None
    postprocess_is_last: bool
    cpu_tail: tuple[str, ...]
    blocking_issues: tuple[OpIssue, ...]
    compiler_log: str | None

    @property
    def num_ops_to_map(self) -> int:
        """Ops before the post-process op that must run on the Edge TPU."""
        return self.num_ops - len(self.cpu_tail)

    @property
    def ready(self) -> bool:
        """Every op before the post-process op maps, and the post-process op is last."""
        return self.postprocess_is_last and not self.blocking_issues

    def verdict(self) -> list[str]:
        """The conclusion: all ops map, or which ones would not (first one first)."""
        if self.ready:
            return [f"all {self.num_ops_to_map} ops before the post-process op map"]
        if not self.postprocess_is_last:
            where = "missing" if self.postprocess_index is None else "not the last op"
            head = [f"the {POSTPROCESS_OP_NAME} op is {where}"]
        else:
            head = []
        return [
            *head,
            f"{len(self.blocking_issues)} of the {self.num_ops_to_map} ops before the "
            "post-process op would not map; the Edge TPU part would end at the first:",
            *(f"  {issue}" for issue in self.blocking_issues),
        ]

    def report(self) -> str:
        """A human-readable report: every op with its dtypes, then the verdict."""
        lines = [f"{self.num_ops} ops:"]
        for op in self.ops:
            inputs, outputs = op.io_dtypes()
            lines.append(
                f"  #{op.index:3d} {op.op_type:28s} in {list(inputs)} -> out {list(outputs)}"
            )
        lines.append(f"not int8: {len(self.non_int8_ops)} op(s)")
        lines.extend(f"  {issue}" for issue in self.non_int8_ops)
        lines.append(f"dynamic shapes: {list(self.dynamic_tensors) or 'none'}")
        lines.append(
            f"tensors with a non-unit dimension outside the {MAX_NON_UNIT_INNER_DIMS} innermost: "
            f"{list(self.high_rank_tensors) or 'none'}"
        )
        lines.append(f"ops outside the Edge TPU list: {len(self.unsupported_ops)}")
        lines.extend(f"  {issue}" for issue in self.unsupported_ops)
        if self.postprocess_index is None:
            lines.append(f"no {POSTPROCESS_OP_NAME} op")
        else:
            where = "last" if self.postprocess_is_last else "NOT last"
            lines.append(f"{POSTPROCESS_OP_NAME} is op #{self.postprocess_index} ({where})")
        lines.append(f"CPU tail: {list(self.cpu_tail)}")
        lines.extend(self.verdict())
        if self.compiler_log is not None:
            lines.append("edgetpu_compiler:")
            lines.append(self.compiler_log)
        else:
            lines.append(f"{EDGETPU_COMPILER} not on PATH: not compiled")
        return "\n".join(lines)


def check_edgetpu_readiness(
    model: bytes | str | os.PathLike, run_compiler: bool = True
) -> EdgeTpuReadiness:
    """Reads a `.tflite` and says which ops would keep it off the Edge TPU.

    Args:
        model: the flatbuffer bytes or the path of a `.tflite` file.
        run_compiler: also run `edgetpu_compiler` when it is on the PATH.

    Returns:
        An `EdgeTpuReadiness`.
    """
    graph = read_tflite_graph(model)
    ops = graph.ops
    postprocess = [op.index for op in ops if op.op_type == POSTPROCESS_OP_NAME]
    postprocess_index = postprocess[0] if postprocess else None
    tail = _cpu_tail(ops, postprocess_index)

    non_int8, unsupported, blocking = [], [], []
    dynamic: dict[str, None] = {}
    high_rank: dict[str, None] = {}
    for op in ops:
        activations = [t for t in (*op.inputs, *op.outputs) if not t.is_constant]
        reasons = []
        if op.op_type not in EDGETPU_SUPPORTED_OPS:
            reasons.append("op not supported by the Edge TPU")
            unsupported.append(OpIssue(op.index, op.op_type, (reasons[-1],)))
        wrong_types = sorted(
            {t.dtype for t in activations if t.dtype not in (*EIGHT_BIT_DTYPES, *_INDEX_DTYPES)}
        )
        if wrong_types:
            reasons.append(f"{'/'.join(wrong_types)} activations")
            non_int8.append(OpIssue(op.index, op.op_type, (reasons[-1],)))
        for tensor in activations:
            if tensor.is_dynamic:
                dynamic.setdefault(tensor.name)
                reasons.append(f"dynamic shape {list(tensor.shape_signature)}")
            if _outer_dims_too_large(tensor):
                high_rank.setdefault(f"{tensor.name} {list(tensor.shape)}")
                reasons.append(f"non-unit outer dimension {list(tensor.shape)}")
        if reasons and op.index not in tail:
            blocking.append(OpIssue(op.index, op.op_type, tuple(dict.fromkeys(reasons))))

    compiler_log = None
    if run_compiler and shutil.which(EDGETPU_COMPILER):
        compiler_log = _run_compiler(model)
    return EdgeTpuReadiness(
        ops=ops,
        num_ops=len(ops),
        non_int8_ops=tuple(non_int8),
        dynamic_tensors=tuple(dynamic),
        high_rank_tensors=tuple(high_rank),
        unsupported_ops=tuple(unsupported),
        postprocess_index=postprocess_index,
        postprocess_is_last=postprocess_index is not None and postprocess_index == len(ops) - 1,
        cpu_tail=tuple(ops[i].op_type for i in sorted(tail)),
        blocking_issues=tuple(blocking),
        compiler_log=compiler_log,
    )


def _cpu_tail(ops: tuple[OpInfo, ...], postprocess_index: int | None) -> set[int]:
    """The post-process op and the DEQUANTIZE ops whose outputs only feed it."""
    if postprocess_index is None:
        return set()
    postprocess = ops[postprocess_index]
    feeding = {t.index for t in postprocess.inputs}
    tail = {postprocess_index}
    for op in ops:
        if op.op_type != DEQUANTIZE or not all(t.index in feeding for t in op.outputs):
            continue
        consumers = [
            other.index
            for other in ops
            if any(t.index in {o.index for o in op.outputs} for t in other.inputs)
        ]
        if consumers == [postprocess_index]:
            tail.add(op.index)
    return tail


def _outer_dims_too_large(tensor: TensorInfo) -> bool:
    outer = tensor.shape[: max(len(tensor.shape) - MAX_NON_UNIT_INNER_DIMS, 0)]
    return any(d > 1 for d in outer)


def _run_compiler(model: bytes | str | os.PathLike) -> str:
    with tempfile.TemporaryDirectory(prefix="edgetpu_") as directory:
        if isinstance(model, (bytes, bytearray)):
            path = os.path.join(directory, "model.tflite")
            with open(path, "wb") as file:
                file.write(model)
        else:
            path = os.fspath(model)
        result = subprocess.run(
            [EDGETPU_COMPILER, "--show_operations", "--out_dir", directory, path],
            capture_output=True,
            text=True,
            timeout=COMPILER_TIMEOUT_S,
            check=False,
        )
        return (result.stdout + result.stderr).strip()
