"""Stripe adapter: the PaymentProcessor port on Stripe PaymentIntents.

Uses the official ``stripe`` library's client object (v16 ``StripeClient``) and
its native async methods (``create_async`` ...) over the library's own
``HTTPXClient``; no thread pool. Every mutating call sends the caller's
idempotency key (``options={"idempotency_key": ...}``, the ``Idempotency-Key``
header), so a retry with the same key is the same operation at Stripe.

Network behaviour: short timeouts and ``max_network_retries=0``. The library's
retry loop would hide whether an *earlier* attempt reached Stripe (only the
last attempt's exception survives), and that is exactly what decides between
ProcessorUnavailable and ProcessorOutcomeUnknown. Retries stay safe because
the service retries with the same idempotency key, and reconciliation closes
what is left.

Every ``stripe.StripeError`` subclass is translated at this boundary through
ERROR_TRANSLATIONS (a unit test fails if the library grows a class that is not
listed). Messages are redacted: no API keys, no authorization headers, nothing
that looks like a card number.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import stripe
import stripe.oauth_error

from service.config import ConfigError
from service.domain.errors import (
    ProcessorDeclined,
    ProcessorError,
    ProcessorInvalidRequest,
    ProcessorOutcomeUnknown,
    ProcessorUnavailable,
)
from service.domain.processor import (
    AuthorizeRequest,
    DisputeEvidence,
    DisputeStatus,
    ProcessorDispute,
    ProcessorPayment,
    ProcessorRefund,
    ProcessorRefundStatus,
    ProcessorStatus,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from service.config import Settings

DEFAULT_API_BASE = stripe.DEFAULT_API_BASE
DEFAULT_TIMEOUT_SECONDS = 20.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 3.0

# Stripe's own refund reasons; any other reason travels in metadata.
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})

PAYMENT_INTENT_STATUSES: dict[str, ProcessorStatus] = {
    "requires_capture": ProcessorStatus.AUTHORIZED,
    "succeeded": ProcessorStatus.CAPTURED,
    "canceled": ProcessorStatus.CANCELED,
    "requires_payment_method": ProcessorStatus.FAILED,
    "requires_action": ProcessorStatus.FAILED,
    "requires_confirmation": ProcessorStatus.PENDING,
    "processing": ProcessorStatus.PENDING,
}


# ---- redaction ---------------------------------------------------------------------

_SECRET_LOOKING = re.compile(
    r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_]+"  # API keys and webhook secrets
    r"|\b(?:Bearer|Basic)\s+\S+"  # authorization headers echoed back
    r"|\b\d(?:[ -]?\d){11,18}\b"  # anything shaped like a card number
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secrets or anything shaped like a key or card number."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _SECRET_LOOKING.sub("[redacted]", text)


# ---- error translation ---------------------------------------------------------------

Translator = Callable[[stripe.StripeError, str], ProcessorError]

# Failures where the request never left this process: nothing happened at Stripe.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _error_data(exc: stripe.StripeError) -> Mapping[str, Any]:
    body = exc.json_body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return {}


def _declined(exc: stripe.StripeError, detail: str) -> ProcessorError:
    data = _error_data(exc)
    code = data.get("decline_code") or exc.code or "card_declined"
    return ProcessorDeclined(f"stripe declined the payment: {detail}", code=code)


def _declined_insufficient_funds(exc: stripe.StripeError, detail: str) -> ProcessorError:
    return ProcessorDeclined(f"stripe declined the payment: {detail}", code="insufficient_funds")


def _invalid(exc: stripe.StripeError, detail: str) -> ProcessorError:
    param = getattr(exc, "param", None)
    where = f" (param {param})" if param else ""
    return ProcessorInvalidRequest(f"stripe rejected the request{where}: {detail}")


def _idempotency_conflict(exc: stripe.StripeError, detail: str) -> ProcessorError:
    return ProcessorInvalidRequest(
        f"stripe refused the idempotency key (reused with other parameters): {detail}"
    )


def _bad_credentials(exc: stripe.StripeError, detail: str) -> ProcessorError:
    return ProcessorUnavailable(
        f"stripe refused the credentials (HTTP {exc.http_status}); check STRIPE_API_KEY."
        f" Nothing was done: {detail}"
    )


def _throttled(exc: stripe.StripeError, detail: str) -> ProcessorError:
    return ProcessorUnavailable(f"stripe is throttling requests; nothing was done, retry later: {detail}")


def _unknown(exc: stripe.StripeError, detail: str) -> ProcessorError:
    return ProcessorOutcomeUnknown(
        f"stripe failed without a definite answer; the outcome is unknown: {detail}"
    )


def _connection(exc: stripe.StripeError, detail: str) -> ProcessorError:
    cause = exc.__cause__
    if isinstance(cause, _NOT_SENT):
        return ProcessorUnavailable(f"stripe not reached ({type(cause).__name__}); nothing was sent")
    reason = type(cause).__name__ if cause is not None else "connection error"
    return ProcessorOutcomeUnknown(f"no answer from stripe after sending ({reason}); the outcome is unknown")


ERROR_TRANSLATIONS: dict[type[stripe.StripeError], Translator] = {
    # v1 API errors (the ones PaymentIntents and Refunds raise)
    stripe.CardError: _declined,
    stripe.InvalidRequestError: _invalid,
    stripe.StripeErrorWithParamCode: _invalid,
    stripe.IdempotencyError: _idempotency_conflict,
    stripe.AuthenticationError: _bad_credentials,
    stripe.PermissionError: _bad_credentials,
    stripe.RateLimitError: _throttled,
    stripe.APIError: _unknown,  # 5xx or an unreadable answer: Stripe says the result is indeterminate
    stripe.APIConnectionError: _connection,
    stripe.StripeError: _unknown,  # anything newer than this table: the safe answer
    # not raised by API calls (webhooks, OAuth); listed so nothing is unmapped
    stripe.SignatureVerificationError: _invalid,
    stripe.oauth_error.OAuthError: _invalid,
    stripe.oauth_error.InvalidClientError: _invalid,
    stripe.oauth_error.InvalidGrantError: _invalid,
    stripe.oauth_error.InvalidRequestError: _invalid,
    stripe.oauth_error.InvalidScopeError: _invalid,
    stripe.oauth_error.UnsupportedGrantTypeError: _invalid,
    stripe.oauth_error.UnsupportedResponseTypeError: _invalid,
    # v2 API errors (typed by the error's ``type``)
    stripe.InsufficientFundsError: _declined_insufficient_funds,
    stripe.BlockedByStripeError: _declined,
    stripe.QuotaExceededError: _throttled,
    stripe.AlreadyCanceledError: _invalid,
    stripe.CannotProceedError: _invalid,
    stripe.CapabilityNotEnabledError: _invalid,
    stripe.ControlledByAlternateResourceError: _invalid,
    stripe.FeatureNotEnabledError: _invalid,
    stripe.FinancialAccountNotOpenError: _invalid,
    stripe.FxQuoteNeedsRefreshError: _invalid,
    stripe.InvalidPaymentMethodError: _invalid,
    stripe.InvalidPayoutMethodError: _invalid,
    stripe.InvalidVaultedCredentialError: _invalid,
    stripe.NotCancelableError: _invalid,
    stripe.RecipientNotNotifiableError: _invalid,
    stripe.TemporarySessionExpiredError: _invalid,
    stripe.VerificationAttemptFailedError: _invalid,
    stripe.VerificationExpiredError: _invalid,
    stripe.VerificationNotInitiatedError: _invalid,
}


def translate_error(exc: stripe.StripeError, *, secrets: Iterable[str] = ()) -> ProcessorError:
    """The project's ProcessorError for a stripe library exception (closest class in the table)."""
    detail = redact(exc.user_message or type(exc).__name__, secrets)
    if exc.request_id:
        detail += f" (request {exc.request_id})"
    for cls in type(exc).__mro__:
        translator = ERROR_TRANSLATIONS.get(cls)
        if translator is not None:
            return translator(exc, detail)
    return _unknown(exc, detail)


