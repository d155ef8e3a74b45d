"""Typed-config parsing, in one place: dataclass configs from and to text, JSON and dicts.

* `parse_value`: one command-line value from its text, by the field's type hint:
  `int`, `float`, `str`; `bool` as true/false (also yes/no, 1/0); `X | None` ("none" gives
  None); `tuple[T, ...]` comma-separated ("60000,80000"; "" is the empty tuple).
* `config_fields`: every leaf field of a nested config as a dotted path.
* `apply_flags`: a config with `{dotted path: value}` replaced (each class validates).
* `load_overrides`: a JSON file of partial overrides as `{dotted path: value}`.
* `config_to_dict` / `config_from_dict`: a whole config to and from a JSON-ready dict.

The command line (`keras_retinanet.cli.config_flags`) builds its flags on these; the
training configs (`train_config`) are plain dataclasses that validate themselves.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any

NONE_TEXT = "none"
_TRUE_TEXTS = ("true", "yes", "1")
_FALSE_TEXTS = ("false", "no", "0")


def is_optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def parse_value(hint: Any, text: str) -> Any:
    """Parses a flag value `text` for a field with type hint `hint`.

    Raises:
        argparse.ArgumentTypeError: the text does not fit the type.
    """
    if is_optional(hint) and text.strip().lower() == NONE_TEXT:
        return None
    hint = unwrap_optional(hint)
    if typing.get_origin(hint) is tuple:
        item_hint = typing.get_args(hint)[0]
        parts = [part.strip() for part in text.split(",") if part.strip()]
        return tuple(parse_value(item_hint, part) for part in parts)
    if hint is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE_TEXTS:
            return True
        if lowered in _FALSE_TEXTS:
            return False
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    if hint in (int, float, str):
        try:
            return hint(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {hint.__name__}, got {text!r}") from None
    raise argparse.ArgumentTypeError(f"unsupported field type {hint!r}")


def _dataclass_of(hint: Any) -> type | None:
    hint = unwrap_optional(hint)
    return hint if dataclasses.is_dataclass(hint) else None


def config_fields(cls: type, prefix: str = "") -> list[tuple[str, Any, type, str]]:
    """Every leaf field under `cls`: `(dotted path, type hint, owning class, field name)`."""
    hints = typing.get_type_hints(cls)
    leaves = []
    for field in dataclasses.fields(cls):
        path = f"{prefix}{field.name}"
        nested = _dataclass_of(hints[field.name])
        if nested is not None:
            leaves += config_fields(nested, f"{path}.")
        else:
            leaves.append((path, hints[field.name], cls, field.name))
    return leaves


def apply_flags(config: Any, values: Mapping[str, Any], cls: type | None = None) -> Any:
    """Returns `config` with the dotted-path `values` replaced (validated by each class).

    Args:
        config: the config (may be None for an unset optional sub-config; then `cls`).
        values: `{"schedule.total_steps": 1000, ...}`: paths relative to `config`.
        cls: `config`'s class when `config` is None.

    Returns:
        The new config (the same object when `values` is empty).

    Raises:
        ValueError: a path names no field, or a class rejects the new values.
    """
    if not values:
        return config
    cls = cls or type(config)
    hints = typing.get_type_hints(cls)
    names = {field.name for field in dataclasses.fields(cls)}
    direct: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        head, _, rest = path.partition(".")
        if head not in names:
            raise ValueError(f"{cls.__name__} has no field {head!r} (in {path!r}).")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, sub_values in nested.items():
        sub_cls = _dataclass_of(hints[head])
        if sub_cls is None:
            raise ValueError(f"{cls.__name__}.{head} is not a nested config.")
        current = getattr(config, head) if config is not None else None
        direct[head] = apply_flags(current, sub_values, sub_cls)
    discriminator = getattr(cls, "DISCRIMINATOR", None)
    if config is None or (
        discriminator in direct and direct[discriminator] != getattr(config, discriminator)
    ):
        return cls(**direct)
    return dataclasses.replace(config, **direct)


def load_overrides(path: str) -> dict[str, Any]:
    """Reads a JSON file of overrides: a nested dict like `config_to_dict` writes (partial).

    Returns:
        `{dotted path: value}` with lists of numbers as tuples.
    """
    with open(path, encoding="utf-8") as file:
        payload = json.load(file)
    if not isinstance(payload, dict):
        raise ValueError(f"{path} must hold a JSON object of config fields.")
    flat: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = tuple(value) if isinstance(value, list) else value

    walk(payload, "")
    return flat


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as a JSON-ready dict (tuples become lists)."""
    return _to_jsonable(dataclasses.asdict(config))


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(item) for item in value]
    return value


def config_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuilds a dataclass config from `config_to_dict` output (or a part of it).

    Args:
        cls: the dataclass, e.g. `TrainConfig`.
        data: field name -> value; nested configs as dicts, tuples as lists. Missing fields
            take their defaults.

    Returns:
        The config, validated by its `__post_init__`.

    Raises:
        ValueError: an unknown field name or a value of the wrong kind.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"Expected a dict for {cls.__name__}; got {data!r}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {unknown}; it has {sorted(fields)}.")
    kwargs = {
        name: _convert(hints[name], value, f"{cls.__name__}.{name}") for name, value in data.items()
    }
    return cls(**kwargs)


def _convert(hint: Any, value: Any, where: str) -> Any:
    if value is None:
        if type(None) not in typing.get_args(hint) and hint is not type(None):
            raise ValueError(f"{where} may not be None.")
        return None
    hint = unwrap_optional(hint)
    if dataclasses.is_dataclass(hint):
        return config_from_dict(hint, value)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a list; got {value!r}.")
        args = typing.get_args(hint)
        item_type = args[0]
        return tuple(_convert(item_type, item, where) for item in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ValueError(f"{where} must be a {hint.__name__}; got {value!r}.")
    return value


def unwrap_optional(hint: Any) -> Any:
    """`X` for a hint `X | None`, else the hint itself."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint
