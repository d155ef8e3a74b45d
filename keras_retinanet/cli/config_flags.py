"""Command-line flags generated from dataclass configs, and applying them.

Every leaf field of a (nested) config dataclass becomes a flag named by its dotted path:
`TrainConfig.schedule.total_steps` -> `--schedule.total_steps 1000`. The help text is the
field's line in its class's "Attributes:" docstring section, followed by the default.

This module is the argparse side only. Parsing values, applying them to a config and
reading JSON overrides live in `keras_retinanet.training.config_parsing` (`parse_value`,
`apply_flags`, `config_fields`, `load_overrides`; re-exported here): one home for the
typed-config parsing. Applying rebuilds the config with `dataclasses.replace` (configs are
frozen), so each class's validation runs on the result. A dataclass with a class attribute
`DISCRIMINATOR = "<field>"` (e.g. `DatasetSpec.format`) is rebuilt from its defaults when
that field is given a new value: the old kind's fields do not carry over.
"""

from __future__ import annotations

import argparse
import inspect
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from keras_retinanet.training.config_parsing import (
    NONE_TEXT,
    apply_flags,
    config_fields,
    is_optional,
    load_overrides,
    parse_value,
    unwrap_optional,
)

# Namespace keys of config flags start with this, so other arguments never mix in.
DEST_MARKER = "config:"
_ATTRIBUTE_LINE = re.compile(r"^(\s+)([A-Za-z_][A-Za-z0-9_, ]*):\s*(.*)$")


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


def _format_default(value: Any) -> str:
    if value is None:
        return NONE_TEXT
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "''"
    return str(value)


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
    return f"{name}|none" if is_optional(hint) else name


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
