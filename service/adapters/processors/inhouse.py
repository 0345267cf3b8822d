"""The in-house processor: a deterministic simulated processor with a shared ledger.

It is the default processor for local runs and tests. Outcomes depend only on
the payment method token (in the spirit of Stripe's test cards, see
SIMULATED_METHODS and docs/processors.md), so every run behaves the same.

It behaves like a separate system: its state lives in a *ledger* (payments,
refunds, and idempotency keys with the stored result of the first call), and
each processor call is one short ledger transaction. Two ledgers implement the
port:

    InMemoryLedger    one process only (unit tests, ``bootstrap`` without a database)
    PostgresLedger    tables inhouse_* (migration 0002) on an AsyncEngine; correct when
                      several server processes share the database and when another
                      process reconciles later

A call's idempotency key is claimed atomically (``INSERT ... ON CONFLICT DO
NOTHING`` in PostgreSQL) inside the same transaction that does the work, so a
concurrent duplicate waits for the first and then replays its stored result.
Replays never raise ProcessorOutcomeUnknown: a retry after ``pm_card_timeout``
returns the authorization that was recorded. A stored decline replays as the
same ProcessorDeclined. Invalid requests are not stored (the transaction rolls
back), as with Stripe.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError

from service.domain.errors import (
    ProcessorDeclined,
    ProcessorInvalidRequest,
    ProcessorOutcomeUnknown,
    ProcessorUnavailable,
)
from service.domain.processor import (
    AuthorizeRequest,
    DisputeEvidence,
    ProcessorDispute,
    ProcessorPayment,
    ProcessorRefund,
    ProcessorRefundStatus,
    ProcessorStatus,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from service.config import Settings

log = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_LENGTH = 255
DEFAULT_RETENTION = timedelta(hours=24)
DEFAULT_METHOD = "pm_card_visa"


# ---- simulated payment methods ------------------------------------------------


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
        # Things that happen later (inhouse_simulator.py plays them and sends the webhooks):
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


# ---- ledger records -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LedgerPayment:
    """The in-house processor's record of one payment."""

    reference: str
    merchant_id: str
    payment_id: str
    amount: int
    currency: str
    payment_method: str
    status: ProcessorStatus
    amount_captured: int = 0
    amount_refunded: int = 0
    failure_code: str = ""
    failure_message: str = ""

    def view(self) -> ProcessorPayment:
        return ProcessorPayment(
            reference=self.reference,
            status=self.status,
            amount=self.amount,
            amount_captured=self.amount_captured,
            amount_refunded=self.amount_refunded,
            failure_code=self.failure_code,
            failure_message=self.failure_message,
        )


@dataclasses.dataclass(frozen=True)
class LedgerRefund:
    reference: str
    payment_reference: str
    amount: int
    reason: str = ""
    status: str = "SUCCEEDED"  # PENDING for pm_card_refundFail until the simulator fails it
    refund_id: str = ""  # the caller's id for it (the refund call's idempotency key)


@dataclasses.dataclass(frozen=True)
class StoredResult:
    """What the first call with an idempotency key answered."""

    fingerprint: str
    result: Mapping[str, Any]


# ---- the ledger port --------------------------------------------------------------


class LedgerTransaction(Protocol):
    """One atomic unit of ledger work; nothing is visible to others until it commits."""

    async def claim_key(self, key: str, fingerprint: str) -> StoredResult | None:
        """Claim ``key`` for this transaction (None), or return the result stored for it.

        A concurrent claim of the same key waits until the first transaction ends."""
        ...

    async def save_result(self, key: str, result: Mapping[str, Any]) -> None: ...

    async def payment(self, reference: str, *, lock: bool = True) -> LedgerPayment | None:
        """The payment, locked against concurrent changes until commit when ``lock``."""
        ...

    async def add_payment(self, payment: LedgerPayment) -> None: ...

    async def update_payment(self, payment: LedgerPayment) -> None: ...

    async def add_refund(self, refund: LedgerRefund) -> None: ...

    async def payment_for(self, payment_id: str) -> LedgerPayment | None:
        """The payment made for our ``payment_id`` (a lookup, no lock)."""
        ...

    async def stored_result(self, key: str) -> StoredResult | None:
        """What the call with idempotency key ``key`` answered, if it happened."""
        ...


class Ledger(Protocol):
    def transaction(self) -> contextlib.AbstractAsyncContextManager[LedgerTransaction]:
        """A transaction that commits when the block exits normally, else rolls back."""
        ...


# ---- in-memory ledger ---------------------------------------------------------------


class _MemoryTransaction:
    """Stages writes and applies them to the ledger on commit."""

    def __init__(self, ledger: InMemoryLedger) -> None:
        self._ledger = ledger
        self._payments: dict[str, LedgerPayment] = {}
        self._refunds: dict[str, LedgerRefund] = {}
        self._keys: dict[str, StoredResult] = {}

    async def claim_key(self, key: str, fingerprint: str) -> StoredResult | None:
        stored = self._ledger.keys.get(key)
        if stored is None:
            self._keys[key] = StoredResult(fingerprint, {})
        return stored

    async def save_result(self, key: str, result: Mapping[str, Any]) -> None:
        self._keys[key] = dataclasses.replace(self._keys[key], result=dict(result))

    async def payment(self, reference: str, *, lock: bool = True) -> LedgerPayment | None:
        return self._payments.get(reference) or self._ledger.payments.get(reference)

    async def add_payment(self, payment: LedgerPayment) -> None:
        self._payments[payment.reference] = payment

    async def update_payment(self, payment: LedgerPayment) -> None:
        self._payments[payment.reference] = payment

    async def add_refund(self, refund: LedgerRefund) -> None:
        self._refunds[refund.reference] = refund

    async def payment_for(self, payment_id: str) -> LedgerPayment | None:
        payments = {**self._ledger.payments, **self._payments}
        return next((p for p in payments.values() if p.payment_id == payment_id), None)

    async def stored_result(self, key: str) -> StoredResult | None:
        return self._keys.get(key) or self._ledger.keys.get(key)

    def commit(self) -> None:
        self._ledger.payments.update(self._payments)
        self._ledger.refunds.update(self._refunds)
        self._ledger.keys.update(self._keys)


class InMemoryLedger:
    """A ledger in this process's memory; transactions run one at a time."""

    def __init__(self) -> None:
        self.payments: dict[str, LedgerPayment] = {}
        self.refunds: dict[str, LedgerRefund] = {}
        self.keys: dict[str, StoredResult] = {}
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_MemoryTransaction]:
        async with self._lock:
            transaction = _MemoryTransaction(self)
            yield transaction
            transaction.commit()


# ---- PostgreSQL ledger ----------------------------------------------------------------

ledger_metadata = MetaData()

