"""The domain's own exceptions.

Each carries a stable machine-readable ``reason`` (surfaced as
``google.rpc.ErrorInfo.reason``) and, for validation errors, the ``field``
that broke a rule. Entry points map the classes to gRPC status codes.
"""

from __future__ import annotations


class PaymentError(Exception):
    """Base class of every error the service reports to a caller."""

    reason = "PAYMENT_ERROR"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidArgument(PaymentError):
    """A request field breaks a rule; nothing was written."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.description = message


class Unauthenticated(PaymentError):
    """No API key, or one that maps to no merchant."""

    reason = "UNAUTHENTICATED"


class NotFound(PaymentError):
    """No such payment for this merchant."""

    reason = "PAYMENT_NOT_FOUND"


class IllegalTransition(PaymentError):
    """The payment's state forbids the action; nothing changed."""


class PaymentNotCapturable(IllegalTransition):
    reason = "PAYMENT_NOT_CAPTURABLE"


class AmountExceedsCapturable(IllegalTransition):
    reason = "AMOUNT_EXCEEDS_CAPTURABLE"


class PaymentNotRefundable(IllegalTransition):
    reason = "PAYMENT_NOT_REFUNDABLE"


class RefundExceedsCaptured(IllegalTransition):
    reason = "REFUND_EXCEEDS_CAPTURED"


class PaymentNotCancelable(IllegalTransition):
    reason = "PAYMENT_NOT_CANCELABLE"


class DisputeClosed(IllegalTransition):
    """Evidence or closing was asked of a dispute that is already WON, LOST or WARNING_CLOSED."""

    reason = "DISPUTE_CLOSED"


class IdempotencyKeyReused(PaymentError):
    """The idempotency key was first used with different parameters."""

    reason = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyKeyInUse(PaymentError):
    """Another request with the same key is still running: retry later."""

    reason = "IDEMPOTENCY_KEY_IN_USE"


class ConcurrentUpdate(PaymentError):
    """The payment changed underneath this request: retry."""

    reason = "CONCURRENT_UPDATE"


class Unavailable(PaymentError):
    """A dependency (database, processor) is unreachable: retry with the same key."""

    reason = "UNAVAILABLE"


# ---- processor outcomes, raised by processor adapters at their boundary ----


class ProcessorError(PaymentError):
    """Base class of errors raised by PaymentProcessor adapters."""

    reason = "PROCESSOR_ERROR"


class ProcessorDeclined(ProcessorError):
    """The processor refused the payment (card declined, insufficient funds...)."""

    reason = "PAYMENT_DECLINED"

    def __init__(self, message: str, *, code: str = "card_declined") -> None:
        super().__init__(message)
        self.code = code


class ProcessorInvalidRequest(ProcessorError):
    """The processor rejected the request as malformed; retrying will not help."""

    reason = "PROCESSOR_INVALID_REQUEST"


class ProcessorUnavailable(ProcessorError):
    """The processor could not be reached and did nothing: safe to retry."""

    reason = "PROCESSOR_UNAVAILABLE"


class ProcessorOutcomeUnknown(ProcessorError):
    """The request may or may not have taken effect (timeout after sending)."""

    reason = "PROCESSOR_OUTCOME_UNKNOWN"