# ---- PaymentIntent -> ProcessorPayment ------------------------------------------------------


def _failure(intent: Mapping[str, Any]) -> tuple[str, str]:
    if intent.get("status") == "requires_action":
        return (
            "authentication_required",
            "the payment needs customer authentication, which this service cannot do",
        )
    error = intent.get("last_payment_error") or {}
    code = error.get("decline_code") or error.get("code") or "payment_failed"
    return code, redact(error.get("message") or "the payment method was declined")


def _amount_refunded(intent: Mapping[str, Any]) -> int:
    charge = intent.get("latest_charge")
    return charge.get("amount_refunded", 0) if isinstance(charge, Mapping) else 0


def payment_from_intent(intent: Mapping[str, Any]) -> ProcessorPayment:
    """The processor's view of a PaymentIntent (as a plain dict)."""
    status = PAYMENT_INTENT_STATUSES.get(intent.get("status", ""), ProcessorStatus.PENDING)
    code, message = _failure(intent) if status is ProcessorStatus.FAILED else ("", "")
    return ProcessorPayment(
        reference=intent["id"],
        status=status,
        amount=intent.get("amount", 0),
        amount_captured=intent.get("amount_received") or 0 if status is ProcessorStatus.CAPTURED else 0,
        amount_refunded=_amount_refunded(intent),
        failure_code=code,
        failure_message=message,
    )


