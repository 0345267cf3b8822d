"""The in-house ledger in PostgreSQL: tables inhouse_* (service/adapters/tables.py, migration 0002).

Several server processes, and a reconciler in another process, share it. Each
ledger transaction is one short database transaction on its own connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError

from service.adapters.tables import inhouse_idempotency_keys, inhouse_payments, inhouse_refunds
from service.domain.errors import ProcessorOutcomeUnknown, ProcessorUnavailable
from service.domain.processor import ProcessorStatus

from .records import LedgerPayment, LedgerRefund, StoredResult

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# The one mapping between LedgerPayment and its row: same names, status stored as its value.
_PAYMENT_FIELDS = tuple(field.name for field in dataclasses.fields(LedgerPayment))


def _payment_from_row(row: Any) -> LedgerPayment:
    values = {name: getattr(row, name) for name in _PAYMENT_FIELDS}
    return LedgerPayment(**{**values, "status": ProcessorStatus(row.status)})


def _payment_values(payment: LedgerPayment) -> dict[str, Any]:
    return {**dataclasses.asdict(payment), "status": payment.status.value}


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

    async def add_payment_once(self, key: str, fingerprint: str, payment: LedgerPayment,
                               result: Mapping[str, Any]) -> StoredResult | None:
        # WITH claimed AS (INSERT key ... ON CONFLICT DO NOTHING RETURNING key)
        # INSERT INTO inhouse_payments SELECT <values> FROM claimed: a key claimed before (a
        # concurrent claim waits for the first transaction to end) makes claimed empty, and then
        # nothing is written.
        keys = inhouse_idempotency_keys
        claimed = (pg_insert(keys).values(key=key, fingerprint=fingerprint, result=dict(result))
                   .on_conflict_do_nothing(index_elements=[keys.c.key]).returning(keys.c.key).cte("claimed"))
        values = _payment_values(payment)
        row = select(*[literal(value, inhouse_payments.c[name].type).label(name) for name, value in values.items()]
                     ).select_from(claimed)
        added = insert(inhouse_payments).from_select(list(values), row).returning(inhouse_payments.c.reference)
        if (await self._connection.execute(added)).first() is not None:
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
