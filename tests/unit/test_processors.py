"""Processor adapters without the network: the in-house simulator on its in-memory
ledger, the fake's scripted outcomes, and the Stripe adapter's translation
tables (exceptions, PaymentIntent statuses, request parameters)."""

from __future__ import annotations

import inspect
import pathlib
import uuid

import httpx
import pytest
import stripe
import stripe._error
import stripe.oauth_error

from service.adapters.processors import stripe as stripe_adapter
from service.adapters.processors.inhouse.memory_ledger import InMemoryLedger
from service.adapters.processors.inhouse.methods import SIMULATED_METHODS
from service.adapters.processors.inhouse.processor import InHouseProcessor
from service.adapters.processors.inhouse.records import MAX_IDEMPOTENCY_KEY_LENGTH
from service.adapters.tables import inhouse_idempotency_keys
from service.config import ConfigError, Settings
from service.domain.errors import (
    ProcessorDeclined,
    ProcessorError,
    ProcessorInvalidRequest,
    ProcessorOutcomeUnknown,
    ProcessorUnavailable,
)
from service.domain.processor import AuthorizeRequest, PaymentProcessor, ProcessorStatus
from tests.fakes import FakeProcessor, Outcome

pytestmark = pytest.mark.unit

SECRET_KEY = "sk_test_DoNotLeakThisKey123"
CARD_NUMBER = "4242424242424242"


def request(
    payment_method: str = "pm_card_visa", *, amount: int = 1000, capture: bool = False
) -> AuthorizeRequest:
    return AuthorizeRequest(
        payment_id=f"pay_{uuid.uuid4().hex}",
        merchant_id="acct_unit",
        amount=amount,
        currency="USD",
        payment_method=payment_method,
        capture=capture,
    )


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def inhouse() -> InHouseProcessor:
    return InHouseProcessor(InMemoryLedger())


# ---- the port ------------------------------------------------------------------------


def test_every_adapter_implements_the_port():
    adapters = [InHouseProcessor(), FakeProcessor(), stripe_adapter.StripeProcessor(SECRET_KEY)]
    assert all(isinstance(adapter, PaymentProcessor) for adapter in adapters)
    assert [adapter.name for adapter in adapters] == ["inhouse", "fake", "stripe"]


# ---- in-house: test payment methods -----------------------------------------------------


@pytest.mark.parametrize("token", ["pm_card_visa", "pm_card_mastercard", "pm_card_amex", "", "tok_visa"])
async def test_approving_methods_authorize(inhouse, token):
    payment = await inhouse.authorize(request(token), idempotency_key=key())
    assert payment.status is ProcessorStatus.AUTHORIZED
    assert payment.reference.startswith("ih_")
    assert (payment.amount, payment.amount_captured) == (1000, 0)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("pm_card_chargeDeclined", "card_declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error"),
        ("tok_chargeDeclined", "card_declined"),
    ],
)
async def test_declining_methods_decline_with_their_code(inhouse, token, code):
    with pytest.raises(ProcessorDeclined) as declined:
        await inhouse.authorize(request(token), idempotency_key=key())
    assert declined.value.code == code


async def test_a_replayed_decline_is_the_same_decline(inhouse):
    idempotency_key = key()
    authorize = request("pm_card_chargeDeclinedInsufficientFunds")
    for _ in range(2):
        with pytest.raises(ProcessorDeclined) as declined:
            await inhouse.authorize(authorize, idempotency_key=idempotency_key)
        assert declined.value.code == "insufficient_funds"
    assert len(inhouse.ledger.payments) == 1


async def test_automatic_capture_captures_everything(inhouse):
    payment = await inhouse.authorize(request(capture=True, amount=750), idempotency_key=key())
    assert (payment.status, payment.amount_captured) == (ProcessorStatus.CAPTURED, 750)


