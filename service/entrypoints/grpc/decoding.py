"""Request bytes that do not decode as the method's message are INVALID_ARGUMENT naming the field.

grpcio calls the method's deserializer (`Message.FromString`) before any of our
code runs; when it raises (`DecodeError: String field had bad UTF-8`, truncated
or garbled bytes), grpcio logs an ERROR and answers UNKNOWN with the exception's
class in the message, and Envoy turns that into an HTTP 500 (issue 15, item 3:
`GET /v1/payments/pay_%FF`, raw protobuf on either gRPC port). The interceptor
installs `lenient(deserializer)` instead: a request that does not decode becomes
an `Undecodable`, which the interceptor answers with INVALID_ARGUMENT and a
BadRequest field violation. Which field: the wire bytes are walked once more
(`bad_utf8_field`) to find the string field that is not UTF-8.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

from ...domain.errors import InvalidArgument

MAX_WALK_DEPTH = 32


@dataclasses.dataclass(frozen=True)
class Undecodable:
    """Stands for a request whose bytes are not the method's message."""

    error: InvalidArgument


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        shift += 7
        if not byte & 0x80:
            return value, at


def _skip(data: bytes, at: int, wire_type: int) -> tuple[bytes | None, int]:
    """(the field's bytes when length-delimited, the offset after the field)."""
    if wire_type == 0:
        return None, _varint(data, at)[1]
    if wire_type == 1:
        return None, at + 8
    if wire_type == 5:
        return None, at + 4
    if wire_type == 2:
        length, at = _varint(data, at)
        return data[at:at + length], at + length
    raise ValueError(f"wire type {wire_type}")


def bad_utf8_field(data: bytes, descriptor: Descriptor, prefix: str = "", depth: int = 0) -> str | None:
    """The dotted name of the first string field (nested messages included) that is not UTF-8."""
    at = 0
    try:
        while at < len(data) and depth < MAX_WALK_DEPTH:
            key, at = _varint(data, at)
            value, at = _skip(data, at, key & 7)
            field = descriptor.fields_by_number.get(key >> 3)
            if value is None or field is None:
                continue
            name = f"{prefix}{field.name}"
            if field.type == FieldDescriptor.TYPE_STRING:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    return name
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                found = bad_utf8_field(value, field.message_type, f"{name}.", depth + 1)
                if found:
                    return found
    except (ValueError, IndexError):
        return None
    return None


def undecodable(data: bytes, descriptor: Descriptor | None) -> Undecodable:
    field = bad_utf8_field(data, descriptor) if descriptor is not None else None
    if field is not None:
        return Undecodable(InvalidArgument(field, "is not valid UTF-8"))
    kind = descriptor.full_name if descriptor is not None else "the method's request"
    return Undecodable(InvalidArgument("request", f"is not a valid {kind} message"))


def lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserializer`, answering an `Undecodable` instead of raising on bytes it cannot decode."""
    if deserializer is None:
        return None
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, RuntimeError, ValueError):
            return undecodable(data, descriptor if isinstance(descriptor, Descriptor) else None)

    return decode
