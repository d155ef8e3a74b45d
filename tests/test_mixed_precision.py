"""Choosing the dtype policy from the hardware."""

import keras
import pytest

from keras_retinanet.training.mixed_precision import (
    cpu_flags,
    cpu_supports_bf16,
    global_precision,
    resolve_precision,
    set_global_precision,
)

CPUINFO_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
flags\t\t: fpu
"""
CPUINFO_AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"


@pytest.fixture
def cpuinfo(tmp_path):
    def write(text):
        path = tmp_path / f"cpuinfo_{abs(hash(text))}"
        path.write_text(text)
        return str(path)

    return write


def test_cpu_flags_are_read_from_the_first_processor(cpuinfo):
    flags = cpu_flags(cpuinfo(CPUINFO_AMX))
    assert {"amx_bf16", "avx512_bf16", "avx2"} <= flags
    assert cpu_supports_bf16(cpuinfo(CPUINFO_AMX))
    assert not cpu_supports_bf16(cpuinfo(CPUINFO_AVX2))
    assert cpu_flags("/nonexistent/cpuinfo") == frozenset()


def test_auto_resolution(cpuinfo):
    amx, avx2 = cpuinfo(CPUINFO_AMX), cpuinfo(CPUINFO_AVX2)
    # CPU only: bf16 with AMX / AVX512-BF16, else float32.
    assert resolve_precision("auto", "default", amx, gpu_capabilities=[]) == "mixed_bfloat16"
    assert resolve_precision("auto", "default", avx2, gpu_capabilities=[]) == "float32"
    # GPUs decide when present: all >= 8.0 -> bf16; any older one -> float32.
    assert resolve_precision("auto", "mirrored", avx2, [(8, 0), (9, 0)]) == "mixed_bfloat16"
    assert resolve_precision("auto", "mirrored", amx, [(8, 6), (7, 5)]) == "float32"
    # TPUs always run bf16.
    assert resolve_precision("auto", "tpu", avx2, []) == "mixed_bfloat16"
    # Explicit choices pass through.
    assert resolve_precision("float32", "tpu", amx, []) == "float32"
    assert resolve_precision("mixed_float16", "default", avx2, []) == "mixed_float16"
    with pytest.raises(ValueError, match="Unknown precision"):
        resolve_precision("bf16", "default")


def test_set_global_precision_changes_new_layers_only_when_called():
    before = global_precision()
    try:
        set_global_precision("mixed_bfloat16")
        assert global_precision() == "mixed_bfloat16"
        layer = keras.layers.Dense(2)
        assert (layer.compute_dtype, layer.variable_dtype) == ("bfloat16", "float32")
    finally:
        set_global_precision(before)
    assert keras.layers.Dense(2).compute_dtype == "float32"