async def test_timeout_records_the_authorization_and_a_retry_returns_it(inhouse):
    authorize, idempotency_key = request("pm_card_timeout"), key()
    with pytest.raises(ProcessorOutcomeUnknown):
        await inhouse.authorize(authorize, idempotency_key=idempotency_key)
    [recorded] = inhouse.ledger.payments.values()
    assert recorded.status is ProcessorStatus.AUTHORIZED

    replay = await inhouse.authorize(authorize, idempotency_key=idempotency_key)
    assert (replay.reference, replay.status) == (recorded.reference, ProcessorStatus.AUTHORIZED)
    assert await inhouse.retrieve(replay.reference) == replay


async def test_unavailable_records_nothing(inhouse):
    with pytest.raises(ProcessorUnavailable):
        await inhouse.authorize(request("pm_card_unavailable"), idempotency_key=key())
    assert inhouse.ledger.payments == {} and inhouse.ledger.keys == {}


async def test_unknown_method_is_an_invalid_request_that_lists_the_known_ones(inhouse):
    with pytest.raises(ProcessorInvalidRequest) as invalid:
        await inhouse.authorize(request("pm_card_nope"), idempotency_key=key())
    assert "pm_card_visa" in invalid.value.message and "pm_card_timeout" in invalid.value.message


@pytest.mark.parametrize(
    ("token", "operation"),
    [("pm_card_captureTimeout", "capture"), ("pm_card_cancelTimeout", "cancel")],
)
async def test_capture_and_cancel_timeouts_take_effect_and_replay(inhouse, token, operation):
    authorized = await inhouse.authorize(request(token), idempotency_key=key())
    call_key = key()
    act = (
        (lambda: inhouse.capture(authorized.reference, 400, idempotency_key=call_key))
        if operation == "capture"
        else (lambda: inhouse.cancel(authorized.reference, idempotency_key=call_key))
    )
    with pytest.raises(ProcessorOutcomeUnknown):
        await act()
    state = await inhouse.retrieve(authorized.reference)
    assert state.status in (ProcessorStatus.CAPTURED, ProcessorStatus.CANCELED)
    assert await act() == state


async def test_refund_timeout_takes_effect_and_replays(inhouse):
    payment = await inhouse.authorize(request("pm_card_refundTimeout", capture=True), idempotency_key=key())
    refund_key = key()
    with pytest.raises(ProcessorOutcomeUnknown):
        await inhouse.refund(payment.reference, 300, idempotency_key=refund_key)
    assert (await inhouse.retrieve(payment.reference)).amount_refunded == 300
    replay = await inhouse.refund(payment.reference, 300, idempotency_key=refund_key)
    assert (replay.amount, replay.succeeded) == (300, True)
    assert (await inhouse.retrieve(payment.reference)).amount_refunded == 300


def test_every_simulated_method_is_documented():
    docs = (pathlib.Path(__file__).parents[2] / "docs" / "processors.md").read_text()
    assert all(f"`{token}`" in docs for token in SIMULATED_METHODS)


# ---- in-house: the payment lifecycle and its rules ----------------------------------------


async def test_capture_refund_retrieve(inhouse):
    payment = await inhouse.authorize(request(amount=1000), idempotency_key=key())
    captured = await inhouse.capture(payment.reference, 800, idempotency_key=key())
    assert (captured.status, captured.amount_captured) == (ProcessorStatus.CAPTURED, 800)
    first = await inhouse.refund(
        payment.reference, 300, idempotency_key=key(), reason="requested_by_customer"
    )
    second = await inhouse.refund(payment.reference, 500, idempotency_key=key())
    assert first.reference.startswith("ih_re_") and first.reference != second.reference
    state = await inhouse.retrieve(payment.reference)
    assert (state.amount_captured, state.amount_refunded) == (800, 800)


async def test_cancel_releases_an_authorization(inhouse):
    payment = await inhouse.authorize(request(), idempotency_key=key())
    canceled = await inhouse.cancel(payment.reference, idempotency_key=key())
    assert canceled.status is ProcessorStatus.CANCELED


