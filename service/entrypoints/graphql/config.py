"""GraphQLSettings: the gateway's configuration, read from the environment once.

Every variable is documented in `.env.example` and docs/graphql.md. The safe
choice is the default: GraphiQL and introspection are off unless turned on
(the local stack turns both on).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from ...config import ConfigError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) > 65535:
        raise ConfigError(f"{name} must be a port number (0-65535), got {raw!r}")
    return int(raw)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


@dataclasses.dataclass(frozen=True)
class GraphQLSettings:
    """Where the gateway listens, where the API is, and how much a request may ask for."""

    grpc_target: str = "127.0.0.1:50051"
    host: str = "0.0.0.0"
    port: int = 8000
    metrics_port: int = 9465
    graphiql: bool = False
    introspection: bool = False
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 1000
    max_complexity: int = 5000
    max_body_bytes: int = 64 * 1024
    grpc_timeout_seconds: float = 10.0
    shutdown_grace_seconds: int = 10
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GraphQLSettings:
        env = os.environ if env is None else env
        return cls(
            grpc_target=env.get("PAYMENT_GRPC_TARGET", "").strip() or cls.grpc_target,
            host=env.get("GRAPHQL_HOST", "").strip() or cls.host,
            port=_port(env, "GRAPHQL_PORT", cls.port),
            metrics_port=_port(env, "GRAPHQL_METRICS_PORT", cls.metrics_port),
            graphiql=_flag(env, "GRAPHIQL_ENABLED", cls.graphiql),
            introspection=_flag(env, "GRAPHQL_INTROSPECTION", cls.introspection),
            max_depth=_positive(env, "GRAPHQL_MAX_DEPTH", cls.max_depth),
            max_aliases=_positive(env, "GRAPHQL_MAX_ALIASES", cls.max_aliases),
            max_tokens=_positive(env, "GRAPHQL_MAX_TOKENS", cls.max_tokens),
            max_complexity=_positive(env, "GRAPHQL_MAX_COMPLEXITY", cls.max_complexity),
            max_body_bytes=_positive(env, "GRAPHQL_MAX_BODY_BYTES", cls.max_body_bytes),
            grpc_timeout_seconds=float(_positive(env, "GRAPHQL_GRPC_TIMEOUT_SECONDS", int(cls.grpc_timeout_seconds))),
            shutdown_grace_seconds=_positive(env, "SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds),
            log_level=(env.get("LOG_LEVEL", "").strip() or cls.log_level).upper(),
        )
