"""Shared test helpers: quiet TensorFlow, deterministic seeds, the config round-trip check,
importing the scripts of benchmarks/."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import importlib
import json
import sys

import keras
import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(scope="module")
def benchmark_module():
    """`name -> module`: imports a script of benchmarks/ (which imports its bench_lib)."""
    sys.path.insert(0, BENCHMARKS)
    try:
        yield importlib.import_module
    finally:
        sys.path.remove(BENCHMARKS)


def assert_config_round_trip(obj, expected: dict, rebuild=None):
    """Checks `get_config` stores each constructor argument and rebuilds an equal object.

    Args:
        obj: the object built with the arguments in `expected`.
        expected: constructor arguments and the values they were given; each must be
            stored under its own key with that value (after a JSON round trip, so tuples
            compare as lists).
        rebuild: callable `config -> object` (default: `type(obj).from_config`).
    """
    config = obj.get_config()
    as_json = json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))
    for key, value in expected.items():
        assert key in config, f"get_config lacks {key!r}"
        stored = config[key]
        if hasattr(value, "get_config") and not isinstance(value, dict):
            assert stored == keras.saving.serialize_keras_object(value) or stored == value, key
        else:
            assert _jsonable(stored) == _jsonable(value), (key, stored, value)
    rebuilt = (rebuild or type(obj).from_config)(config)
    assert _jsonable(rebuilt.get_config()) == _jsonable(config)
    restored = keras.saving.deserialize_keras_object(as_json)
    assert _jsonable(restored.get_config()) == _jsonable(config)
    return rebuilt


def _jsonable(value):
    return json.loads(json.dumps(value, default=_default))


def _default(value):
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "get_config"):
        return keras.saving.serialize_keras_object(value)
    raise TypeError(type(value))