inhouse_payments = Table(
    "inhouse_payments",
    ledger_metadata,
    Column("reference", String(64), primary_key=True),
    Column("merchant_id", String(255), nullable=False),
    Column("payment_id", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payment_method", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount_captured", BigInteger, nullable=False, server_default="0"),
    Column("amount_refunded", BigInteger, nullable=False, server_default="0"),
    Column("failure_code", String(64), nullable=False, server_default=""),
    Column("failure_message", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount > 0", name="inhouse_amount_positive"),
    CheckConstraint(
        "amount_captured >= 0 AND amount_captured <= amount", name="inhouse_captured_within_amount"
    ),
    CheckConstraint(
        "amount_refunded >= 0 AND amount_refunded <= amount_captured", name="inhouse_refunded_within_captured"
    ),
)

inhouse_refunds = Table(
    "inhouse_refunds",
    ledger_metadata,
    Column("reference", String(64), primary_key=True),
    Column(
        "payment_reference", String(64), ForeignKey("inhouse_payments.reference"), nullable=False, index=True
    ),
    Column("amount", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("status", String(16), nullable=False, server_default="SUCCEEDED"),
    Column("refund_id", String(255), nullable=False, server_default=""),
    Column("failure_reason", String(64), nullable=False, server_default=""),
    Column("announced", String(16), nullable=False, server_default=""),  # the status last sent as a webhook
    CheckConstraint("amount > 0", name="inhouse_refund_amount_positive"),
)

inhouse_idempotency_keys = Table(
    "inhouse_idempotency_keys",
    ledger_metadata,
    Column("key", String(MAX_IDEMPOTENCY_KEY_LENGTH), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("result", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("inhouse_idempotency_keys_created_at", "created_at"),
)


# What happens later (inhouse_simulator.py): disputes, and the webhooks announcing every change.
inhouse_disputes = Table(
    "inhouse_disputes",
    ledger_metadata,
    Column("reference", String(64), primary_key=True),
    Column("payment_reference", String(64), ForeignKey("inhouse_payments.reference"), nullable=False,
           unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("evidence", JSONB, nullable=False, server_default="{}"),
    Column("evidence_submitted", Boolean, nullable=False, server_default="false"),
    Column("evidence_due_by", DateTime(timezone=True), nullable=False),
    Column("funds_withdrawn", Boolean, nullable=False, server_default="false"),
    Column("funds_reinstated", Boolean, nullable=False, server_default="false"),
    Column("announced", String(64), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount > 0", name="inhouse_dispute_amount_positive"),
)

inhouse_webhook_outbox = Table(
    "inhouse_webhook_outbox",
    ledger_metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("body", Text, nullable=False),  # the exact bytes that are signed and sent
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=False, server_default=""),
    Index("inhouse_webhook_outbox_undelivered", "id", postgresql_where=text("delivered_at IS NULL")),
)


def _payment_from_row(row: Any) -> LedgerPayment:
    return LedgerPayment(
        reference=row.reference,
        merchant_id=row.merchant_id,
        payment_id=row.payment_id,
        amount=row.amount,
        currency=row.currency,
        payment_method=row.payment_method,
        status=ProcessorStatus(row.status),
        amount_captured=row.amount_captured,
        amount_refunded=row.amount_refunded,
        failure_code=row.failure_code,
        failure_message=row.failure_message,
    )


def _payment_values(payment: LedgerPayment) -> dict[str, Any]:
    values = dataclasses.asdict(payment)
    values["status"] = payment.status.value
    return values


class _PostgresTransaction:
    """LedgerTransaction on one open connection and transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def claim_key(self, key: str, fingerprint: str) -> StoredResult | None:
        keys = inhouse_idempotency_keys
        claim = (
            pg_insert(keys)
            .values(key=key, fingerprint=fingerprint)
            .on_conflict_do_nothing(index_elements=[keys.c.key])
            .returning(keys.c.key)
        )
        if (await self._connection.execute(claim)).first() is not None:
            return None
        row = (await self._connection.execute(select(keys).where(keys.c.key == key))).one()
        return StoredResult(row.fingerprint, row.result or {})

    async def save_result(self, key: str, result: Mapping[str, Any]) -> None:
        keys = inhouse_idempotency_keys
        await self._connection.execute(update(keys).where(keys.c.key == key).values(result=dict(result)))

    async def payment(self, reference: str, *, lock: bool = True) -> LedgerPayment | None:
        query = select(inhouse_payments).where(inhouse_payments.c.reference == reference)
        if lock:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).first()
        return None if row is None else _payment_from_row(row)

    async def add_payment(self, payment: LedgerPayment) -> None:
        await self._connection.execute(inhouse_payments.insert().values(_payment_values(payment)))

    async def update_payment(self, payment: LedgerPayment) -> None:
        values = _payment_values(payment)
        reference = values.pop("reference")
        await self._connection.execute(
            update(inhouse_payments)
            .where(inhouse_payments.c.reference == reference)
            .values(**values, updated_at=func.now())
        )

    async def add_refund(self, refund: LedgerRefund) -> None:
        await self._connection.execute(inhouse_refunds.insert().values(dataclasses.asdict(refund)))

    async def payment_for(self, payment_id: str) -> LedgerPayment | None:
        query = select(inhouse_payments).where(inhouse_payments.c.payment_id == payment_id)
        row = (await self._connection.execute(query)).first()
        return None if row is None else _payment_from_row(row)

    async def stored_result(self, key: str) -> StoredResult | None:
        keys = inhouse_idempotency_keys
        row = (await self._connection.execute(select(keys).where(keys.c.key == key))).first()
        return None if row is None else StoredResult(row.fingerprint, row.result or {})


class PostgresLedger:
    """The ledger in PostgreSQL (tables from migration 0002), one short transaction per call.

    Database failures become processor errors: before COMMIT nothing was
    recorded (ProcessorUnavailable); a failed COMMIT may have been applied
    (ProcessorOutcomeUnknown)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PostgresTransaction]:
        async with self._connect() as connection:
            transaction = await connection.begin()
            try:
                yield _PostgresTransaction(connection)
            except SQLAlchemyError as exc:
                await _quiet_rollback(transaction)
                raise ProcessorUnavailable("in-house ledger error; nothing was recorded") from exc
            except BaseException:
                await _quiet_rollback(transaction)
                raise
            try:
                await transaction.commit()
            except SQLAlchemyError as exc:
                raise ProcessorOutcomeUnknown(
                    "in-house ledger commit failed; the outcome is unknown"
                ) from exc

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        try:
            connection = await self._engine.connect()
        except (SQLAlchemyError, OSError) as exc:
            raise ProcessorUnavailable("in-house ledger unreachable; nothing was recorded") from exc
        try:
            yield connection
        finally:
            await connection.close()


async def _quiet_rollback(transaction: Any) -> None:
    with contextlib.suppress(SQLAlchemyError, OSError):
        await transaction.rollback()


# ---- results as stored under idempotency keys -----------------------------------------


def _payment_result(payment: LedgerPayment) -> dict[str, Any]:
    view = dataclasses.asdict(payment.view())
    view["status"] = payment.status.value
    return {"payment": view}


def _refund_result(refund: LedgerRefund) -> dict[str, Any]:
    return {"refund": {"reference": refund.reference, "amount": refund.amount, "status": refund.status,
                       "refund_id": refund.refund_id, "payment_reference": refund.payment_reference}}


def _decline_result(payment: LedgerPayment) -> dict[str, Any]:
    return {"declined": {"code": payment.failure_code, "message": payment.failure_message}}


def _decode(result: Mapping[str, Any]) -> ProcessorPayment | ProcessorRefund:
    if "declined" in result:
        declined = result["declined"]
        raise ProcessorDeclined(declined["message"], code=declined["code"])
    if "refund" in result:
        refund = dict(result["refund"])
        refund.pop("succeeded", None)  # results stored before refunds had a status all succeeded
        refund["status"] = ProcessorRefundStatus(refund.get("status", "SUCCEEDED"))
        return ProcessorRefund(**refund)
    payment = dict(result["payment"])
    return ProcessorPayment(**{**payment, "status": ProcessorStatus(payment["status"])})


def _fingerprint(operation: str, **params: Any) -> str:
    canonical = json.dumps({"operation": operation, **params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class _Outcome:
    result: Mapping[str, Any]
    answer_lost: bool = False


def _new_reference(prefix: str = "ih_") -> str:
    return prefix + secrets.token_hex(12)


# ---- the processor ------------------------------------------------------------------------


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
        fingerprint = _fingerprint(
            "authorize",
            payment_id=request.payment_id,
            merchant_id=request.merchant_id,
            amount=request.amount,
            currency=currency,
            payment_method=method.token,
            capture=request.capture,
        )
        return await self._execute(
            idempotency_key, fingerprint, lambda tx: self._authorize(tx, request, currency, method)
        )

    async def capture(self, reference: str, amount: int, *, idempotency_key: str) -> ProcessorPayment:
        fingerprint = _fingerprint("capture", reference=reference, amount=amount)
        return await self._execute(
            idempotency_key, fingerprint, lambda tx: self._capture(tx, reference, amount)
        )

    async def refund(
        self, reference: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> ProcessorRefund:
        fingerprint = _fingerprint("refund", reference=reference, amount=amount)
        return await self._execute(
            idempotency_key, fingerprint, lambda tx: self._refund(tx, reference, amount, reason, idempotency_key)
        )

    async def cancel(self, reference: str, *, idempotency_key: str) -> ProcessorPayment:
        fingerprint = _fingerprint("cancel", reference=reference)
        return await self._execute(idempotency_key, fingerprint, lambda tx: self._cancel(tx, reference))

    async def retrieve(self, reference: str) -> ProcessorPayment:
        async with self.ledger.transaction() as tx:
            payment = await tx.payment(reference, lock=False)
        if payment is None:
            raise ProcessorInvalidRequest(f"no such in-house payment {reference!r}")
        return payment.view()

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
        return dataclasses.replace(_decode(stored.result), refund_id=refund_id, payment_reference=reference)

    async def update_dispute(
        self, reference: str, evidence: DisputeEvidence, *, submit: bool, idempotency_key: str
    ) -> ProcessorDispute:
        """Disputes live in the PostgreSQL ledger (the simulator opens them); a repeat is harmless:
        the same evidence gives the same state, and submitted evidence is final."""
        from . import inhouse_simulator

        return await inhouse_simulator.update_dispute(self._engine_for_disputes(reference), reference, evidence,
                                                      submit=submit)

    async def close_dispute(self, reference: str, *, idempotency_key: str) -> ProcessorDispute:
        from . import inhouse_simulator

        return await inhouse_simulator.close_dispute(self._engine_for_disputes(reference), reference)

    def _engine_for_disputes(self, reference: str) -> AsyncEngine:
        engine = getattr(self.ledger, "_engine", None)
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
        if outcome.answer_lost:
            raise ProcessorOutcomeUnknown("in-house processor: the answer was lost (simulated timeout)")
        return _decode(outcome.result)

    # ---- the operations, inside a ledger transaction ----

    async def _authorize(
        self, tx: LedgerTransaction, request: AuthorizeRequest, currency: str, method: SimulatedMethod
    ) -> _Outcome:
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
            payment = dataclasses.replace(
                payment, status=ProcessorStatus.CAPTURED, amount_captured=request.amount
            )
        await tx.add_payment(payment)
        result = _decline_result(payment) if method.decline_code else _payment_result(payment)
        return _Outcome(result, answer_lost=fault is Fault.ANSWER_LOST)

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
        return _Outcome(_payment_result(captured), answer_lost=fault is Fault.ANSWER_LOST)

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
        return _Outcome(_refund_result(refund), answer_lost=fault is Fault.ANSWER_LOST)

    async def _cancel(self, tx: LedgerTransaction, reference: str) -> _Outcome:
        payment = await _locked_payment(tx, reference)
        _expect_status(payment, ProcessorStatus.AUTHORIZED, "canceled")
        fault = resolve_method(payment.payment_method).fault("cancel")
        _raise_if_unavailable(fault)
        canceled = dataclasses.replace(payment, status=ProcessorStatus.CANCELED)
        await tx.update_payment(canceled)
        return _Outcome(_payment_result(canceled), answer_lost=fault is Fault.ANSWER_LOST)


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
