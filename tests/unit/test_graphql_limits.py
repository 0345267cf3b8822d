"""Abusive requests are refused fast, before any gRPC call, with a reason:
depth, aliases, tokens, complexity, introspection, page size and body size."""

from __future__ import annotations

import time

import pytest

from common.env import ConfigError
from gateway.config import GraphQLSettings
from tests.unit import test_graphql_harness as harness
from tests.unit.test_graphql_harness import AUTH, PAYMENT_FIELDS, only_error, open_gateway, post, send

pytestmark = pytest.mark.unit

gateway, payment_api = harness.gateway, harness.payment_api  # shared fixtures

FAST_SECONDS = 1.0


def reasons(response) -> set[str]:
    return {error["extensions"]["reason"] for error in response.json()["errors"]}


def nested(depth: int) -> str:
    inner = "amount"
    for level in range(depth - 3):
        inner = f"f{level} {{ {inner} }}"
    return f"{{ payments {{ payments {{ refunds {{ {inner} }} }} }} }}"


def aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"


@pytest.fixture
def calls(payment_api):
    """Asserts the test made no gRPC call."""
    before = len(payment_api.recorder.calls)
    yield
    assert len(payment_api.recorder.calls) == before


async def refused(app, query: str, reason: str, variables: dict | None = None):
    started = time.perf_counter()
    response = await post(app, query, variables)
    assert time.perf_counter() - started < FAST_SECONDS
    assert response.status_code == 400
    assert reason in reasons(response), response.json()
    assert all(e["extensions"]["code"] == "INVALID_ARGUMENT" for e in response.json()["errors"])
    return response


async def test_depth_20_is_refused(gateway, calls):
    response = await refused(gateway, nested(20), "QUERY_TOO_DEEP")
    assert any("exceeds maximum operation depth of 10" in e["message"] for e in response.json()["errors"])


async def test_depth_limit_is_configurable(payment_api):
    app = await open_gateway(payment_api.target, max_depth=2)
    try:
        response = await refused(app, "{ payments { payments { refunds { amount } } } }", "QUERY_TOO_DEEP")
        assert reasons(response) == {"QUERY_TOO_DEEP"}
    finally:
        await app.shutdown()


async def test_1000_aliases_stop_at_the_token_limit(gateway, calls):
    response = await refused(gateway, aliases(1000), "TOO_MANY_TOKENS")
    assert "1000 tokens" in only_error(response)["message"]


async def test_aliases_over_the_limit_are_refused(gateway, calls):
    assert (await post(gateway, aliases(15))).json() == {"data": {f"a{i}": "Query" for i in range(15)}}
    response = await refused(gateway, aliases(16), "TOO_MANY_ALIASES")
    assert only_error(response)["message"] == "16 aliases found. Allowed: 15"


async def test_1000_aliases_past_a_raised_token_limit_meet_the_alias_limit(payment_api):
    app = await open_gateway(payment_api.target, max_tokens=100_000)
    try:
        await refused(app, aliases(1000), "TOO_MANY_ALIASES")
    finally:
        await app.shutdown()


async def test_complexity_counts_pages_and_calls(gateway, calls):
    page = f"payments(page_size: 100) {{ payments {{ {PAYMENT_FIELDS} }} next_page_token }}"
    response = await refused(gateway, f"{{ a: {page} b: {page} }}", "QUERY_TOO_COMPLEX")
    assert "exceeds the maximum of 5000" in only_error(response)["message"]


async def test_a_variable_page_size_is_costed_at_the_cap(gateway, calls):
    page = f"payments(page_size: $size) {{ payments {{ {PAYMENT_FIELDS} }} }}"
    await refused(gateway, f"query($size: Int) {{ a: {page} b: {page} }}", "QUERY_TOO_COMPLEX", {"size": 1})


