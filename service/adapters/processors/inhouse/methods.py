"""The in-house processor's test payment methods (docs/processors.md lists them).

Outcomes depend only on the payment method token, in the spirit of Stripe's
test cards: approvals, declines with a code, and faults of one kind of call.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

from service.domain.errors import ProcessorInvalidRequest

DEFAULT_METHOD = "pm_card_visa"


class Fault(enum.Enum):
    """A simulated failure of one kind of call."""

    UNAVAILABLE = "unavailable"  # refused before anything happened: nothing recorded
    ANSWER_LOST = "answer_lost"  # recorded, but the answer never reached the caller


@dataclasses.dataclass(frozen=True)
class SimulatedMethod:
    """How the in-house processor treats one test payment method token."""

    token: str
    summary: str
    decline_code: str = ""
    decline_message: str = ""
    faults: Mapping[str, Fault] = dataclasses.field(default_factory=dict)

    def fault(self, operation: str) -> Fault | None:
        return self.faults.get(operation)


def _approve(token: str, summary: str, **faults: Fault) -> SimulatedMethod:
    return SimulatedMethod(token, summary, faults=faults)


def _decline(token: str, code: str, message: str) -> SimulatedMethod:
    return SimulatedMethod(token, f"declined: {code}", decline_code=code, decline_message=message)


SIMULATED_METHODS: dict[str, SimulatedMethod] = {
    method.token: method
    for method in (
        _approve("pm_card_visa", "approved (the default when no payment method is given)"),
        _approve("pm_card_mastercard", "approved"),
        _approve("pm_card_amex", "approved"),
        _decline("pm_card_chargeDeclined", "card_declined", "Your card was declined."),
        _decline(
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
        _decline("pm_card_chargeDeclinedExpiredCard", "expired_card", "Your card has expired."),
        _decline(
            "pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "Your card's security code is incorrect."
        ),
        _decline(
            "pm_card_chargeDeclinedProcessingError",
            "processing_error",
            "An error occurred while processing your card.",
        ),
        _approve(
            "pm_card_timeout",
            "authorization recorded, answer lost (ProcessorOutcomeUnknown); a retry with the key returns it",
            authorize=Fault.ANSWER_LOST,
        ),
        _approve(
            "pm_card_unavailable",
            "processor unreachable (ProcessorUnavailable); nothing recorded",
            authorize=Fault.UNAVAILABLE,
        ),
        _approve(
            "pm_card_captureTimeout",
            "approved; every new capture is recorded but its answer is lost",
            capture=Fault.ANSWER_LOST,
        ),
        _approve(
            "pm_card_cancelTimeout",
            "approved; every new cancel is recorded but its answer is lost",
            cancel=Fault.ANSWER_LOST,
        ),
        _approve(
            "pm_card_refundTimeout",
            "approved; every new refund is recorded but its answer is lost",
            refund=Fault.ANSWER_LOST,
        ),
        # Things that happen later (simulator.py plays them and sends the webhooks):
        _approve("pm_card_refundFail", "approved; a refund is accepted as PENDING, then fails"),
        _approve("pm_card_createDispute", "approved; once captured, the charge is disputed (a chargeback)"),
        _approve("pm_card_createDisputeInquiry", "approved; once captured, an inquiry is opened (no money moves)"),
    )
}


def resolve_method(token: str) -> SimulatedMethod:
    """The simulated method for ``token``; ``""`` is pm_card_visa, ``tok_x`` is ``pm_card_x``."""
    token = token.strip() or DEFAULT_METHOD
    if token.startswith("tok_"):
        token = "pm_card_" + token.removeprefix("tok_")
    method = SIMULATED_METHODS.get(token)
    if method is None:
        raise ProcessorInvalidRequest(
            f"payment_method: unknown test payment method {token!r}; use one of "
            + ", ".join(SIMULATED_METHODS)
        )
    return method
