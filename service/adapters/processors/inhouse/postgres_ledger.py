"""The in-house ledger in PostgreSQL: tables inhouse_* (service/adapters/tables.py, migration 0002).

Several server processes, and a reconciler in another process, share it. Each
ledger transaction is one short database transaction on its own connection, driven by
asyncpg (service/adapters/pg.py); the authorization, the hot call, is one statement
compiled once (ADD_PAYMENT_ONCE), the rest SQLAlchemy Core inside the same transaction.

The authorization's statement is the whole transaction, so it is sent alone (no BEGIN, no
COMMIT: PostgreSQL runs it in a transaction of its own). Its failures then mean what a
failed COMMIT meant before: PostgreSQL answered ERROR, nothing was recorded
(ProcessorUnavailable); the connection went (or a FATAL) before the answer came, it may have
been recorded (ProcessorOutcomeUnknown: the payment stays PROCESSING until reconciliation
finds the ledger's truth with ``payment_for``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError

from service.adapters.pg import Statement, Transaction, may_have_applied
from service.adapters.tables import inhouse_idempotency_keys, inhouse_payments, inhouse_refunds
from service.domain.errors import ProcessorOutcomeUnknown, ProcessorUnavailable
from service.domain.processor import ProcessorStatus

from .records import LedgerPayment, LedgerRefund, StoredResult

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

# The one mapping between LedgerPayment and its row: same names, status stored as its value.
_PAYMENT_FIELDS = tuple(field.name for field in dataclasses.fields(LedgerPayment))


def _payment_from_row(row: Any) -> LedgerPayment:
    values = {name: getattr(row, name) for name in _PAYMENT_FIELDS}
    return LedgerPayment(**{**values, "status": ProcessorStatus(row.status)})


def _payment_values(payment: LedgerPayment) -> dict[str, Any]:
    # Its fields are scalars: a plain read of each (dataclasses.asdict deep-copies every value).
    return {**{name: getattr(payment, name) for name in _PAYMENT_FIELDS}, "status": payment.status.value}


def _add_payment_once() -> Statement:
    # WITH claimed AS (INSERT key ... ON CONFLICT DO NOTHING RETURNING key)
    # INSERT INTO inhouse_payments SELECT <values> FROM claimed: a key claimed before (a
    # concurrent claim waits for the first transaction to end) makes claimed empty, and then
    # nothing is written.
    keys = inhouse_idempotency_keys
    claimed = (pg_insert(keys)
               .values(key=bindparam("key", type_=keys.c.key.type),
                       fingerprint=bindparam("fingerprint", type_=keys.c.fingerprint.type),
                       result=bindparam("result", type_=keys.c.result.type))
               .on_conflict_do_nothing(index_elements=[keys.c.key]).returning(keys.c.key).cte("claimed"))
    row = select(*[bindparam(name, type_=inhouse_payments.c[name].type).label(name) for name in _PAYMENT_FIELDS]
                 ).select_from(claimed)
    return Statement(insert(inhouse_payments).from_select(list(_PAYMENT_FIELDS), row)
                     .returning(inhouse_payments.c.reference))


ADD_PAYMENT_ONCE = _add_payment_once()


class _PostgresTransaction:
    """LedgerTransaction on one open connection and transaction."""

    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction
        self._connection = transaction.connection

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

    async def add_payment_once(self, key: str, fingerprint: str, payment: LedgerPayment,
                               result: Mapping[str, Any]) -> StoredResult | None:
        alone = not self._transaction.open  # the transaction's only write: sent without BEGIN/COMMIT
        try:
            added = await self._transaction.fetchrow(ADD_PAYMENT_ONCE, alone=alone, **_payment_values(payment),
                                                     key=key, fingerprint=fingerprint, result=dict(result))
        except (SQLAlchemyError, OSError) as exc:
            if alone and may_have_applied(exc):
                raise ProcessorOutcomeUnknown(
                    "in-house ledger connection lost during the authorization; the outcome is unknown") from exc
            raise
        if added is not None:
            return None
        return await self.stored_result(key)

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
        try:
            transaction = await Transaction.begin(self._engine)
        except (SQLAlchemyError, OSError) as exc:
            raise ProcessorUnavailable("in-house ledger unreachable; nothing was recorded") from exc
        try:
            try:
                yield _PostgresTransaction(transaction)
            except SQLAlchemyError as exc:
                raise ProcessorUnavailable("in-house ledger error; nothing was recorded") from exc
            try:
                await transaction.commit()
            except SQLAlchemyError as exc:
                raise ProcessorOutcomeUnknown(
                    "in-house ledger commit failed; the outcome is unknown"
                ) from exc
        finally:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await transaction.close()  # rolls back what was not committed
