"""Finds the layers that int8 quantization hurts most, to keep them in float.

`measure_layer_errors` runs LiteRT's quantization debugger
(`tf.lite.experimental.QuantizationDebugger`) on a calibrated model: every quantized op
gets a NumericVerify twin that runs the float op on the same (dequantized) input, so each
layer's own error is measured, not the error accumulated upstream. The error of a layer
is reported in quantization steps, `RMSE / scale`: pure rounding of a well-calibrated
tensor gives `sqrt(1 / 12) ~ 0.29`; layers far above that (clipped ranges, outliers that
stretch the scale, ops that amplify rounding) are the candidates to keep in float
(`denylisted_nodes` of the quantizer).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import convert as tflite_convert

# A layer whose RMSE is this many quantization steps or more is kept in float by
# `float_fallback="auto"`: 3.5x the pure rounding error (0.29) leaves every
# well-behaved layer quantized.
DEFAULT_ERROR_RATIO_THRESHOLD = 1.0


@dataclasses.dataclass(frozen=True)
class QuantizationLayerError:
    """The measured int8 error of one layer.

    Attributes:
        tensor_name: the layer's output tensor (what `denylisted_nodes` takes).
        op_type: the op's type, e.g. "CONV_2D".
        rmse: root mean squared difference between the float and the int8 output.
        scale: the output's quantization step.
        error_ratio: `rmse / scale`, the error in quantization steps.
    """

    tensor_name: str
    op_type: str
    rmse: float
    scale: float
    error_ratio: float

    def __str__(self) -> str:
        return (
            f"{self.op_type} {self.tensor_name}: rmse {self.rmse:.4g} = "
            f"{self.error_ratio:.2f} steps of {self.scale:.4g}"
        )


def measure_layer_errors(
    calibrated_model: bytes, images: Sequence[np.ndarray]
) -> list[QuantizationLayerError]:
    """Per-layer int8 errors of a calibrated model, worst first.

    Args:
        calibrated_model: a float `.tflite` with calibration statistics (what
            `TFLiteConverter` returns with `_experimental_calibrate_only`).
        images: float32 `[1, H, W, 3]` inputs (letterboxed calibration images).

    Returns:
        One `QuantizationLayerError` per quantized layer, sorted by `error_ratio`
        (largest first).
    """
    debug_model = tflite_convert.mlir_quantize(calibrated_model, enable_numeric_verify=True)
    debugger = tf.lite.experimental.QuantizationDebugger(
        quant_debug_model_content=debug_model,
        debug_dataset=lambda: ([np.asarray(image, np.float32)] for image in images),
    )
    debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    dump.seek(0)
    errors = []
    for row in csv.DictReader(dump):
        scale = float(row["scale"])
        rmse = math.sqrt(max(float(row["mean_squared_error"]), 0.0))
        if not scale > 0 or not math.isfinite(rmse):
            continue
        errors.append(
            QuantizationLayerError(
                tensor_name=row["tensor_name"],
                op_type=row["op_name"],
                rmse=rmse,
                scale=scale,
                error_ratio=rmse / scale,
            )
        )
    return sorted(errors, key=lambda e: e.error_ratio, reverse=True)
