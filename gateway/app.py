"""`payment-graphql`: the GraphQL gateway as its own process, on uvicorn.

    PAYMENT_GRPC_TARGET=127.0.0.1:50051 GRAPHQL_PORT=8000 payment-graphql

Configuration comes from the environment (see config.py and docs/graphql.md).
SIGTERM stops accepting connections, lets in-flight requests finish (up to
SHUTDOWN_GRACE_SECONDS), then closes the gRPC channel and the metrics server.
"""

from __future__ import annotations

import sys

import uvicorn

from common import logs
from common.env import ConfigError

from .asgi import GraphQLApp
from .client import PaymentClient
from .config import GraphQLSettings
from .metrics import Metrics
from .schema import build_schema
from .static import api_docs, graphiql


def create_app(settings: GraphQLSettings) -> GraphQLApp:
    """The composition root of the gateway: schema, client, metrics, API docs (and GraphiQL when
    GRAPHIQL_ENABLED); nothing opened yet."""
    client = PaymentClient(settings.grpc_target, settings.grpc_timeout_seconds)
    static = api_docs() | graphiql() if settings.graphiql else api_docs()
    return GraphQLApp(settings, build_schema(settings), client, Metrics(), static)


def main() -> int:
    try:
        settings = GraphQLSettings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    config = uvicorn.Config(
        create_app(settings), host=settings.host, port=settings.port, lifespan="on",
        log_config=None, log_level=settings.log_level.lower(), access_log=False, server_header=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds)
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
