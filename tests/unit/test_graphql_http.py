"""The gateway's HTTP surface: health, readiness, GraphiQL on/off, routing,
the ASGI lifespan (one channel opened and closed), metrics and the access log."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from common.logs import JsonFormatter
from gateway.app import create_app
from gateway.config import GraphQLSettings
from gateway.metrics import MAX_OPERATIONS, Metrics
from tests.unit import test_graphql_harness as harness
from tests.unit.test_graphql_harness import KEY, closed_port, only_error, open_gateway, post, send

pytestmark = pytest.mark.unit

gateway, payment_api = harness.gateway, harness.payment_api  # shared fixtures


async def test_healthz(gateway):
    response = await send(gateway, "GET", "/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_follows_the_payment_service(gateway):
    assert (await send(gateway, "GET", "/readyz")).status_code == 200
    app = await open_gateway(f"127.0.0.1:{closed_port()}")
    try:
        assert (await send(app, "GET", "/readyz")).status_code == 503
    finally:
        await app.shutdown()


async def test_graphiql_is_served_when_enabled(gateway):
    response = await send(gateway, "GET", "/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_graphiql_is_off_by_configuration(payment_api):
    app = await open_gateway(payment_api.target, graphiql=False)
    try:
        response = await send(app, "GET", "/graphql", headers={"Accept": "text/html"})
    finally:
        await app.shutdown()
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "GraphiQL is disabled" in only_error(response)["message"]


async def test_other_paths_are_404(gateway):
    response = await send(gateway, "GET", "/v1/payments")
    assert response.status_code == 404
    assert only_error(response)["extensions"]["code"] == "NOT_FOUND"
    assert response.headers["x-request-id"]


async def test_a_bug_of_ours_is_masked_with_the_request_id(payment_api, caplog):
    never_opened = create_app(GraphQLSettings(grpc_target=payment_api.target))
    with caplog.at_level(logging.ERROR):
        response = await post(never_opened, "{ payments { next_page_token } }",
                              headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": "req-bug"})
    error = only_error(response)
    assert error["message"] == "internal error (request id req-bug)"
    assert error["extensions"]["code"] == "INTERNAL"
    assert "not open" not in response.text
    assert any("not open" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)


async def test_metrics_count_operations_by_name_and_outcome(gateway):
    await post(gateway, "query MetricsProbe { __typename }")
    await post(gateway, 'query MetricsProbe { payment(payment_id: "nope") { payment_id } }')
    await post(gateway, "{ __typename }")
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics")).text
    assert 'graphql_requests_total{operation="MetricsProbe",outcome="ok"} 1.0' in text
    assert 'graphql_requests_total{operation="MetricsProbe",outcome="error"} 1.0' in text
    assert 'graphql_requests_total{operation="anonymous",outcome="ok"}' in text
    assert 'graphql_request_duration_seconds_bucket{le="0.5",operation="MetricsProbe"}' in text


def test_operation_labels_are_capped():
    metrics = Metrics()
    labels = {metrics.label(f"Op{i}") for i in range(MAX_OPERATIONS + 10)}
    assert len(labels) == MAX_OPERATIONS + 1 and "other" in labels
    assert metrics.label("Op1") == "Op1"
    assert metrics.label("not a name") == "invalid"


async def test_lifespan_opens_one_channel_and_closes_it(payment_api):
    app = create_app(GraphQLSettings(grpc_target=payment_api.target, host="127.0.0.1", metrics_port=0))
    inbox: asyncio.Queue = asyncio.Queue()
    sent: list[dict] = []

    async def send_message(message):
        sent.append(message)

    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send_message))
    while not sent:
        await asyncio.sleep(0.01)
    channel = app.client._channel
    assert sent == [{"type": "lifespan.startup.complete"}] and channel is not None
    body = (await post(app, "{ payments { next_page_token } }", headers={"Authorization": f"Bearer {KEY}"})).json()
    assert "errors" not in body
    assert app.client._channel is channel
    await inbox.put({"type": "lifespan.shutdown"})
    await lifespan
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert app.client._channel is None


async def test_one_access_line_per_request_without_secrets(gateway, caplog):
    caplog.set_level(logging.INFO, logger="graphql.access")
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(JsonFormatter().format(record))

    handler = Capture()
    logging.getLogger("graphql.access").addHandler(handler)
    try:
        await post(gateway, "query Logged { __typename }",
                   headers={"Authorization": f"Bearer {KEY}", "X-Request-Id": "req-logged"})
    finally:
        logging.getLogger("graphql.access").removeHandler(handler)
    [line] = [json.loads(line) for line in lines]
    assert (line["request_id"], line["operation"], line["outcome"], line["status"]) == (
        "req-logged", "Logged", "ok", 200)
    assert KEY not in json.dumps(line)