async def test_one_full_page_is_within_the_limits(gateway):
    response = await post(gateway, f"{{ payments(page_size: 100) {{ payments {{ {PAYMENT_FIELDS} }} }} }}")
    assert "errors" not in response.json()


async def test_page_size_over_the_cap_is_refused_before_the_call(gateway, calls):
    response = await post(gateway, "{ payments(page_size: 101) { next_page_token } }")
    error = only_error(response)
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert error["extensions"]["field_violations"] == [
        {"field": "page_size", "description": "must be between 1 and 100 (omit it for 20)"}]


async def test_introspection_can_be_disabled(payment_api):
    app = await open_gateway(payment_api.target, introspection=False)
    try:
        await refused(app, "{ __schema { types { name } } }", "INTROSPECTION_DISABLED")
        await refused(app, '{ __type(name: "Payment") { name } }', "INTROSPECTION_DISABLED")
        assert (await post(app, "{ __typename }")).json() == {"data": {"__typename": "Query"}}
    finally:
        await app.shutdown()


async def test_introspection_when_enabled(gateway):
    body = (await post(gateway, '{ __type(name: "Payment") { name } }')).json()
    assert body == {"data": {"__type": {"name": "Payment"}}}


async def test_a_body_over_the_limit_is_413_from_its_content_length(gateway, calls):
    started = time.perf_counter()
    body = b'{"query": "{ __typename }", "pad": "' + b"x" * (64 * 1024) + b'"}'
    response = await send(gateway, "POST", "/graphql", content=body,
                          headers={**AUTH, "Content-Type": "application/json"})
    assert time.perf_counter() - started < FAST_SECONDS
    assert response.status_code == 413
    assert only_error(response)["extensions"] == {"code": "INVALID_ARGUMENT", "reason": "BODY_TOO_LARGE",
                                                 "domain": "payments.v1"}


async def test_a_streamed_body_over_the_limit_is_413(gateway, calls):
    async def chunks():
        yield b'{"query": "{ __typename }", "pad": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = await send(gateway, "POST", "/graphql", content=chunks(),
                          headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413


async def test_a_body_at_the_limit_is_accepted(gateway):
    head, tail = b'{"query": "{ __typename }", "pad": "', b'"}'
    body = head + b"x" * (64 * 1024 - len(head) - len(tail)) + tail
    response = await send(gateway, "POST", "/graphql", content=body,
                          headers={**AUTH, "Content-Type": "application/json"})
    assert response.json() == {"data": {"__typename": "Query"}}


def test_settings_defaults_are_the_safe_ones():
    settings = GraphQLSettings.from_env({})
    assert (settings.graphiql, settings.introspection) == (False, False)
    assert (settings.max_depth, settings.max_aliases, settings.max_tokens, settings.max_complexity,
            settings.max_body_bytes) == (10, 15, 1000, 5000, 65536)
    assert (settings.grpc_target, settings.host, settings.port, settings.metrics_port) == (
        "127.0.0.1:50051", "0.0.0.0", 8000, 9465)


def test_settings_from_the_environment():
    settings = GraphQLSettings.from_env({
        "PAYMENT_GRPC_TARGET": "payment:50051", "GRAPHQL_PORT": "9000", "GRAPHIQL_ENABLED": "true",
        "GRAPHQL_INTROSPECTION": "on", "GRAPHQL_MAX_DEPTH": "5", "GRAPHQL_MAX_BODY_BYTES": "1024"})
    assert (settings.grpc_target, settings.port, settings.graphiql, settings.introspection) == (
        "payment:50051", 9000, True, True)
    assert (settings.max_depth, settings.max_body_bytes) == (5, 1024)


@pytest.mark.parametrize("name, value", [("GRAPHQL_MAX_DEPTH", "0"), ("GRAPHQL_MAX_DEPTH", "ten"),
                                         ("GRAPHIQL_ENABLED", "maybe"), ("GRAPHQL_PORT", "70000")])
def test_bad_settings_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        GraphQLSettings.from_env({name: value})
