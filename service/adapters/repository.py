"""PostgreSQL adapters of the service-layer ports.

A unit of work is one transaction driven by asyncpg on a connection of SQLAlchemy's pool (pg.py).
The write path's statements (hot_statements.py: claim a key, add, lock, read and save a payment,
complete a key, append events) are SQLAlchemy Core compiled once and run by asyncpg; the colder
reads (lists, the reconciler's and auditor's walks) are SQLAlchemy Core on the same connection,
inside the same transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..domain.model import Dispute, Payment, Refund, RefundStatus, Status, utcnow
from ..domain.snapshot import from_plain, to_plain
from ..service_layer.ports import Claim, ClaimKind, PageCursor, PaymentFilter
from . import hot_statements as sql
from .event_log import EventJournal, SqlEventReader
from .event_tables import events
from .idempotency_store import SqlIdempotencyStore
from .pg import Transaction
from .tables import disputes, payments, refunds, webhook_events
from .webhook_store import SqlWebhookEndpoints

# The one mapping between the domain and the rows: columns are named as the dataclass fields
# (domain/snapshot.py's plain values); a refund row adds its payment_id. A unit test fails when a
# column and a field stop matching.


def payment_row(payment: Payment) -> dict[str, Any]:
    """The payments row of ``payment`` (its refunds and disputes are rows of their own)."""
    row = to_plain(payment)
    del row["refunds"], row["disputes"]
    return row


def refund_row(payment_id: str, refund: Refund) -> dict[str, Any]:
    return {**to_plain(refund), "payment_id": payment_id}


def dispute_row(payment_id: str, dispute: Dispute) -> dict[str, Any]:
    return {**to_plain(dispute), "payment_id": payment_id}


def payment_from_rows(row: Mapping[str, Any], refund_rows: Iterable[Mapping[str, Any]],
                      dispute_rows: Iterable[Mapping[str, Any]] = ()) -> Payment:
    return from_plain(Payment, {**row, "refunds": list(refund_rows), "disputes": list(dispute_rows)})


def _to_payment(row: Any, refund_rows: list[Any], dispute_rows: list[Any] = ()) -> Payment:
    return payment_from_rows(row._mapping, (refund._mapping for refund in refund_rows),
                             (dispute._mapping for dispute in dispute_rows))


class SqlPaymentRepository:
    """Payments and their refunds; every write hands the payment's events to the journal."""

    def __init__(self, transaction: Transaction, journal: EventJournal) -> None:
        self.transaction = transaction
        self.connection = transaction.connection
        self.journal = journal

    async def add(self, payment: Payment) -> None:
        """Staged: the row goes with the events in the unit of work's last statement (unless the
        payment already has refunds or disputes, whose rows need it first)."""
        await self._send_staged_payment_write()
        payment.version = max(1, len(payment.events))
        row = payment_row(payment)
        row["version"] = payment.version
        if payment.refunds or payment.disputes:
            await self.journal.flush()
            await self.transaction.execute(sql.INSERT_PAYMENT, **row)
        else:
            self.journal.stage(sql.INSERT_PAYMENT, row)
        self.journal.collect(payment)
        for refund in payment.refunds:
            await self.connection.execute(refunds.insert().values(**refund_row(payment.payment_id, refund)))
        for dispute in payment.disputes:
            await self.connection.execute(disputes.insert().values(**dispute_row(payment.payment_id, dispute)))

    async def get(self, merchant_id: str, payment_id: str, *, for_update: bool = False) -> Payment | None:
        """The payment row joined to its refunds and disputes (most have none): one statement; with
        ``for_update`` it also locks the row. A read that waited for the lock (or met a change
        committed after it started) gets the payment row as it is now but its children as they were
        when the statement started, so a refund just committed would be missed: it sees two
        different versions (sql.LOCKED_PAYMENT_WITH_CHILDREN) and reads again, under the lock."""
        await self.journal.flush()  # what this unit of work wrote is read back
        mine = {"payment_id": payment_id, "merchant_id": merchant_id}
        if not for_update:
            rows = await self.transaction.fetch(sql.PAYMENT_WITH_CHILDREN, **mine)
            return _from_joined(rows) if rows else None
        rows = await self.transaction.fetch(sql.LOCKED_PAYMENT_WITH_CHILDREN, **mine)
        if not rows:
            return None
        if rows[0]["version"] != rows[0]["snapshot_version"]:
            rows = await self.transaction.fetch(sql.PAYMENT_WITH_CHILDREN, **mine)
        return _from_joined(rows)

    async def save(self, payment: Payment) -> None:
        """Write back the payment; its version grows by one per recorded event. Staged: the
        UPDATE ... WHERE version goes with the events in the unit of work's last statement, which
        raises ConcurrentUpdate (and so rolls everything back) if the version moved."""
        await self._send_staged_payment_write()
        if not payment.events:
            payment._record("payment.updated")
        steps = len(payment.events)
        self.journal.stage(sql.UPDATE_PAYMENT, {**payment_row(payment), "expected_version": payment.version,
                                                "steps": steps},
                           must_change=f"payment {payment.payment_id} changed concurrently; retry")
        payment.version += steps
        self.journal.collect(payment)
        for refund in payment.refunds:
            row = refund_row(payment.payment_id, refund)
            statement = insert(refunds).values(**row)
            await self.connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[refunds.c.refund_id],
                    set_={"status": statement.excluded.status,
                          "processor_reference": statement.excluded.processor_reference,
                          "failure_reason": statement.excluded.failure_reason},
                )
            )
        for dispute in payment.disputes:
            row = dispute_row(payment.payment_id, dispute)
            statement = insert(disputes).values(**row)
            changing = {k: getattr(statement.excluded, k) for k in row if k not in ("dispute_id", "payment_id",
                                                                                   "created_at")}
            await self.connection.execute(
                statement.on_conflict_do_update(index_elements=[disputes.c.dispute_id], set_=changing))

    async def _send_staged_payment_write(self) -> None:
        """Staged writes go out as one statement, on one snapshot: a second write of a payment in it
        would not see the first (an UPDATE ... WHERE version would find no row and look like a
        concurrent change). So a payment write already staged is sent before the next one is staged
        (a settle stages one: nothing is sent early there)."""
        if any(statement in _PAYMENT_WRITES for statement, _, _ in self.journal.writes):
            await self.journal.flush()

    async def list(
        self, merchant_id: str, filters: PaymentFilter, after: PageCursor | None, limit: int
    ) -> list[Payment]:
        await self.journal.flush()
        query = select(payments).where(payments.c.merchant_id == merchant_id)
        if filters.status is not None:
            query = query.where(payments.c.status == filters.status.value)
        if filters.customer_id:
            query = query.where(payments.c.customer_id == filters.customer_id)
        if after is not None:
            query = query.where(
                tuple_(payments.c.created_at, payments.c.payment_id) < tuple_(after.created_at, after.payment_id)
            )
        query = query.order_by(payments.c.created_at.desc(), payments.c.payment_id.desc()).limit(limit)
        rows = (await self.connection.execute(query)).all()
        ids = [row.payment_id for row in rows]
        by_payment, disputes_of = await self._refunds_of(ids), await self._children_of(disputes, ids)
        return [_to_payment(row, by_payment.get(row.payment_id, []), disputes_of.get(row.payment_id, []))
                for row in rows]

    async def awaiting_processor(self, older_than: datetime, limit: int) -> list[tuple[str, str]]:
        await self.journal.flush()
        pending_refund = (
            select(refunds.c.payment_id).where(refunds.c.status == RefundStatus.PENDING.value,
                                               refunds.c.created_at < older_than)
        )
        query = (
            select(payments.c.merchant_id, payments.c.payment_id)
            .where(or_(and_(payments.c.status == Status.PROCESSING.value, payments.c.updated_at < older_than),
                       payments.c.payment_id.in_(pending_refund)),
                   payments.c.review_reason == "")
            .order_by(payments.c.updated_at)
            .limit(limit)
        )
        return [(row.merchant_id, row.payment_id) for row in (await self.connection.execute(query)).all()]

    async def find_by_reference(self, processor: str, reference: str) -> tuple[str, str] | None:
        await self.journal.flush()
        row = (await self.connection.execute(
            select(payments.c.merchant_id, payments.c.payment_id)
            .where(payments.c.processor == processor, payments.c.processor_reference == reference)
        )).first()
        return (row.merchant_id, row.payment_id) if row else None

    async def requiring_review(self, limit: int) -> list[Payment]:
        await self.journal.flush()
        query = (select(payments).where(payments.c.review_reason != "")
                 .order_by(payments.c.updated_at).limit(limit))
        rows = (await self.connection.execute(query)).all()
        ids = [row.payment_id for row in rows]
        refunds_of, disputes_of = await self._refunds_of(ids), await self._children_of(disputes, ids)
        return [_to_payment(r, refunds_of.get(r.payment_id, []), disputes_of.get(r.payment_id, [])) for r in rows]

    async def count_requiring_review(self) -> int:
        await self.journal.flush()
        query = select(func.count()).where(payments.c.review_reason != "")
        return (await self.connection.execute(query)).scalar() or 0

    async def history(self, payment_id: str) -> list[tuple[int, str, str]] | None:
        """(sequence, type, status after it) of the payment's events, oldest first (the auditor's view)."""
        await self.journal.flush()
        query = (select(events.c.sequence, events.c.type, events.c.data["status"].astext.label("status"))
                 .where(events.c.payment_id == payment_id).order_by(events.c.sequence))
        return [(row.sequence, row.type, row.status) for row in (await self.connection.execute(query)).all()]

    async def all_ids(self, after: str, limit: int, merchants: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """(merchant_id, payment_id) of every payment, in payment id order (the auditor's walk)."""
        await self.journal.flush()
        query = (select(payments.c.merchant_id, payments.c.payment_id).where(payments.c.payment_id > after)
                 .order_by(payments.c.payment_id).limit(limit))
        if merchants:
            query = query.where(payments.c.merchant_id.in_(merchants))
        return [(row.merchant_id, row.payment_id) for row in (await self.connection.execute(query)).all()]

    async def _refunds_of(self, payment_ids: list[str]) -> dict[str, list[Any]]:
        return await self._children_of(refunds, payment_ids)

    async def _children_of(self, table: Any, payment_ids: list[str]) -> dict[str, list[Any]]:
        if not payment_ids:
            return {}
        key = table.c.refund_id if table is refunds else table.c.dispute_id
        rows = (
            await self.connection.execute(
                select(table).where(table.c.payment_id.in_(payment_ids)).order_by(table.c.created_at, key)
            )
        ).all()
        grouped: dict[str, list[Any]] = {}
        for row in rows:
            grouped.setdefault(row.payment_id, []).append(row)
        return grouped


_PAYMENT_WRITES = (sql.INSERT_PAYMENT, sql.UPDATE_PAYMENT)
_REFUND_NAMES = [(c.name, sql.REFUND_LABEL + c.name) for c in refunds.c]
_DISPUTE_NAMES = [(c.name, sql.DISPUTE_LABEL + c.name) for c in disputes.c]


def _from_joined(rows: list[Any]) -> Payment:
    """The payment of sql.PAYMENT_WITH_CHILDREN's rows (asyncpg records, read by column name)."""
    found_refunds: dict[str, dict[str, Any]] = {}
    found_disputes: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["refund__refund_id"] is not None:
            found_refunds.setdefault(row["refund__refund_id"], {name: row[label] for name, label in _REFUND_NAMES})
        if row["dispute__dispute_id"] is not None:
            found_disputes.setdefault(row["dispute__dispute_id"],
                                      {name: row[label] for name, label in _DISPUTE_NAMES})
    payment_values = {name: rows[0][name] for name in sql.PAYMENT_COLUMNS}
    return payment_from_rows(
        payment_values,
        sorted(found_refunds.values(), key=lambda r: (r["created_at"], r["refund_id"])),
        sorted(found_disputes.values(), key=lambda d: (d["created_at"], d["dispute_id"])),
    )


class SqlWebhookEvents:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def record(self, event_id: str, *, processor: str, type: str, outcome: str, payment_id: str) -> bool:
        inserted = await self.connection.execute(
            insert(webhook_events)
            .values(event_id=event_id, processor=processor, type=type, outcome=outcome, payment_id=payment_id,
                    received_at=utcnow())
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(webhook_events.c.event_id)
        )
        return inserted.first() is not None


class SqlUnitOfWork:
    """One database transaction (pg.Transaction); rolled back unless commit() is called."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.transaction: Transaction | None = None
        self.connection: AsyncConnection | None = None

    async def __aenter__(self) -> SqlUnitOfWork:
        self.transaction = transaction = await Transaction.begin(self.engine)
        self.connection = connection = transaction.connection
        self.journal = EventJournal(transaction)
        self.payments = SqlPaymentRepository(transaction, self.journal)
        self.events = SqlEventReader(connection)
        self.endpoints = SqlWebhookEndpoints(connection)
        self.idempotency = SqlIdempotencyStore(transaction, self.journal)
        self.webhook_events = SqlWebhookEvents(connection)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.transaction is not None
        try:
            await self.transaction.close()
        finally:
            self.transaction = self.connection = None

    async def claim_and_add(self, payment: Payment, *, key: str, fingerprint: str, lease_seconds: float) -> Claim:
        """The create's begin. Usually one statement, sent alone (no BEGIN/COMMIT): the key's claim, and
        the payment with its event only if the key was claimed; an earlier request's key that statement
        could read is answered from it (REPLAY, or IdempotencyKeyReused). Any other conflict (a key
        still in flight or whose lease ran out, or one committed after the statement's snapshot) takes
        the locked path, in a transaction: the claim as SqlIdempotencyStore.claim makes it (RESUME,
        ABORTED, ... as before), and the payment only if the key turned out new."""
        if payment.refunds or payment.disputes:  # add() would send it at once, before the claim
            raise ValueError("claim_and_add takes a new payment (no refunds or disputes)")
        claim = {"operation": "create", "fingerprint": fingerprint, "payment_id": payment.payment_id,
                 "refund_id": "", "lease_seconds": lease_seconds}
        await self.payments.add(payment)  # staged: it goes with the claim, and only if the key is new
        found = await self.idempotency.claim_with_staged(payment.merchant_id, key, **claim)
        if found is None:
            found = await self.idempotency.claim(payment.merchant_id, key, **claim, send_staged=False)
        if found.kind is not ClaimKind.NEW:
            self.journal.discard()  # the payment was not written
        if found.kind is not ClaimKind.REPLAY:
            await self.commit()  # the payment (when not sent already), or the renewed lease (RESUME)
        return found

    async def commit(self) -> None:
        assert self.transaction is not None
        await self.journal.flush(last=True)
        await self.transaction.commit()