def _expect(payment: ProcessorPayment, wanted: tuple[ProcessorStatus, ...], action: str) -> ProcessorPayment:
    """``payment`` if its status is one of ``wanted``; else the matching ProcessorError."""
    if payment.status in wanted:
        return payment
    if payment.status is ProcessorStatus.PENDING:
        raise ProcessorOutcomeUnknown(
            f"stripe payment {payment.reference} is still processing after {action}"
        )
    if action == "authorize" and payment.status is ProcessorStatus.FAILED:
        raise ProcessorDeclined(payment.failure_message, code=payment.failure_code)
    raise ProcessorInvalidRequest(
        f"stripe left payment {payment.reference} {payment.status.value} after {action}"
    )


# authorize also returns PENDING ("processing"): the caller keeps the reference and reconciles with retrieve.
_AUTHORIZE_RESULTS = (ProcessorStatus.AUTHORIZED, ProcessorStatus.CAPTURED, ProcessorStatus.PENDING)


REFUND_STATUSES: dict[str, ProcessorRefundStatus] = {
    "pending": ProcessorRefundStatus.PENDING,  # accepted, not moved yet: it may still fail
    "requires_action": ProcessorRefundStatus.PENDING,
    "succeeded": ProcessorRefundStatus.SUCCEEDED,
    "failed": ProcessorRefundStatus.FAILED,
    "canceled": ProcessorRefundStatus.CANCELED,
}


def refund_from_stripe(refund: Mapping[str, Any]) -> ProcessorRefund:
    """The processor's view of a Refund (as a plain dict); an unknown status counts as PENDING."""
    metadata = refund.get("metadata") or {}
    intent = refund.get("payment_intent") or ""
    return ProcessorRefund(
        reference=refund["id"],
        amount=int(refund.get("amount") or 0),
        status=REFUND_STATUSES.get(refund.get("status") or "", ProcessorRefundStatus.PENDING),
        failure_reason=str(refund.get("failure_reason") or ""),
        refund_id=str(metadata.get("refund_id") or "") if isinstance(metadata, Mapping) else "",
        payment_reference=intent if isinstance(intent, str) else str(intent.get("id", "")),
    )


DISPUTE_STATUSES: dict[str, DisputeStatus] = {
    "warning_needs_response": DisputeStatus.WARNING_NEEDS_RESPONSE,
    "warning_under_review": DisputeStatus.WARNING_UNDER_REVIEW,
    "warning_closed": DisputeStatus.WARNING_CLOSED,
    "needs_response": DisputeStatus.NEEDS_RESPONSE,
    "under_review": DisputeStatus.UNDER_REVIEW,
    "won": DisputeStatus.WON,
    "lost": DisputeStatus.LOST,
    "prevented": DisputeStatus.WON,  # stopped before money moved
}


