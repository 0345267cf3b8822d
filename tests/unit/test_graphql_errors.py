"""gRPC statuses become GraphQL errors with extensions.code, reason and field
violations; requests refused before any call say why; unexpected failures are
masked. Against the real payment gRPC server, in-process."""

from __future__ import annotations

import logging

import pytest
from graphql import GraphQLError

from gateway.config import GraphQLSettings
from gateway.errors import from_status, is_unexpected, shaped
from gateway.schema import build_schema
from service.domain import errors as domain
from service.entrypoints.grpc.errors import status_for
from tests.unit import test_graphql_harness as harness
from tests.unit.test_graphql_harness import (
    AUTH,
    CREATE,
    OTHER_KEY,
    closed_port,
    create_payment,
    only_error,
    open_gateway,
    post,
    send,
)

pytestmark = pytest.mark.unit

gateway, payment_api = harness.gateway, harness.payment_api  # shared fixtures

GET = "query Get($id: ID!) { payment(payment_id: $id) { payment_id status } }"
REFUND = 'mutation R($id: ID!) { process_payment(payment_id: $id, action: REFUND) { status } }'
UNKNOWN_ID = "pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K"


def extensions(response) -> dict:
    return only_error(response)["extensions"]


async def test_not_found(gateway):
    response = await post(gateway, GET, {"id": UNKNOWN_ID})
    assert response.status_code == 200
    assert response.json()["data"] == {"payment": None}
    assert extensions(response) == {"code": "NOT_FOUND", "reason": "PAYMENT_NOT_FOUND", "domain": "payments.v1"}


async def test_another_merchants_payment_is_not_found(gateway):
    payment = await create_payment(gateway)
    response = await post(gateway, GET, {"id": payment["payment_id"]},
                          headers={"Authorization": f"Bearer {OTHER_KEY}"})
    assert extensions(response)["code"] == "NOT_FOUND"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk_wrong"}, {"Authorization": "Basic x"}])
async def test_unauthenticated(gateway, headers):
    response = await post(gateway, GET, {"id": UNKNOWN_ID}, headers=headers)
    assert extensions(response)["code"] == "UNAUTHENTICATED"
    assert extensions(response)["reason"] == "UNAUTHENTICATED"


async def test_invalid_argument_names_the_field(gateway):
    response = await post(gateway, CREATE, {"payload": {"amount": "100", "currency": "ABC"}})
    error = only_error(response)
    assert error["path"] == ["create_payment"]
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert [v["field"] for v in error["extensions"]["field_violations"]] == ["currency"]
    assert "currency" in error["message"]


async def test_failed_precondition_carries_the_reason(gateway):
    payment = await create_payment(gateway)
    ext = extensions(await post(gateway, REFUND, {"id": payment["payment_id"]}))
    assert (ext["code"], ext["reason"]) == ("FAILED_PRECONDITION", "PAYMENT_NOT_REFUNDABLE")


async def test_idempotency_key_reused_with_other_parameters(gateway):
    headers = {**AUTH, "Idempotency-Key": "reuse-1"}
    await create_payment(gateway, headers=headers, amount="100")
    response = await post(gateway, CREATE, {"payload": {"amount": "200", "currency": "USD"}}, headers=headers)
    assert extensions(response)["reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert extensions(response)["code"] == "FAILED_PRECONDITION"


async def test_processor_unavailable_is_unavailable(gateway):
    payload = {"amount": "100", "currency": "USD", "payment_method": "pm_card_unavailable"}
    assert extensions(await post(gateway, CREATE, {"payload": payload}))["code"] == "UNAVAILABLE"


async def test_payment_service_down_is_unavailable_without_addresses():
    app = await open_gateway(f"127.0.0.1:{closed_port()}")
    try:
        response = await post(app, GET, {"id": UNKNOWN_ID})
    finally:
        await app.shutdown()
    error = only_error(response)
    assert error["extensions"]["code"] == "UNAVAILABLE"
    assert error["extensions"]["reason"] == "PAYMENT_SERVICE_UNAVAILABLE"
    assert "127.0.0.1" not in error["message"] and "retry" in error["message"]


@pytest.mark.parametrize("exc, code", [
    (domain.InvalidArgument("amount", "must be positive"), "INVALID_ARGUMENT"),
    (domain.NotFound("no such payment"), "NOT_FOUND"),
    (domain.PaymentNotCapturable("not capturable"), "FAILED_PRECONDITION"),
    (domain.IdempotencyKeyInUse("in use"), "ABORTED"),
    (domain.Unavailable("down"), "UNAVAILABLE"),
    (domain.Unauthenticated("who are you"), "UNAUTHENTICATED"),
])
def test_every_status_the_api_sends_keeps_code_and_reason(exc, code):
    """The same google.rpc.Status the servicer sends, read back by the gateway."""
    error = from_status(status_for(exc))
    assert error.extensions["code"] == code
    assert error.extensions["reason"] == exc.reason
    assert error.message == exc.message


def test_decline_metadata_is_kept():
    error = from_status(status_for(domain.ProcessorDeclined("declined", code="card_declined")))
    assert error.extensions["metadata"] == {"decline_code": "card_declined"}


async def test_unexpected_errors_are_masked_and_logged(caplog):
    schema = build_schema(GraphQLSettings())
    with caplog.at_level(logging.ERROR):
        result = await schema.execute(GET, variable_values={"id": UNKNOWN_ID}, context_value=None)
    formatted = result.errors[0].formatted
    assert formatted["message"].startswith("internal error")
    assert formatted["extensions"]["code"] == "INTERNAL"
    assert "Traceback" not in str(formatted) and "AttributeError" not in str(formatted)
    assert any(record.exc_info for record in caplog.records)


def test_shaping_rules():
    assert is_unexpected(GraphQLError("boom", path=["payment"], original_error=RuntimeError("x")))
    assert not is_unexpected(GraphQLError("Syntax Error"))
    assert shaped(GraphQLError("Cannot query field")).extensions["code"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("body, content_type, status, reason", [
    (b'{"query": "{ payment(payment_id: \\"x\\") { payment_id }"}', "application/json", 400,
     "GRAPHQL_PARSE_FAILED"),
    (b'{"query": "{ nothing }"}', "application/json", 400, "GRAPHQL_VALIDATION_FAILED"),
    (b'{"query": "query A { __typename }", "operationName": "B"}', "application/json", 400,
     "GRAPHQL_VALIDATION_FAILED"),
    (b"{not json", "application/json", 400, "BAD_REQUEST"),
    (b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * 30000 + b"]" * 30000 + b"}}",
     "application/json", 400, "BAD_REQUEST"),
    (b"\xff\xfe", "application/json", 400, "BAD_REQUEST"),
    (b'[{"query": "{ __typename }"}]', "application/json", 400, "BAD_REQUEST"),
    (b'{"query": ""}', "application/json", 400, "BAD_REQUEST"),
    (b'{"query": "{ __typename }", "variables": [1]}', "application/json", 400, "BAD_REQUEST"),
    (b"query=%7B__typename%7D", "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
])
async def test_refused_requests_say_why(gateway, body, content_type, status, reason):
    response = await send(gateway, "POST", "/graphql", content=body,
                          headers={**AUTH, "Content-Type": content_type})
    assert response.status_code == status
    error = only_error(response)
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert error["extensions"]["reason"] == reason
    assert "data" not in response.json()
