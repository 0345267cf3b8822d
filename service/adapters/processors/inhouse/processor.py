"""InHouseProcessor: the PaymentProcessor adapter over a ledger (the package docstring has the story).

Each call claims its idempotency key and does its work in one ledger
transaction; a replay answers with the stored result, a new call checks the
request as a real processor would, then applies the simulated method's outcome.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from service.domain.errors import ProcessorInvalidRequest, ProcessorOutcomeUnknown, ProcessorUnavailable
from service.domain.processor import (
    AuthorizeRequest,
    DisputeEvidence,
    ProcessorDispute,
    ProcessorPayment,
    ProcessorRefund,
    ProcessorStatus,
)

from . import codec
from .codec import decline_result, decode, payment_result, refund_result
from .ledger import Ledger, LedgerTransaction
from .memory_ledger import InMemoryLedger
from .methods import Fault, SimulatedMethod, resolve_method
from .postgres_ledger import PostgresLedger
from .records import MAX_IDEMPOTENCY_KEY_LENGTH, LedgerPayment, LedgerRefund, StoredResult

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from service.config import Settings

log = logging.getLogger(__name__)

# How long the in-house processor declares it keeps idempotency keys, unless configured.
DEFAULT_RETENTION = timedelta(hours=24)


@dataclasses.dataclass(frozen=True)
class _Outcome:
    result: Mapping[str, Any]
    answer_lost: bool = False


def _new_reference(prefix: str = "ih_") -> str:
    return prefix + secrets.token_hex(12)


class InHouseProcessor:
    """PaymentProcessor that simulates a processor deterministically on a ledger."""

    name = "inhouse"

    def __init__(self, ledger: Ledger | None = None, *,
                 idempotency_retention: timedelta = DEFAULT_RETENTION) -> None:
        self.ledger: Ledger = ledger if ledger is not None else InMemoryLedger()
        # The ledger keeps keys for ever; the declared retention is what reconciliation trusts
        # (configurable so that the "too old to re-send" path can be exercised).
        self.idempotency_retention = idempotency_retention

    @classmethod
    def from_settings(cls, settings: Settings, *, engine: AsyncEngine | None = None) -> InHouseProcessor:
        """PostgreSQL ledger on ``engine``; without one, an in-memory ledger (one process only)."""
        retention = timedelta(seconds=settings.inhouse_idempotency_retention_seconds)
        if engine is None:
            log.warning(
                "in-house processor: no database engine, using an in-memory ledger (single process only)"
            )
            return cls(InMemoryLedger(), idempotency_retention=retention)
        return cls(PostgresLedger(engine), idempotency_retention=retention)

    # ---- the port ----

    async def authorize(self, request: AuthorizeRequest, *, idempotency_key: str) -> ProcessorPayment:
        method = resolve_method(request.payment_method)
        _require_positive(request.amount)
        currency = _currency(request.currency)
        fingerprint = codec.fingerprint(
            "authorize",
            payment_id=request.payment_id,
            merchant_id=request.merchant_id,
            amount=request.amount,
            currency=currency,
            payment_method=method.token,
            capture=request.capture,
        )
        _check_key(idempotency_key)
        payment, outcome = _authorization(request, currency, method)
        async with self.ledger.transaction() as tx:  # the key, the payment and the result: one statement
            stored = await tx.add_payment_once(idempotency_key, fingerprint, payment, outcome.result)
        if stored is not None:
            _check_same_request(idempotency_key, stored, fingerprint)
            outcome = _Outcome(stored.result)
        return self._answer(outcome)

    async def capture(self, reference: str, amount: int, *, idempotency_key: str) -> ProcessorPayment:
        fingerprint = codec.fingerprint("capture", reference=reference, amount=amount)
        return await self._execute(
            idempotency_key, fingerprint, lambda tx: self._capture(tx, reference, amount)
        )

    async def refund(
        self, reference: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> ProcessorRefund:
        fingerprint = codec.fingerprint("refund", reference=reference, amount=amount)
        return await self._execute(
            idempotency_key, fingerprint, lambda tx: self._refund(tx, reference, amount, reason, idempotency_key)
        )

    async def cancel(self, reference: str, *, idempotency_key: str) -> ProcessorPayment:
        fingerprint = codec.fingerprint("cancel", reference=reference)
        return await self._execute(idempotency_key, fingerprint, lambda tx: self._cancel(tx, reference))

    async def retrieve(self, reference: str) -> ProcessorPayment:
        async with self.ledger.transaction() as tx:
            payment = await tx.payment(reference, lock=False)
        if payment is None:
            raise ProcessorInvalidRequest(f"no such in-house payment {reference!r}")
        return payment.view()

    # ---- looking before re-sending (reconciliation) ----

    async def find_payment(self, payment_id: str) -> ProcessorPayment | None:
        async with self.ledger.transaction() as tx:
            payment = await tx.payment_for(payment_id)
        return None if payment is None else payment.view()

    async def find_refund(self, reference: str, refund_id: str) -> ProcessorRefund | None:
        """Our refund id is the refund call's idempotency key: the ledger's stored answer to it."""
        async with self.ledger.transaction() as tx:
            stored = await tx.stored_result(refund_id)
        if stored is None or "refund" not in stored.result:
            return None
        return dataclasses.replace(decode(stored.result), refund_id=refund_id, payment_reference=reference)

    # ---- disputes (opened and decided later by simulator.py) ----

    async def update_dispute(
        self, reference: str, evidence: DisputeEvidence, *, submit: bool, idempotency_key: str
    ) -> ProcessorDispute:
        """Disputes live in the PostgreSQL ledger; a repeat is harmless: the same evidence gives the
        same state, and submitted evidence is final."""
        from . import simulator

        return await simulator.update_dispute(self._engine_for_disputes(reference), reference, evidence,
                                              submit=submit)

    async def close_dispute(self, reference: str, *, idempotency_key: str) -> ProcessorDispute:
        from . import simulator

        return await simulator.close_dispute(self._engine_for_disputes(reference), reference)

    def _engine_for_disputes(self, reference: str) -> AsyncEngine:
        engine = getattr(self.ledger, "engine", None) or getattr(self.ledger, "_engine", None)
        if engine is None:
            raise ProcessorInvalidRequest(
                f"no such in-house dispute {reference!r} (disputes need the PostgreSQL ledger)")
        return engine

    # ---- one idempotent call ----

    async def _execute(
        self,
        key: str,
        fingerprint: str,
        action: Callable[[LedgerTransaction], Awaitable[_Outcome]],
    ) -> Any:
        _check_key(key)
        async with self.ledger.transaction() as tx:
            stored = await tx.claim_key(key, fingerprint)
            if stored is None:
                outcome = await action(tx)
                await tx.save_result(key, outcome.result)
            else:
                _check_same_request(key, stored, fingerprint)
                outcome = _Outcome(stored.result)
        return self._answer(outcome)

    @staticmethod
    def _answer(outcome: _Outcome) -> Any:
        if outcome.answer_lost:
            raise ProcessorOutcomeUnknown("in-house processor: the answer was lost (simulated timeout)")
        return decode(outcome.result)

    # ---- the operations, inside a ledger transaction ----

    async def _capture(self, tx: LedgerTransaction, reference: str, amount: int) -> _Outcome:
        payment = await _locked_payment(tx, reference)
        _expect_status(payment, ProcessorStatus.AUTHORIZED, "captured")
        if not 0 < amount <= payment.amount:
            raise ProcessorInvalidRequest(
                f"amount: {amount} must be between 1 and the authorized amount {payment.amount}"
            )
        fault = resolve_method(payment.payment_method).fault("capture")
        _raise_if_unavailable(fault)
        captured = dataclasses.replace(payment, status=ProcessorStatus.CAPTURED, amount_captured=amount)
        await tx.update_payment(captured)
        return _Outcome(payment_result(captured), answer_lost=fault is Fault.ANSWER_LOST)

    async def _refund(self, tx: LedgerTransaction, reference: str, amount: int, reason: str,
                      refund_id: str) -> _Outcome:
        payment = await _locked_payment(tx, reference)
        _expect_status(payment, ProcessorStatus.CAPTURED, "refunded")
        _require_positive(amount)
        refundable = payment.amount_captured - payment.amount_refunded
        if amount > refundable:
            raise ProcessorInvalidRequest(
                f"amount: {amount} exceeds the refundable amount {refundable}"
                f" (captured {payment.amount_captured}, refunded {payment.amount_refunded})"
            )
        fault = resolve_method(payment.payment_method).fault("refund")
        _raise_if_unavailable(fault)
        status = "PENDING" if payment.payment_method == "pm_card_refundFail" else "SUCCEEDED"
        refund = LedgerRefund(_new_reference("ih_re_"), reference, amount, reason, status, refund_id)
        await tx.add_refund(refund)
        await tx.update_payment(
            dataclasses.replace(payment, amount_refunded=payment.amount_refunded + amount)
        )
        return _Outcome(refund_result(refund), answer_lost=fault is Fault.ANSWER_LOST)

    async def _cancel(self, tx: LedgerTransaction, reference: str) -> _Outcome:
        payment = await _locked_payment(tx, reference)
        _expect_status(payment, ProcessorStatus.AUTHORIZED, "canceled")
        fault = resolve_method(payment.payment_method).fault("cancel")
        _raise_if_unavailable(fault)
        canceled = dataclasses.replace(payment, status=ProcessorStatus.CANCELED)
        await tx.update_payment(canceled)
        return _Outcome(payment_result(canceled), answer_lost=fault is Fault.ANSWER_LOST)


# ---- checks -------------------------------------------------------------------------------


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ProcessorInvalidRequest(
            f"idempotency_key: required, at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
        )


def _check_same_request(key: str, stored: StoredResult, fingerprint: str) -> None:
    if stored.fingerprint != fingerprint:
        raise ProcessorInvalidRequest(
            f"idempotency key {key!r} was first used for a different request; use a new key"
        )


def _require_positive(amount: int) -> None:
    if amount <= 0:
        raise ProcessorInvalidRequest(f"amount: {amount} must be a positive number of minor units")


def _currency(code: str) -> str:
    upper = code.strip().upper()
    if len(upper) != 3 or not upper.isalpha():
        raise ProcessorInvalidRequest(f"currency: {code!r} is not an ISO 4217 code")
    return upper


async def _locked_payment(tx: LedgerTransaction, reference: str) -> LedgerPayment:
    payment = await tx.payment(reference)
    if payment is None:
        raise ProcessorInvalidRequest(f"no such in-house payment {reference!r}")
    return payment


def _expect_status(payment: LedgerPayment, status: ProcessorStatus, verb: str) -> None:
    if payment.status is not status:
        raise ProcessorInvalidRequest(
            f"payment {payment.reference} is {payment.status.value};"
            f" only {status.value} payments can be {verb}"
        )


def _raise_if_unavailable(fault: Fault | None) -> None:
    if fault is Fault.UNAVAILABLE:
        raise ProcessorUnavailable("in-house processor unavailable (simulated); nothing was recorded")


def _authorization(request: AuthorizeRequest, currency: str, method: SimulatedMethod) -> tuple[LedgerPayment, _Outcome]:
    """What an authorization records and answers (nothing written yet; an unavailable method raises)."""
    fault = method.fault("authorize")
    _raise_if_unavailable(fault)
    payment = LedgerPayment(
        reference=_new_reference(),
        merchant_id=request.merchant_id,
        payment_id=request.payment_id,
        amount=request.amount,
        currency=currency,
        payment_method=method.token,
        status=ProcessorStatus.AUTHORIZED,
    )
    if method.decline_code:
        payment = dataclasses.replace(
            payment,
            status=ProcessorStatus.FAILED,
            failure_code=method.decline_code,
            failure_message=method.decline_message,
        )
    elif request.capture:
        payment = dataclasses.replace(payment, status=ProcessorStatus.CAPTURED, amount_captured=request.amount)
    result = decline_result(payment) if method.decline_code else payment_result(payment)
    return payment, _Outcome(result, answer_lost=fault is Fault.ANSWER_LOST)
