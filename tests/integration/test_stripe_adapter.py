"""The Stripe adapter against the REAL stripe-mock, and against real sockets that fail.

stripe-mock validates each request against Stripe's OpenAPI spec and answers
with fixed fixtures (a PaymentIntent in ``requires_payment_method``, a
``succeeded`` refund), so these tests assert what it can tell: the requests
are valid, the idempotency key is sent (stripe-mock echoes it), statuses and
errors are translated. The recording client wraps the library's real
HTTPXClient; nothing about Stripe is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Mapping

import pytest
import stripe

from service.adapters.processors.registry import load_processors
from service.adapters.processors.stripe import StripeProcessor
from service.config import Settings
from service.domain.errors import (
    ProcessorDeclined,
    ProcessorInvalidRequest,
    ProcessorOutcomeUnknown,
    ProcessorUnavailable,
)
from service.domain.processor import AuthorizeRequest, ProcessorStatus

# The stripe library hands httpx raw bytes as data=, which httpx deprecates; not ours to fix.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Use .content=<...>. to upload raw bytes:DeprecationWarning"),
]

API_KEY = "sk_test_123"


@dataclasses.dataclass
class Exchange:
    method: str
    path: str
    headers: Mapping[str, str]
    form: dict[str, list[str]]
    status: int
    response_headers: Mapping[str, str]


class RecordingHTTPXClient(stripe.HTTPXClient):
    """The library's real async HTTP client, keeping a copy of each request and response."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.exchanges: list[Exchange] = []

    async def request_async(self, method, url, headers, post_data=None):
        content, status, response_headers = await super().request_async(method, url, headers, post_data)
        form = urllib.parse.parse_qs(post_data.decode() if isinstance(post_data, bytes) else post_data or "")
        path = urllib.parse.urlsplit(url).path
        self.exchanges.append(Exchange(method, path, dict(headers), form, status, dict(response_headers)))
        return content, status, response_headers


@pytest.fixture
async def recorder() -> AsyncIterator[RecordingHTTPXClient]:
    client = RecordingHTTPXClient(timeout=10)
    yield client
    await client.close_async()


@pytest.fixture
def processor(stripe_mock, recorder) -> StripeProcessor:
    return StripeProcessor(API_KEY, api_base=stripe_mock, http_client=recorder)


def authorize_request(*, amount: int = 1000, capture: bool = False) -> AuthorizeRequest:
    return AuthorizeRequest(
        payment_id="pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K",
        merchant_id="acct_local",
        amount=amount,
        currency="USD",
        payment_method="pm_card_visa",
        capture=capture,
        description="integration test",
        customer_id="cust_42",
    )


def key() -> str:
    return f"test-{uuid.uuid4().hex}"


# ---- valid requests, status mapping, the idempotency key ---------------------------------------


@pytest.mark.parametrize(("capture", "capture_method"), [(False, "manual"), (True, "automatic")])
async def test_authorize_sends_a_valid_confirmed_payment_intent(processor, recorder, capture, capture_method):
    idempotency_key = key()
    # stripe-mock's fixture intent is always requires_payment_method: a decline, mapped as one
    with pytest.raises(ProcessorDeclined) as declined:
        await processor.authorize(authorize_request(capture=capture), idempotency_key=idempotency_key)
    assert declined.value.code == "payment_failed"

    [exchange] = recorder.exchanges
    assert (exchange.method, exchange.path, exchange.status) == ("post", "/v1/payment_intents", 200)
    assert exchange.headers["Idempotency-Key"] == idempotency_key
    assert exchange.response_headers["idempotency-key"] == idempotency_key
    assert exchange.form["capture_method"] == [capture_method]
    assert exchange.form["confirm"] == ["true"]
    assert exchange.form["currency"] == ["usd"]
    assert exchange.form["metadata[payment_id]"] == ["pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K"]
    assert exchange.form["automatic_payment_methods[allow_redirects]"] == ["never"]


async def test_capture_sends_amount_to_capture_and_checks_the_resulting_status(processor, recorder):
    idempotency_key = key()
    with pytest.raises(ProcessorInvalidRequest, match="left payment pi_123 FAILED after capture"):
        await processor.capture("pi_123", 500, idempotency_key=idempotency_key)
    [exchange] = recorder.exchanges
    assert (exchange.path, exchange.status) == ("/v1/payment_intents/pi_123/capture", 200)
    assert exchange.form == {"amount_to_capture": ["500"]}
    assert exchange.headers["Idempotency-Key"] == idempotency_key