@pytest.mark.parametrize(
    "breaks_a_rule",
    [
        pytest.param(
            lambda p, ref: p.capture(ref, 1001, idempotency_key=key()), id="capture-more-than-authorized"
        ),
        pytest.param(lambda p, ref: p.capture(ref, 0, idempotency_key=key()), id="capture-zero"),
        pytest.param(lambda p, ref: p.refund(ref, 10, idempotency_key=key()), id="refund-before-capture"),
        pytest.param(
            lambda p, ref: p.capture("ih_missing", 10, idempotency_key=key()), id="unknown-reference"
        ),
        pytest.param(lambda p, ref: p.retrieve("ih_missing"), id="retrieve-unknown"),
    ],
)
async def test_rule_breaking_calls_are_invalid_requests(inhouse, breaks_a_rule):
    payment = await inhouse.authorize(request(amount=1000), idempotency_key=key())
    with pytest.raises(ProcessorInvalidRequest):
        await breaks_a_rule(inhouse, payment.reference)
    assert (await inhouse.retrieve(payment.reference)).status is ProcessorStatus.AUTHORIZED


async def test_refund_beyond_captured_is_invalid(inhouse):
    payment = await inhouse.authorize(request(amount=1000, capture=True), idempotency_key=key())
    await inhouse.refund(payment.reference, 600, idempotency_key=key())
    with pytest.raises(ProcessorInvalidRequest, match="exceeds the refundable amount 400"):
        await inhouse.refund(payment.reference, 401, idempotency_key=key())


async def test_cancel_after_capture_and_capture_after_cancel_are_invalid(inhouse):
    captured = await inhouse.authorize(request(capture=True), idempotency_key=key())
    with pytest.raises(ProcessorInvalidRequest, match="only AUTHORIZED"):
        await inhouse.cancel(captured.reference, idempotency_key=key())
    authorized = await inhouse.authorize(request(), idempotency_key=key())
    await inhouse.cancel(authorized.reference, idempotency_key=key())
    with pytest.raises(ProcessorInvalidRequest, match="CANCELED"):
        await inhouse.capture(authorized.reference, 100, idempotency_key=key())


async def test_same_key_same_request_is_one_operation(inhouse):
    payment = await inhouse.authorize(request(), idempotency_key=key())
    capture_key = key()
    first = await inhouse.capture(payment.reference, 500, idempotency_key=capture_key)
    again = await inhouse.capture(payment.reference, 500, idempotency_key=capture_key)
    assert first == again


async def test_same_key_different_request_is_invalid(inhouse):
    payment = await inhouse.authorize(request(), idempotency_key=key())
    capture_key = key()
    await inhouse.capture(payment.reference, 500, idempotency_key=capture_key)
    with pytest.raises(ProcessorInvalidRequest, match="different request"):
        await inhouse.capture(payment.reference, 600, idempotency_key=capture_key)
    with pytest.raises(ProcessorInvalidRequest, match="different request"):
        await inhouse.cancel(payment.reference, idempotency_key=capture_key)


async def test_an_invalid_request_is_not_stored_under_its_key(inhouse):
    payment = await inhouse.authorize(request(amount=1000), idempotency_key=key())
    capture_key = key()
    with pytest.raises(ProcessorInvalidRequest):
        await inhouse.capture(payment.reference, 5000, idempotency_key=capture_key)
    fixed = await inhouse.capture(payment.reference, 1000, idempotency_key=capture_key)
    assert fixed.status is ProcessorStatus.CAPTURED


@pytest.mark.parametrize("bad_key", ["", "k" * 256])
async def test_idempotency_key_is_required_and_bounded(inhouse, bad_key):
    with pytest.raises(ProcessorInvalidRequest, match="idempotency_key"):
        await inhouse.authorize(request(), idempotency_key=bad_key)