def dispute_from_stripe(dispute: Mapping[str, Any], *, withdrawn: bool = False,
                        reinstated: bool = False) -> ProcessorDispute:
    """The processor's view of a Dispute (a plain dict). Its balance transactions tell whether
    funds were withdrawn (negative) or reinstated (positive); so do the funds_* event types."""
    status = DISPUTE_STATUSES.get(str(dispute.get("status") or ""))
    if status is None:
        raise ValueError(f"unknown dispute status {dispute.get('status')!r}")
    for transaction in dispute.get("balance_transactions") or ():
        amount = transaction.get("amount", 0) if isinstance(transaction, Mapping) else 0
        withdrawn, reinstated = withdrawn or amount < 0, reinstated or amount > 0
    due = (dispute.get("evidence_details") or {}).get("due_by")
    intent = dispute.get("payment_intent") or ""
    return ProcessorDispute(
        reference=str(dispute["id"]),
        payment_reference=intent if isinstance(intent, str) else str(intent.get("id", "")),
        amount=int(dispute.get("amount") or 0),
        status=status,
        reason=str(dispute.get("reason") or ""),
        evidence_due_by=datetime.fromtimestamp(int(due), UTC) if due else None,
        funds_withdrawn=withdrawn,
        funds_reinstated=reinstated,
    )


# ---- the adapter ------------------------------------------------------------------------------

T = TypeVar("T")