async def test_cancel_is_sent_with_its_key(processor, recorder):
    idempotency_key = key()
    with pytest.raises(ProcessorInvalidRequest, match="after cancel"):
        await processor.cancel("pi_123", idempotency_key=idempotency_key)
    [exchange] = recorder.exchanges
    assert (exchange.path, exchange.status) == ("/v1/payment_intents/pi_123/cancel", 200)
    assert exchange.headers["Idempotency-Key"] == idempotency_key


@pytest.mark.parametrize("reason", ["", "requested_by_customer", "the customer changed their mind"])
async def test_refund(processor, recorder, reason):
    idempotency_key = key()
    refund = await processor.refund("pi_123", 300, idempotency_key=idempotency_key, reason=reason)
    assert refund.reference.startswith("re_") and (refund.amount, refund.succeeded) == (300, True)
    [exchange] = recorder.exchanges
    assert (exchange.path, exchange.status) == ("/v1/refunds", 200)
    assert exchange.form["payment_intent"] == ["pi_123"] and exchange.form["amount"] == ["300"]
    assert exchange.headers["Idempotency-Key"] == idempotency_key


async def test_retrieve_maps_the_intent(processor, recorder):
    payment = await processor.retrieve("pi_123")
    assert (payment.reference, payment.status) == ("pi_123", ProcessorStatus.FAILED)
    [exchange] = recorder.exchanges
    assert (exchange.method, exchange.path) == ("get", "/v1/payment_intents/pi_123")
    assert "Idempotency-Key" not in exchange.headers


# ---- errors from stripe-mock ------------------------------------------------------------------


async def test_an_invalid_parameter_is_an_invalid_request(processor):
    with pytest.raises(ProcessorInvalidRequest, match="amount") as raised:
        await processor.authorize(authorize_request(amount=10**23), idempotency_key=key())
    assert isinstance(raised.value.__cause__, stripe.InvalidRequestError)


async def test_an_unknown_resource_path_is_an_invalid_request(processor):
    with pytest.raises(ProcessorInvalidRequest, match="Unrecognized request URL"):
        await processor.capture("pi_123/../refunds", 100, idempotency_key=key())


async def test_refused_credentials_name_the_variable_and_never_the_key(stripe_mock):
    secret = "sk_live_ThisMustNeverAppear"  # stripe-mock accepts only test-mode keys
    processor = StripeProcessor(secret, api_base=stripe_mock)
    try:
        with pytest.raises(ProcessorUnavailable, match="STRIPE_API_KEY") as raised:
            await processor.retrieve("pi_123")
    finally:
        await processor.aclose()
    assert secret not in str(raised.value)


# ---- networks that fail ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def tcp_server(handle) -> AsyncIterator[str]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def read_request_then_hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(30)
    writer.close()


async def read_request_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


async def capture_against(base_url: str, **timeouts: float) -> None:
    processor = StripeProcessor(API_KEY, api_base=base_url, **timeouts)
    try:
        await processor.capture("pi_123", 100, idempotency_key=key())
    finally:
        await processor.aclose()


async def test_connection_refused_is_unavailable():
    async with tcp_server(read_request_then_hang_up) as base_url:
        pass  # the port is closed again: nothing listens there now
    with pytest.raises(ProcessorUnavailable, match="nothing was sent"):
        await capture_against(base_url)


async def test_no_answer_after_sending_is_outcome_unknown():
    async with tcp_server(read_request_then_hang) as base_url:
        with pytest.raises(ProcessorOutcomeUnknown, match="ReadTimeout"):
            await capture_against(base_url, timeout=0.5)


async def test_connection_dropped_after_sending_is_outcome_unknown():
    async with tcp_server(read_request_then_hang_up) as base_url:
        with pytest.raises(ProcessorOutcomeUnknown, match="RemoteProtocolError"):
            await capture_against(base_url)


async def test_settings_configure_key_and_base_url_through_the_registry(stripe_mock):
    settings = Settings(stripe_api_key=API_KEY, stripe_api_base=stripe_mock)
    processors = load_processors(settings)
    try:
        refund = await processors.get("stripe").refund("pi_123", 100, idempotency_key=key())
    finally:
        await processors.aclose()
    assert refund.succeeded