def test_the_key_bound_is_the_ledger_column_width():
    assert inhouse_idempotency_keys.c.key.type.length == MAX_IDEMPOTENCY_KEY_LENGTH == 255


# ---- the fake ----------------------------------------------------------------------------


async def test_fake_unscripted_calls_behave_like_the_simulator():
    fake = FakeProcessor()
    payment = await fake.authorize(request(), idempotency_key="a1")
    await fake.capture(payment.reference, 1000, idempotency_key="c1")
    assert [(call.operation, call.idempotency_key) for call in fake.calls] == [
        ("authorize", "a1"),
        ("capture", "c1"),
    ]
    assert (await fake.retrieve(payment.reference)).status is ProcessorStatus.CAPTURED


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        (Outcome.DECLINED, ProcessorDeclined),
        (Outcome.INVALID, ProcessorInvalidRequest),
        (Outcome.UNAVAILABLE, ProcessorUnavailable),
    ],
)
async def test_fake_scripted_failures_record_nothing_and_are_used_once(outcome, error):
    fake = FakeProcessor().script("authorize", outcome, code="do_not_honor")
    with pytest.raises(error) as raised:
        await fake.authorize(request(), idempotency_key="a1")
    if outcome is Outcome.DECLINED:
        assert raised.value.code == "do_not_honor"
    assert fake.ledger.payments == {}
    assert (await fake.authorize(request(), idempotency_key="a2")).status is ProcessorStatus.AUTHORIZED


async def test_fake_lost_answer_takes_effect_and_a_retry_returns_it():
    fake = FakeProcessor()
    payment = await fake.authorize(request(), idempotency_key="a1")
    fake.script("capture", Outcome.ANSWER_LOST)
    with pytest.raises(ProcessorOutcomeUnknown):
        await fake.capture(payment.reference, 400, idempotency_key="c1")
    assert (await fake.retrieve(payment.reference)).status is ProcessorStatus.CAPTURED
    retried = await fake.capture(payment.reference, 400, idempotency_key="c1")
    assert (retried.status, retried.amount_captured) == (ProcessorStatus.CAPTURED, 400)
    assert len(fake.calls_of("capture")) == 2


def test_fake_rejects_a_script_for_an_unknown_operation():
    with pytest.raises(ValueError, match="unknown operation"):
        FakeProcessor().script("charge", Outcome.DECLINED)


# ---- stripe: every library exception is translated ------------------------------------------


def stripe_error_classes() -> set[type[stripe.StripeError]]:
    """Every StripeError subclass the library exposes (module members, then their subclasses)."""
    found: set[type[stripe.StripeError]] = set()
    for module in (stripe, stripe._error, stripe.oauth_error):
        for name in dir(module):
            member = getattr(module, name, None)
            if inspect.isclass(member) and issubclass(member, stripe.StripeError):
                found.add(member)
    pending = list(found)
    while pending:
        for subclass in pending.pop().__subclasses__():
            if subclass not in found:
                found.add(subclass)
                pending.append(subclass)
    return found


LEAKY_MESSAGE = (
    f"Invalid API Key provided: {SECRET_KEY}; Authorization was 'Bearer {SECRET_KEY}'; card {CARD_NUMBER}"
)


def instantiate(cls: type[stripe.StripeError]) -> stripe.StripeError:
    """An instance of ``cls`` whose message contains a secret key and a card number."""
    arguments = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in ("message", "description"):
            arguments[name] = LEAKY_MESSAGE
        elif parameter.default is parameter.empty:
            arguments[name] = None
    return cls(**arguments)


def test_the_walk_finds_the_library_exceptions():
    classes = stripe_error_classes()
    assert len(classes) >= 30
    assert {stripe.CardError, stripe.APIConnectionError, stripe.oauth_error.InvalidGrantError} <= classes