class StripeProcessor:
    """PaymentProcessor on Stripe PaymentIntents (manual capture unless request.capture)."""

    name = "stripe"
    # Stripe keeps an idempotency key for 24 hours; after that the same key is a new request.
    idempotency_retention = timedelta(hours=24)

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        http_client: stripe.HTTPClient | None = None,
    ) -> None:
        if not api_key:
            raise ConfigError("STRIPE_API_KEY is not set; the stripe processor needs a secret key (sk_...)")
        self._api_key = api_key
        self._http = http_client or stripe.HTTPXClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout)
        )
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base or DEFAULT_API_BASE},
            http_client=self._http,
            max_network_retries=0,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, engine: AsyncEngine | None = None) -> StripeProcessor:
        return cls(settings.stripe_api_key, api_base=settings.stripe_api_base or DEFAULT_API_BASE)

    async def aclose(self) -> None:
        await self._http.close_async()

    # ---- the port ----

    async def authorize(self, request: AuthorizeRequest, *, idempotency_key: str) -> ProcessorPayment:
        """AUTHORIZED or CAPTURED; PENDING while Stripe is still processing (the caller keeps the
        reference and reconciles with ``retrieve``: a replay of the key returns the original answer)."""
        if not request.payment_method:
            raise ProcessorInvalidRequest(
                "payment_method: required by the stripe processor (e.g. pm_card_visa)"
            )
        intent = await self._call(
            self._client.v1.payment_intents.create_async,
            params=_create_params(request),
            options={"idempotency_key": idempotency_key},
        )
        return _expect(payment_from_intent(intent.to_dict()), _AUTHORIZE_RESULTS, "authorize")

    async def capture(self, reference: str, amount: int, *, idempotency_key: str) -> ProcessorPayment:
        """CAPTURED, or an error: never a silent non-capture (PENDING is ProcessorOutcomeUnknown)."""
        intent = await self._call(
            self._client.v1.payment_intents.capture_async,
            reference,
            params={"amount_to_capture": amount},
            options={"idempotency_key": idempotency_key},
        )
        return _expect(payment_from_intent(intent.to_dict()), (ProcessorStatus.CAPTURED,), "capture")

    async def refund(
        self, reference: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> ProcessorRefund:
        refund = await self._call(
            self._client.v1.refunds.create_async,
            params=_refund_params(reference, amount, reason, refund_id=idempotency_key),
            options={"idempotency_key": idempotency_key},
        )
        return refund_from_stripe(refund.to_dict())

    async def cancel(self, reference: str, *, idempotency_key: str) -> ProcessorPayment:
        intent = await self._call(
            self._client.v1.payment_intents.cancel_async,
            reference,
            options={"idempotency_key": idempotency_key},
        )
        return _expect(payment_from_intent(intent.to_dict()), (ProcessorStatus.CANCELED,), "cancel")

    async def retrieve(self, reference: str) -> ProcessorPayment:
        intent = await self._call(
            self._client.v1.payment_intents.retrieve_async,
            reference,
            params={"expand": ["latest_charge"]},
        )
        return payment_from_intent(intent.to_dict())

    # ---- looking before re-sending ----

    async def find_payment(self, payment_id: str) -> ProcessorPayment | None:
        """The PaymentIntent whose metadata names ``payment_id`` (PaymentIntent search).

        Stripe's search index lags writes by up to about a minute, which is why
        reconciliation only looks at calls older than that (``--older-than``)."""
        found = await self._call(
            self._client.v1.payment_intents.search_async,
            params={"query": f"metadata['payment_id']:'{_quoted(payment_id)}'", "limit": 1,
                    "expand": ["data.latest_charge"]},
        )
        data = found.to_dict().get("data") or []
        return payment_from_intent(data[0]) if data else None

    async def find_refund(self, reference: str, refund_id: str) -> ProcessorRefund | None:
        """The refund of ``reference`` whose metadata names ``refund_id`` (Refund list, newest first)."""
        listed = await self._call(
            self._client.v1.refunds.list_async, params={"payment_intent": reference, "limit": 100})
        for refund in listed.to_dict().get("data") or []:
            if (refund.get("metadata") or {}).get("refund_id") == refund_id:
                return refund_from_stripe(refund)
        return None

    # ---- disputes ----

    async def update_dispute(
        self, reference: str, evidence: DisputeEvidence, *, submit: bool, idempotency_key: str
    ) -> ProcessorDispute:
        dispute = await self._call(
            self._client.v1.disputes.update_async,
            reference,
            params={"evidence": evidence.fields(), "submit": submit},
            options={"idempotency_key": idempotency_key},
        )
        return dispute_from_stripe(dispute.to_dict())

    async def close_dispute(self, reference: str, *, idempotency_key: str) -> ProcessorDispute:
        dispute = await self._call(
            self._client.v1.disputes.close_async, reference, options={"idempotency_key": idempotency_key})
        return dispute_from_stripe(dispute.to_dict())

    # ---- helpers ----

    async def _call(self, method: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        try:
            return await method(*args, **kwargs)
        except stripe.StripeError as exc:
            raise translate_error(exc, secrets=(self._api_key,)) from exc


def _create_params(request: AuthorizeRequest) -> dict[str, Any]:
    metadata = {"payment_id": request.payment_id, "merchant_id": request.merchant_id}
    if request.customer_id:
        metadata["customer_id"] = request.customer_id
    params: dict[str, Any] = {
        "amount": request.amount,
        "currency": request.currency.lower(),
        "payment_method": request.payment_method,
        "confirm": True,
        "capture_method": "automatic" if request.capture else "manual",
        # server-to-server: no customer is present to follow a redirect
        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        "metadata": metadata,
    }
    if request.description:
        params["description"] = request.description
    return params


def _refund_params(reference: str, amount: int, reason: str, *, refund_id: str) -> dict[str, Any]:
    # Our refund id in the metadata: webhooks and Refund.list find the refund by it.
    params: dict[str, Any] = {"payment_intent": reference, "amount": amount, "metadata": {"refund_id": refund_id}}
    if reason in REFUND_REASONS:
        params["reason"] = reason
    elif reason:
        params["metadata"]["reason"] = reason[:500]
    return params


def _quoted(value: str) -> str:
    """A value safe inside a single-quoted Stripe search string."""
    return value.replace("\\", "").replace("'", "")
