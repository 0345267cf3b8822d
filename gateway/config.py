"""GraphQLSettings: the gateway's configuration, read from the environment once.

Every variable is documented in `.env.example` and docs/graphql.md. The safe
choice is the default: GraphiQL and introspection are off unless turned on
(the local stack turns both on).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from common.env import flag, port_number, positive, read, setting


def _positive_seconds(raw: str) -> float:
    return float(positive(raw))


@dataclasses.dataclass(frozen=True)
class GraphQLSettings:
    """Where the gateway listens, where the API is, and how much a request may ask for."""

    grpc_target: str = setting("PAYMENT_GRPC_TARGET", "127.0.0.1:50051")
    host: str = setting("GRAPHQL_HOST", "0.0.0.0")
    port: int = setting("GRAPHQL_PORT", 8000, parse=port_number)
    metrics_port: int = setting("GRAPHQL_METRICS_PORT", 9465, parse=port_number)
    graphiql: bool = setting("GRAPHIQL_ENABLED", False, parse=flag)
    introspection: bool = setting("GRAPHQL_INTROSPECTION", False, parse=flag)
    max_depth: int = setting("GRAPHQL_MAX_DEPTH", 10, parse=positive)
    max_aliases: int = setting("GRAPHQL_MAX_ALIASES", 15, parse=positive)
    max_tokens: int = setting("GRAPHQL_MAX_TOKENS", 1000, parse=positive)
    max_complexity: int = setting("GRAPHQL_MAX_COMPLEXITY", 5000, parse=positive)
    max_body_bytes: int = setting("GRAPHQL_MAX_BODY_BYTES", 64 * 1024, parse=positive)
    grpc_timeout_seconds: float = setting("GRAPHQL_GRPC_TIMEOUT_SECONDS", 10.0, parse=_positive_seconds)
    shutdown_grace_seconds: int = setting("SHUTDOWN_GRACE_SECONDS", 10, parse=positive)
    log_level: str = setting("LOG_LEVEL", "INFO", parse=str.upper)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GraphQLSettings:
        return read(cls, env)
