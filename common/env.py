"""One typed reader of environment variables, for every process's settings.

A settings class is a frozen dataclass whose fields say which variable they come
from; the default is declared once, in the field:

    @dataclasses.dataclass(frozen=True)
    class Settings:
        grpc_port: int = setting("GRPC_PORT", 50051)
        log_level: str = setting("LOG_LEVEL", "INFO", parse=str.upper)

`read(Settings, env)` builds it. A variable that is unset or blank keeps the
default; otherwise the field's parser (by default the one for its type: int,
float, bool or str) turns the text into the value, and a value that does not
parse is a ConfigError naming the variable. Secret fields are left out of the
repr; their parsers (text, or the service's API key list) never echo a value.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Callable, Mapping
from typing import Any

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the variable."""


def integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"must be an integer, got {raw!r}") from None


def positive(raw: str) -> int:
    value = integer(raw)
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")
    return value


def port_number(raw: str) -> int:
    if not raw.isdigit() or int(raw) > 65535:
        raise ValueError(f"must be a port number (0-65535), got {raw!r}")
    return int(raw)


def number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"must be a number, got {raw!r}") from None


def flag(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def text(raw: str) -> str:
    return raw


_BY_TYPE: dict[Any, Callable[[str], Any]] = {int: integer, float: number, bool: flag, str: text}


def setting(name: str, default: Any, *, parse: Callable[[str], Any] | None = None, secret: bool = False,
            aliases: tuple[str, ...] = ()) -> Any:
    """A dataclass field read from the variable `name` (or one of its older `aliases`)."""
    metadata = {"env": name, "parse": parse, "aliases": aliases}
    if isinstance(default, (dict, list)):
        kind = type(default)
        return dataclasses.field(default_factory=lambda: kind(default), repr=not secret, metadata=metadata)
    return dataclasses.field(default=default, repr=not secret, metadata=metadata)


def variables(cls: type) -> dict[str, tuple[str, ...]]:
    """Every variable `cls` reads -> its aliases (the test that .env.example and the chart agree uses this)."""
    return {f.metadata["env"]: f.metadata["aliases"] for f in dataclasses.fields(cls) if "env" in f.metadata}


def read(cls: type, env: Mapping[str, str] | None = None) -> Any:
    """An instance of the settings dataclass `cls`, from `env` (default: os.environ)."""
    env = os.environ if env is None else env
    types = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if "env" not in field.metadata:
            continue
        raw = _raw(env, field.metadata["env"], field.metadata["aliases"])
        if raw == "":
            continue
        parse = field.metadata["parse"] or _BY_TYPE[types[field.name]]
        try:
            values[field.name] = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{field.metadata['env']} {exc}") from None
    return cls(**values)


def _raw(env: Mapping[str, str], name: str, aliases: tuple[str, ...]) -> str:
    """The stripped value of `name`, else of an alias; both set to different values is an error."""
    given = {n: env.get(n, "").strip() for n in (name, *aliases)}
    distinct = {value for value in given.values() if value}
    if len(distinct) > 1:
        others = " and ".join(n for n in aliases if given[n])
        raise ConfigError(f"{name} and {others} (its alias) are both set and differ: set only one")
    return next(iter(distinct), "")