@pytest.mark.parametrize(
    "cls",
    sorted(stripe_error_classes(), key=lambda c: (c.__module__, c.__qualname__)),
    ids=lambda c: f"{c.__module__}.{c.__qualname__}",
)
def test_every_stripe_exception_is_mapped_and_redacted(cls):
    assert cls in stripe_adapter.ERROR_TRANSLATIONS, f"{cls.__module__}.{cls.__qualname__} is not mapped"
    translated = stripe_adapter.translate_error(instantiate(cls), secrets=[SECRET_KEY])
    assert isinstance(translated, ProcessorError)
    assert type(translated) is not ProcessorError
    assert SECRET_KEY not in str(translated) and CARD_NUMBER not in str(translated)


def error_with_cause(cause: Exception) -> stripe.APIConnectionError:
    try:
        try:
            raise cause
        except Exception as exc:
            raise stripe.APIConnectionError("Unexpected error communicating with Stripe.") from exc
    except stripe.APIConnectionError as error:
        return error


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (httpx.ConnectError("All connection attempts failed"), ProcessorUnavailable),
        (httpx.ConnectTimeout("connect timed out"), ProcessorUnavailable),
        (httpx.PoolTimeout("no connection available"), ProcessorUnavailable),
        (httpx.ReadTimeout("read timed out"), ProcessorOutcomeUnknown),
        (httpx.WriteTimeout("write timed out"), ProcessorOutcomeUnknown),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            ProcessorOutcomeUnknown,
        ),
        (httpx.ReadError("connection reset"), ProcessorOutcomeUnknown),
    ],
)
def test_connection_errors_split_on_whether_the_request_was_sent(cause, expected):
    assert type(stripe_adapter.translate_error(error_with_cause(cause))) is expected


def test_a_connection_error_without_a_cause_is_outcome_unknown():
    translated = stripe_adapter.translate_error(stripe.APIConnectionError("network error"))
    assert isinstance(translated, ProcessorOutcomeUnknown)


def card_error(code: str, decline_code: str | None) -> stripe.CardError:
    error = {"type": "card_error", "code": code, "message": "Your card was declined.", "param": ""}
    if decline_code:
        error["decline_code"] = decline_code
    return stripe.CardError("Your card was declined.", "", code, http_status=402, json_body={"error": error})


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (card_error("card_declined", "insufficient_funds"), "insufficient_funds"),
        (card_error("expired_card", None), "expired_card"),
    ],
)
def test_card_errors_are_declines_with_the_most_specific_code(error, code):
    translated = stripe_adapter.translate_error(error)
    assert isinstance(translated, ProcessorDeclined) and translated.code == code


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            stripe.InvalidRequestError("No such payment_intent: 'pi_x'", "intent", http_status=404),
            ProcessorInvalidRequest,
        ),
        (
            stripe.IdempotencyError("Keys for idempotent requests can only be used with the same parameters"),
            ProcessorInvalidRequest,
        ),
        (stripe.AuthenticationError("Invalid API Key provided"), ProcessorUnavailable),
        (stripe.PermissionError("The provided key does not have access"), ProcessorUnavailable),
        (stripe.RateLimitError("Too many requests"), ProcessorUnavailable),
        (stripe.APIError("An unknown error occurred", http_status=500), ProcessorOutcomeUnknown),
    ],
)
def test_api_errors_translate_by_meaning(error, expected):
    assert type(stripe_adapter.translate_error(error)) is expected


def test_bad_credentials_name_the_variable_not_the_key():
    translated = stripe_adapter.translate_error(
        stripe.AuthenticationError(LEAKY_MESSAGE, http_status=401), secrets=[SECRET_KEY]
    )
    assert "STRIPE_API_KEY" in translated.message and SECRET_KEY not in translated.message


def test_redact_removes_keys_headers_and_card_numbers():
    text = stripe_adapter.redact(
        f"key {SECRET_KEY} rk_live_abc Basic c2tfdGVzdA== pan 4242 4242 4242 4242", ["x"]
    )
    assert "sk_test" not in text and "rk_live" not in text and "c2tfdGVzdA" not in text and "4242" not in text


