"""The one validator behind every settings object: typed checks with the key in the message.

Every settings source (``mgd.toml``, command-line flags, the editor's
``initializationOptions``, per-request ``mgd`` settings) goes through these
helpers, so a wrong type reads the same everywhere: ``<where>: <key>: expected
..., got ...``. Errors are :class:`~monitors.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from monitors.errors import ConfigError

__all__ = [
    "check_keys",
    "coerce",
    "merge_fields",
    "number",
    "str_list",
    "sub_table",
    "table_value",
]

T = TypeVar("T")


def check_keys(table: Mapping[str, Any], known: frozenset[str] | set[str], where: str) -> None:
    """:class:`ConfigError` listing the keys of ``table`` that are not in ``known``."""
    unknown = sorted(str(k) for k in set(table) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")


def table_value(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` if it is a table (mapping)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table, not {type(value).__name__}")
    return value


def sub_table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    """``data[key]`` as a table (empty if absent)."""
    return table_value(data.get(key, {}), f"{where}: {key}")


def str_list(value: Any, where: str) -> tuple[str, ...]:
    """``value`` if it is a list of strings, as a tuple."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)


def number(value: Any, where: str) -> float:
    """``value`` if it is a number (not a boolean), as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number")
    return float(value)


def coerce(hint: Any, value: Any, where: str) -> Any:
    """Check ``value`` against a dataclass field's type hint (ints are accepted for floats).

    Supports ``bool``, ``int``, ``float``, ``str``, ``Literal[...]``, ``tuple[str, ...]``
    and unions of them with ``None``.
    """
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: bad value {value!r}")
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{where}: must be one of {list(typing.get_args(hint))}, not {value!r}")
        return value
    if origin is tuple:
        return str_list(value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported setting type {hint!r}")  # pragma: no cover


def merge_fields(obj: T, values: Mapping[str, Any] | None, source: str,
                 renamed: Mapping[str, str] | None = None) -> T:
    """A copy of the dataclass ``obj`` with ``values`` applied, each checked against its
    field's type (``-`` in keys reads as ``_``); unknown keys raise, and an old spelling
    in ``renamed`` (old -> new) raises naming the new one."""
    if not values:
        return obj
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: expected a table/object of settings, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(obj)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(type(obj))
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if renamed and name in renamed:
            raise ConfigError(f"{source}: setting {key!r} is now spelled {renamed[name]!r}")
        if name not in known:
            raise ConfigError(f"{source}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
        changes[name] = coerce(hints[name], value, f"{source}: {key}")
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
