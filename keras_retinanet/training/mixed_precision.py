"""Choosing the Keras dtype policy: mixed_bfloat16 where the hardware runs bf16 well.

`resolve_precision("auto", strategy)` picks:

* `mixed_bfloat16` on TPUs;
* on GPUs: `mixed_bfloat16` when every visible GPU has compute capability >= 8.0 (Ampere and
  newer have bf16 tensor cores), else `float32`;
* on CPUs: `mixed_bfloat16` when `/proc/cpuinfo` lists AMX-BF16 or AVX512-BF16 (on such a
  CPU a bf16 3x3 conv runs ~7x faster than fp32), else `float32`.

The policy is process-global Keras state: only entry points (`main()` of a recipe or CLI)
call `set_global_precision`; library builders never do, and `train()` only checks that the
active policy is the one its config asks for.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf

PRECISION_AUTO = "auto"
PRECISION_FLOAT32 = "float32"
PRECISION_MIXED_BFLOAT16 = "mixed_bfloat16"
PRECISION_MIXED_FLOAT16 = "mixed_float16"
PRECISIONS = (
    PRECISION_AUTO,
    PRECISION_FLOAT32,
    PRECISION_MIXED_BFLOAT16,
    PRECISION_MIXED_FLOAT16,
)

CPUINFO_PATH = "/proc/cpuinfo"
# CPU feature flags (as /proc/cpuinfo spells them) with fast bf16 matrix instructions.
CPU_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
# Ampere (8.0) is the first NVIDIA architecture with bf16 tensor cores.
MIN_BF16_COMPUTE_CAPABILITY = (8, 0)
# Strategy name (see `distribution_strategy`) whose devices are TPUs.
_TPU_STRATEGY = "tpu"


def cpu_flags(cpuinfo_path: str = CPUINFO_PATH) -> frozenset[str]:
    """The feature flags of the first CPU in `cpuinfo_path` (empty if it is unreadable).

    Args:
        cpuinfo_path: a file in the format of Linux's /proc/cpuinfo.

    Returns:
        The words of its first "flags" line.
    """
    if not os.path.exists(cpuinfo_path):
        return frozenset()
    with open(cpuinfo_path, encoding="utf-8", errors="replace") as file:
        for line in file:
            key, _, value = line.partition(":")
            if key.strip() == "flags":
                return frozenset(value.split())
    return frozenset()


def cpu_supports_bf16(cpuinfo_path: str = CPUINFO_PATH) -> bool:
    """Whether the CPU has AMX-BF16 or AVX512-BF16 (see `CPU_BF16_FLAGS`)."""
    return bool(cpu_flags(cpuinfo_path) & CPU_BF16_FLAGS)


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """`(major, minor)` compute capability of each visible GPU (empty without GPUs)."""
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        capabilities.append(tuple(capability) if capability else (0, 0))
    return capabilities


def resolve_precision(
    precision: str,
    strategy_name: str,
    cpuinfo_path: str = CPUINFO_PATH,
    gpu_capabilities: list[tuple[int, int]] | None = None,
) -> str:
    """The dtype policy name for a `RuntimeConfig.precision` value.

    Args:
        precision: one of `PRECISIONS`; anything but "auto" is returned unchanged.
        strategy_name: the `RuntimeConfig.strategy` ("tpu" means TPU devices).
        cpuinfo_path: where to read CPU flags when there is no accelerator.
        gpu_capabilities: compute capabilities of the GPUs; None queries TensorFlow.

    Returns:
        "float32", "mixed_bfloat16" or "mixed_float16".
    """
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose one of {PRECISIONS}.")
    if precision != PRECISION_AUTO:
        return precision
    if strategy_name == _TPU_STRATEGY:
        return PRECISION_MIXED_BFLOAT16
    if gpu_capabilities is None:
        gpu_capabilities = gpu_compute_capabilities()
    if gpu_capabilities:
        if all(cap >= MIN_BF16_COMPUTE_CAPABILITY for cap in gpu_capabilities):
            return PRECISION_MIXED_BFLOAT16
        return PRECISION_FLOAT32
    return PRECISION_MIXED_BFLOAT16 if cpu_supports_bf16(cpuinfo_path) else PRECISION_FLOAT32


def set_global_precision(policy_name: str) -> None:
    """Sets the global Keras dtype policy. Call it from entry points only, before any model."""
    keras.mixed_precision.set_global_policy(policy_name)


def global_precision() -> str:
    """The name of the active global Keras dtype policy."""
    return keras.mixed_precision.global_policy().name