# ---- stripe: PaymentIntent statuses and request parameters -----------------------------------


def intent(status: str, **fields) -> dict:
    values = {"id": "pi_123", "object": "payment_intent", "status": status, "amount": 1000, **fields}
    return stripe.PaymentIntent.construct_from(values, SECRET_KEY).to_dict()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("requires_capture", ProcessorStatus.AUTHORIZED),
        ("succeeded", ProcessorStatus.CAPTURED),
        ("canceled", ProcessorStatus.CANCELED),
        ("requires_payment_method", ProcessorStatus.FAILED),
        ("requires_action", ProcessorStatus.FAILED),
        ("processing", ProcessorStatus.PENDING),
        ("requires_confirmation", ProcessorStatus.PENDING),
        ("a_status_from_the_future", ProcessorStatus.PENDING),
    ],
)
def test_payment_intent_statuses_map_to_processor_statuses(status, expected):
    assert stripe_adapter.payment_from_intent(intent(status)).status is expected


def test_a_failed_intent_carries_the_decline_code():
    error = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
    payment = stripe_adapter.payment_from_intent(intent("requires_payment_method", last_payment_error=error))
    assert (payment.failure_code, payment.failure_message) == (
        "insufficient_funds",
        "Your card has insufficient funds.",
    )


def test_requires_action_is_a_failure_this_service_cannot_complete():
    payment = stripe_adapter.payment_from_intent(intent("requires_action"))
    assert payment.failure_code == "authentication_required"


def test_captured_and_refunded_amounts_come_from_the_intent_and_its_charge():
    charge = {"id": "ch_1", "object": "charge", "amount_refunded": 250}
    payment = stripe_adapter.payment_from_intent(
        intent("succeeded", amount_received=800, latest_charge=charge)
    )
    assert (payment.amount_captured, payment.amount_refunded) == (800, 250)
    assert stripe_adapter.payment_from_intent(intent("succeeded", latest_charge="ch_1")).amount_refunded == 0


@pytest.mark.parametrize(("capture", "method"), [(False, "manual"), (True, "automatic")])
def test_create_parameters(capture, method):
    params = stripe_adapter._create_params(
        AuthorizeRequest("pay_1", "acct_1", 1000, "EUR", "pm_card_visa", capture, "tea", "cust_7")
    )
    assert params["capture_method"] == method and params["confirm"] is True
    assert (params["currency"], params["description"]) == ("eur", "tea")
    assert params["metadata"] == {"payment_id": "pay_1", "merchant_id": "acct_1", "customer_id": "cust_7"}
    assert "customer" not in params  # our customer ids are not Stripe Customer objects


@pytest.mark.parametrize(
    ("reason", "extra"),
    [
        ("", {"metadata": {"refund_id": "re_1"}}),
        ("duplicate", {"reason": "duplicate", "metadata": {"refund_id": "re_1"}}),
        ("changed my mind", {"metadata": {"refund_id": "re_1", "reason": "changed my mind"}}),
    ],
)
def test_refund_parameters_only_send_stripe_reasons_as_reason_and_name_our_refund(reason, extra):
    assert stripe_adapter._refund_params("pi_1", 300, reason, refund_id="re_1") == {
        "payment_intent": "pi_1",
        "amount": 300,
        **extra,
    }


def test_stripe_needs_an_api_key_and_says_which_variable():
    with pytest.raises(ConfigError, match="STRIPE_API_KEY"):
        stripe_adapter.StripeProcessor.from_settings(Settings())


async def test_stripe_needs_a_payment_method():
    processor = stripe_adapter.StripeProcessor(SECRET_KEY)
    with pytest.raises(ProcessorInvalidRequest, match="payment_method"):
        await processor.authorize(request(""), idempotency_key=key())
    await processor.aclose()
