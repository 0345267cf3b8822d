"""Payments as plain values, mapped field by field from the dataclasses' own field lists.

One mapping, driven by ``dataclasses.fields`` and the field types, serves two shapes:

    to_snapshot / from_snapshot   JSON-able dicts: the stored response of an idempotent request
                                  and the cache entry (datetimes as ISO 8601 strings)
    to_plain / from_plain         the same with datetimes kept: a database row's shape
                                  (service/adapters/repository.py)

Enums travel as their values; ``refunds`` as a list of plain refunds. A field
added to Payment or Refund is carried with no change here; a field missing from
the input takes its default (snapshots written before it existed). Fields
declared with ``compare=False`` are not the payment's state (``events``: the
changes recorded since it was loaded) and are not carried.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from .model import Payment

T = TypeVar("T")


def to_snapshot(payment: Payment) -> dict[str, Any]:
    return to_plain(payment, json=True)


def from_snapshot(data: Mapping[str, Any]) -> Payment:
    return from_plain(Payment, data)


def state_fields(cls: Any) -> tuple[dataclasses.Field, ...]:
    """The fields that make up the state of a dataclass (or of its instance): the ones carried."""
    return tuple(field for field in dataclasses.fields(cls) if field.compare)


def to_plain(value: Any, *, json: bool = False) -> Any:
    """A dataclass as a dict of plain values (recursively); ``json`` also turns datetimes into text."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _state_names(kind)
    if names is not None:
        return {name: to_plain(getattr(value, name), json=json) for name in names}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat() if json else value
    if isinstance(value, list):
        return [to_plain(item, json=json) for item in value]
    if isinstance(value, dict):
        return {key: to_plain(item, json=json) for key, item in value.items()}
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


@functools.cache
def _state_names(kind: type) -> tuple[str, ...] | None:
    """The state fields' names of a dataclass type (looked up once per type), None for other types."""
    return tuple(field.name for field in state_fields(kind)) if dataclasses.is_dataclass(kind) else None


def from_plain(cls: type[T], data: Mapping[str, Any]) -> T:
    """The dataclass ``cls`` from plain values (the inverse of to_plain); keys it lacks are ignored."""
    return cls(**{name: None if data[name] is None else convert(data[name])
                  for name, convert in _readers(cls) if name in data})


@functools.cache
def _readers(cls: type) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """(field name, converter of a non-None value) for each state field of ``cls``: the field
    types are read once per class, not on every payment (the cache and the repository read many)."""
    hints = _hints(cls)
    return tuple((field.name, _reader(hints[field.name])) for field in state_fields(cls))


def _reader(hint: Any) -> Callable[[Any], Any]:
    """How a value of type ``hint`` that is not None is read back, decided once for the type."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):  # X | None
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"snapshot fields may be X or X | None, not {hint}")
        return _reader(inner[0])
    if origin is list:
        (item,) = typing.get_args(hint)
        read = _reader(item)
        return lambda value: [None if element is None else read(element) for element in value]
    if origin is dict:
        return dict
    if dataclasses.is_dataclass(hint):
        return functools.partial(from_plain, hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if hint is datetime:
        return lambda value: datetime.fromisoformat(value) if isinstance(value, str) else value
    return _same


def _same(value: Any) -> Any:
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)
