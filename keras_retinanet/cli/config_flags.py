"""Command-line flags generated from dataclass configs, and applying them.

Every leaf field of a (nested) config dataclass becomes a flag named by its dotted path:
`TrainConfig.schedule.total_steps` -> `--schedule.total_steps 1000`. The help text is the
field's line in its class's "Attributes:" docstring section, followed by the default. Values
are parsed from the field's type hint:

* `int`, `float`, `str`; `bool` as true/false (also yes/no, 1/0);
* `X | None`: "none" gives None;
* `tuple[T, ...]` / `tuple[T, T]`: comma-separated ("60000,80000"); "" is the empty tuple.

Applying the parsed flags rebuilds the config with `dataclasses.replace` (configs are
frozen), so each class's validation runs on the result. A dataclass with a class attribute
`DISCRIMINATOR = "<field>"` (e.g. `DatasetSpec.format`) is rebuilt from its defaults when
that field is given a new value: the old kind's fields do not carry over.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from keras_retinanet.training.train_config import unwrap_optional

NONE_TEXT = "none"
# Namespace keys of config flags start with this, so other arguments never mix in.
DEST_MARKER = "config:"
_TRUE_TEXTS = ("true", "yes", "1")
_FALSE_TEXTS = ("false", "no", "0")
_ATTRIBUTE_LINE = re.compile(r"^(\s+)([A-Za-z_][A-Za-z0-9_, ]*):\s*(.*)$")


def _is_optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> description from the "Attributes:" section of `cls`'s docstring.

    An entry may name several fields ("fpn_channels, head_channels: ...") and continue on
    more deeply indented lines.
    """
    doc = inspect.getdoc(cls) or ""
    docs: dict[str, str] = {}
    in_section = False
    current: list[str] = []
    indent = None
    for line in doc.splitlines():
        if line.strip() == "Attributes:":
            in_section, current, indent = True, [], None
            continue
        if not in_section:
            continue
        if line and not line[0].isspace():
            break
        match = _ATTRIBUTE_LINE.match(line)
        if match and (indent is None or len(match.group(1)) == indent):
            indent = len(match.group(1))
            current = [name.strip() for name in match.group(2).split(",")]
            for name in current:
                docs[name] = match.group(3).strip()
        elif current and line.strip():
            for name in current:
                docs[name] = f"{docs[name]} {line.strip()}"
    return docs


def parse_value(hint: Any, text: str) -> Any:
    """Parses a flag value `text` for a field with type hint `hint`.

    Raises:
        argparse.ArgumentTypeError: the text does not fit the type.
    """
    if _is_optional(hint) and text.strip().lower() == NONE_TEXT:
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


def _format_default(value: Any) -> str:
    if value is None:
        return NONE_TEXT
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "''"
    return str(value)


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


def _lookup(config: Any, path: str) -> tuple[bool, Any]:
    value = config
    for part in path.split("."):
        if value is None:
            return False, None
        value = getattr(value, part)
    return True, value


def add_config_flags(
    parser: argparse.ArgumentParser,
    config: Any,
    prefix: str = "",
    cls: type | None = None,
    title: str | None = None,
) -> None:
    """Adds one `--<prefix><path>` flag per leaf field of `config`'s dataclass.

    Parsed values land in the namespace under `dest = "config:<prefix><path>"`, and only for
    flags actually given (`argparse.SUPPRESS` default): read them with `explicit_values`.

    Args:
        parser: the parser.
        config: the config holding the defaults shown in the help (may be None, then `cls`
            gives the fields and no default is shown).
        prefix: a dotted prefix of every flag ("data." for a `DatasetSpec` under `data`).
        cls: the config's class when `config` is None.
        title: title of the argument group in `--help`.
    """
    cls = cls or type(config)
    group = parser.add_argument_group(title or cls.__name__)
    docs_cache: dict[type, dict[str, str]] = {}
    for path, hint, owner, name in config_fields(cls):
        docs = docs_cache.setdefault(owner, field_docs(owner))
        found, default = _lookup(config, path) if config is not None else (False, None)
        help_text = docs.get(name, "")
        help_text += f" (default: {_format_default(default)})" if found else " (default: unset)"
        group.add_argument(
            f"--{prefix}{path}",
            dest=f"{DEST_MARKER}{prefix}{path}",
            type=lambda text, hint=hint: parse_value(hint, text),
            default=argparse.SUPPRESS,
            metavar=_metavar(hint),
            help=help_text.replace("%", "%%"),
        )


def _metavar(hint: Any) -> str:
    base = unwrap_optional(hint)
    if typing.get_origin(base) is tuple:
        return "A,B,..."
    name = getattr(base, "__name__", "VALUE").upper()
    return f"{name}|none" if _is_optional(hint) else name


def explicit_values(namespace: argparse.Namespace, prefix: str = "") -> dict[str, Any]:
    """The config flags under `prefix` given on the command line, as `{path: value}`.

    Args:
        namespace: parsed arguments of a parser set up with `add_config_flags`.
        prefix: the prefix used there; it is cut from the returned paths.
    """
    marker = DEST_MARKER + prefix
    return {
        key[len(marker) :]: value
        for key, value in vars(namespace).items()
        if key.startswith(marker)
    }


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


def add_aliases(
    parser: argparse.ArgumentParser, aliases: Mapping[str, Sequence[str]], fields: Mapping[str, Any]
) -> None:
    """Adds `--<alias>` flags that set every config path they name to the same value.

    Args:
        parser: the parser.
        aliases: alias -> dotted config paths.
        fields: dotted path -> type hint (from `config_fields`), to parse the value.
    """
    if not aliases:
        return
    group = parser.add_argument_group("shortcuts")
    for alias, paths in aliases.items():
        hint = fields[paths[0]]
        group.add_argument(
            f"--{alias}",
            dest=f"alias:{alias}",
            type=lambda text, hint=hint: parse_value(hint, text),
            default=argparse.SUPPRESS,
            metavar=_metavar(hint),
            help=f"sets {', '.join(paths)}",
        )


def resolve_aliases(
    namespace: argparse.Namespace, aliases: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """`{dotted path: value}` for the aliases given on the command line."""
    values = {}
    for alias, paths in aliases.items():
        key = f"alias:{alias}"
        if key in vars(namespace):
            for path in paths:
                values[path] = getattr(namespace, key)
    return values


__all__ = [
    "add_aliases",
    "add_config_flags",
    "apply_flags",
    "config_fields",
    "explicit_values",
    "field_docs",
    "load_overrides",
    "parse_value",
    "resolve_aliases",
]
