"""Shared fixtures of the GraphQL unit tests (this module holds no tests).

`payment_api` is the REAL payment gRPC server (create_server over bootstrap)
in-process on a free port, with the in-memory unit of work and the fake
processor from tests/fakes.py, plus an interceptor that records the metadata
of every call. `gateway` is the real GraphQL app (create_app) opened against
it; `post` sends it HTTP requests in-process through httpx's ASGI transport.
"""

from __future__ import annotations

import dataclasses
import socket
from typing import Any

import grpc
import httpx
import pytest

from gateway.app import create_app
from gateway.asgi import GraphQLApp
from gateway.config import GraphQLSettings
from service.bootstrap import bootstrap
from service.config import Settings
from service.entrypoints.grpc.server import create_server
from tests.fakes import FakeProcessor, MemoryUnitOfWork, SingleProcessor, Store

KEY, MERCHANT = "sk_test_graphql", "acct_graphql"
OTHER_KEY, OTHER_MERCHANT = "sk_test_graphql_other", "acct_graphql_other"
AUTH = {"Authorization": f"Bearer {KEY}"}

PAYMENT_FIELDS = """
  payment_id merchant_id amount currency status capture_method payment_method customer_id description
  metadata { key value } processor processor_reference amount_captured amount_refunded
  refunds { refund_id amount reason create_time status }
  failure_code failure_message create_time update_time
"""


class RecordMetadata(grpc.aio.ServerInterceptor):
    """Keeps (method, metadata) of every call the payment service receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def intercept_service(self, continuation, handler_call_details):
        metadata = {k: v for k, v in handler_call_details.invocation_metadata or () if isinstance(v, str)}
        self.calls.append((handler_call_details.method, metadata))
        return await continuation(handler_call_details)

    def last(self, method: str) -> dict[str, str]:
        return next(m for name, m in reversed(self.calls) if name.endswith(f"/{method}"))


@dataclasses.dataclass
class PaymentApi:
    target: str
    recorder: RecordMetadata
    processor: FakeProcessor
    server: grpc.aio.Server


@pytest.fixture(scope="module")
async def payment_api() -> PaymentApi:
    store, processor = Store(), FakeProcessor("fake")
    settings = Settings(api_keys={KEY: MERCHANT, OTHER_KEY: OTHER_MERCHANT}, default_processor="fake")
    app = bootstrap(settings, uow=lambda: MemoryUnitOfWork(store), processors=SingleProcessor(fake=processor))
    recorder = RecordMetadata()
    app.interceptors.append(recorder)
    server, port, health = create_server(app, "127.0.0.1:0")
    await server.start()
    await health.refresh()
    yield PaymentApi(f"127.0.0.1:{port}", recorder, processor, server)
    await server.stop(None)


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def open_gateway(target: str, **overrides: Any) -> GraphQLApp:
    settings = GraphQLSettings(**{"grpc_target": target, "host": "127.0.0.1", "metrics_port": 0,
                                  "graphiql": True, "introspection": True, **overrides})
    app = create_app(settings)
    await app.startup()
    return app


@pytest.fixture(scope="module")
async def gateway(payment_api) -> GraphQLApp:
    app = await open_gateway(payment_api.target)
    yield app
    await app.shutdown()


async def send(app: GraphQLApp, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.request(method, path, **kwargs)


async def post(app: GraphQLApp, query: str, variables: dict | None = None, *, headers: dict | None = None,
               operation_name: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"query": query, "variables": variables}
    if operation_name:
        body["operationName"] = operation_name
    return await send(app, "POST", "/graphql", json=body, headers=AUTH if headers is None else headers)


CREATE = f"""
mutation Create($payload: PaymentInput!) {{ create_payment(payload: $payload) {{ {PAYMENT_FIELDS} }} }}
"""


async def create_payment(app: GraphQLApp, headers: dict | None = None, **fields: Any) -> dict:
    payload = {"amount": "1000", "currency": "USD", **fields}
    response = await post(app, CREATE, {"payload": payload}, headers=headers)
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["create_payment"]


def only_error(response: httpx.Response) -> dict:
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    return errors[0]
