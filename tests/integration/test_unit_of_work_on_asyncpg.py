"""The unit of work on asyncpg (service/adapters/pg.py) on real PostgreSQL: one transaction holds
the raw asyncpg statements and the SQLAlchemy ones, a failure anywhere before commit writes nothing,
a lost connection is UNAVAILABLE and never pooled, every hot statement prepares on the schema, and
the staged last writes (a new payment, a save's UPDATE ... WHERE version, a key's completion) go
in one statement with the events, read back inside the unit of work, all or nothing."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from service.adapters.event_tables import events
from service.adapters.hot_statements import ALL
from service.adapters.processors.inhouse.postgres_ledger import ADD_PAYMENT_ONCE
from service.adapters.repository import SqlUnitOfWork
from service.adapters.tables import idempotency_keys, payments, webhook_events
from service.bootstrap import bootstrap, make_engine
from service.config import Settings
from service.domain import ids
from service.domain.errors import ConcurrentUpdate
from service.domain.model import CaptureMethod, Payment
from service.entrypoints.grpc.errors import is_database_unavailable
from service.service_layer.commands import CreatePayment
from service.service_layer.handlers import create_payment
from service.service_layer.ports import PaymentFilter

pytestmark = pytest.mark.integration


def new_payment(merchant: str) -> Payment:
    return Payment.new(payment_id=ids.new_payment_id(), merchant_id=merchant, amount=1000, currency="USD",
                       capture_method=CaptureMethod.MANUAL, processor="inhouse", payment_method="pm_card_visa")


@pytest.fixture
async def engine(postgres):
    engine = make_engine(Settings(database_url=postgres, db_pool_size=1))
    yield engine
    await engine.dispose()


async def written(engine, payment_id: str, key: str, event_id: str) -> tuple[int, int, int]:
    async with engine.connect() as connection:
        counts = []
        for table, column, value in ((payments, payments.c.payment_id, payment_id),
                                     (idempotency_keys, idempotency_keys.c.key, key),
                                     (webhook_events, webhook_events.c.event_id, event_id)):
            counts.append((await connection.execute(select(func.count()).select_from(table)
                                                    .where(column == value))).scalar())
    return tuple(counts)


async def claim_add_and_record(uow: SqlUnitOfWork, payment: Payment, key: str, event_id: str) -> None:
    """A raw claim, a raw insert and an SQLAlchemy Core insert, in one unit of work."""
    await uow.idempotency.claim(payment.merchant_id, key, operation="create", fingerprint="f" * 64,
                                payment_id=payment.payment_id, refund_id="", lease_seconds=30)
    await uow.payments.add(payment)
    assert await uow.webhook_events.record(event_id, processor="inhouse", type="t", outcome="applied",
                                           payment_id=payment.payment_id)


async def test_a_failure_after_asyncpg_and_sqlalchemy_statements_writes_nothing(engine):
    payment, key, event_id = new_payment("acct_uow_1"), "uow-key-" + ids.new_event_id(), ids.new_event_id()
    with pytest.raises(RuntimeError):
        async with SqlUnitOfWork(engine) as uow:
            await claim_add_and_record(uow, payment, key, event_id)
            await uow.journal.flush()  # the events too
            raise RuntimeError("the use case fails before commit")
    assert await written(engine, payment.payment_id, key, event_id) == (0, 0, 0)
    async with SqlUnitOfWork(engine) as uow:  # the same pooled connection (pool of 1): no transaction left open
        await claim_add_and_record(uow, payment, key, event_id)
        await uow.commit()
    assert await written(engine, payment.payment_id, key, event_id) == (1, 1, 1)


async def test_a_database_error_mid_unit_of_work_writes_nothing_and_is_sqlalchemys_error(engine):
    payment, key, event_id = new_payment("acct_uow_2"), "uow-key-" + ids.new_event_id(), ids.new_event_id()
    async with SqlUnitOfWork(engine) as uow:
        await uow.payments.add(payment)
        await uow.commit()
    again = new_payment("acct_uow_2")
    with pytest.raises(IntegrityError):
        async with SqlUnitOfWork(engine) as uow:
            await uow.idempotency.claim(again.merchant_id, key, operation="create", fingerprint="f" * 64,
                                        payment_id=again.payment_id, refund_id="", lease_seconds=30)
            assert await uow.webhook_events.record(event_id, processor="inhouse", type="t", outcome="applied",
                                                   payment_id=again.payment_id)
            await uow.payments.add(payment)  # its primary key again: the statement fails
            await uow.commit()
    assert await written(engine, again.payment_id, key, event_id) == (0, 0, 0)


async def test_uncommitted_work_is_seen_inside_the_unit_of_work_and_nowhere_else(engine, postgres):
    payment = new_payment("acct_uow_3")
    other = make_engine(Settings(database_url=postgres, db_pool_size=1))
    try:
        key = "uow-key-" + ids.new_event_id()
        async with SqlUnitOfWork(engine) as uow:
            await uow.idempotency.claim(payment.merchant_id, key, operation="create",  # asyncpg
                                        fingerprint="f" * 64, payment_id=payment.payment_id, refund_id="",
                                        lease_seconds=30)
            inside = (await uow.connection.execute(  # SQLAlchemy, same connection and transaction
                select(func.count()).where(idempotency_keys.c.key == key))).scalar()
            async with other.connect() as connection:
                outside = (await connection.execute(
                    select(func.count()).where(idempotency_keys.c.key == key))).scalar()
            await uow.commit()
    finally:
        await other.dispose()
    assert (inside, outside) == (1, 0)


async def test_a_connection_killed_mid_unit_of_work_is_unavailable_and_never_pooled_again(engine, postgres):
    other = make_engine(Settings(database_url=postgres, db_pool_size=1))
    payment = new_payment("acct_uow_4")
    try:
        with pytest.raises(Exception) as caught:
            async with SqlUnitOfWork(engine) as uow:
                pid = uow.transaction.driver.get_server_pid()
                async with other.connect() as connection:
                    await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                await uow.payments.get(payment.merchant_id, payment.payment_id)  # a statement on the dead one
        assert is_database_unavailable(caught.value), repr(caught.value)
        async with SqlUnitOfWork(engine) as uow:  # a fresh connection, not the dead one
            assert uow.transaction.driver.get_server_pid() != pid
            await uow.payments.add(payment)
            await uow.commit()
    finally:
        await other.dispose()


async def test_every_hot_statement_prepares_on_the_migrated_schema(engine):
    statements = {**ALL, "ADD_PAYMENT_ONCE": ADD_PAYMENT_ONCE}
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        for name, statement in statements.items():
            prepared = await driver.prepare(statement.sql)
            assert len(prepared.get_parameters()) == len(statement.names), name


async def test_a_version_that_moved_fails_the_last_statement_and_nothing_of_the_unit_of_work_is_written(engine):
    payment, key = new_payment("acct_uow_5"), "uow-key-" + ids.new_event_id()
    async with SqlUnitOfWork(engine) as uow:
        await uow.payments.add(payment)
        await uow.commit()
    async with SqlUnitOfWork(engine) as uow:
        await uow.idempotency.claim(payment.merchant_id, key, operation="process", fingerprint="f" * 64,
                                    payment_id=payment.payment_id, refund_id="", lease_seconds=30)
        await uow.commit()
    stale = await read(engine, payment)  # read without a lock: version 1
    fresh = await read(engine, payment)
    async with SqlUnitOfWork(engine) as uow:
        fresh.description = "fresh"
        await uow.payments.save(fresh)  # version 1 -> 2 (payment.updated)
        await uow.commit()
    with pytest.raises(ConcurrentUpdate):
        async with SqlUnitOfWork(engine) as uow:
            stale.description = "stale"
            await uow.payments.save(stale)  # staged: WHERE version = 1
            await uow.idempotency.complete(stale.merchant_id, key, {"status": "CAPTURED"})  # staged
            await uow.commit()  # the last statement finds version 2: ConcurrentUpdate, all rolled back
    after = await read(engine, payment)
    assert (after.description, after.version) == ("fresh", 2)
    async with engine.connect() as connection:
        state = (await connection.execute(select(idempotency_keys.c.state)
                                          .where(idempotency_keys.c.key == key))).scalar()
        logged = (await connection.execute(select(func.count()).select_from(events)
                                           .where(events.c.payment_id == payment.payment_id))).scalar()
    assert (state, logged) == ("started", 2)  # created, updated: nothing of the stale save


async def test_a_staged_write_is_read_back_inside_its_unit_of_work(engine):
    payment = new_payment("acct_uow_6")
    async with SqlUnitOfWork(engine) as uow:
        await uow.payments.add(payment)  # staged
        again = await uow.payments.get(payment.merchant_id, payment.payment_id, for_update=True)
        again.description = "changed"
        await uow.payments.save(again)  # staged
        listed = await uow.payments.list(payment.merchant_id, PaymentFilter(), None, 10)
        await uow.commit()
    assert again is not None and [p.payment_id for p in listed] == [payment.payment_id]
    assert listed[0].version == again.version == 2


async def test_a_create_sends_four_statements_one_transaction_and_two_statements_alone(engine, postgres):
    app = bootstrap(Settings(database_url=postgres, redis_url=""), engine=engine)
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    def on_begin(conn) -> None:
        seen.append("BEGIN")

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    event.listen(engine.sync_engine, "begin", on_begin)
    try:
        command = CreatePayment("acct_uow_7", 1000, "USD", idempotency_key="six-" + ids.new_event_id())
        created = await create_payment(command, app.deps)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
        event.remove(engine.sync_engine, "begin", on_begin)
        await app.close()
    print(json.dumps({"test": "statements of one create", "sent": seen}))
    assert created.status.value == "REQUIRES_CAPTURE"
    # begin: the key claim, the payment and its event in one statement, alone (no BEGIN/COMMIT); the
    # ledger's one, alone; settle: the locked joined read, then the UPDATE, the key's completion and
    # the event in one
    assert seen == ["WITH", "WITH", "BEGIN", "SELECT", "WITH"]


async def read(engine, payment: Payment) -> Payment:
    async with SqlUnitOfWork(engine) as uow:
        return await uow.payments.get(payment.merchant_id, payment.payment_id)


async def test_a_locked_read_that_waited_sees_the_refund_committed_meanwhile(engine, postgres):
    payment = new_payment("acct_uow_8")
    other = make_engine(Settings(database_url=postgres, db_pool_size=1))
    async with SqlUnitOfWork(engine) as uow:
        await uow.payments.add(payment)
        await uow.commit()
    async with SqlUnitOfWork(engine) as uow:  # authorized and captured, so it can be refunded
        captured = await uow.payments.get(payment.merchant_id, payment.payment_id, for_update=True)
        captured.authorized("ref_uow_8", captured=True)
        await uow.payments.save(captured)
        await uow.commit()
    reads: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        reads.append("locked" if "FOR UPDATE" in statement else "again")

    try:
        async with SqlUnitOfWork(engine) as first:
            refunding = await first.payments.get(payment.merchant_id, payment.payment_id, for_update=True)
            refunding.begin_refund("re_uow_8", 300, "")
            await first.payments.save(refunding)
            await first.journal.flush()
            event.listen(other.sync_engine, "before_cursor_execute", record)
            async with SqlUnitOfWork(other) as second:
                waiting = asyncio.ensure_future(
                    second.payments.get(payment.merchant_id, payment.payment_id, for_update=True))
                await asyncio.sleep(0.3)  # the second read is queued behind the first's lock
                assert not waiting.done()
                await first.commit()
                seen = await waiting
    finally:
        event.remove(other.sync_engine, "before_cursor_execute", record)
        await other.dispose()
    assert [r.refund_id for r in seen.refunds] == ["re_uow_8"] and seen.version == refunding.version
    assert reads == ["locked", "again"]  # the versions differed: read again under the lock


async def test_a_payment_added_then_saved_in_one_unit_of_work_is_written_with_both_changes(engine):
    # Staged writes share one statement and one snapshot: the save must not be sent with the add.
    payment = new_payment("acct_uow_9")
    async with SqlUnitOfWork(engine) as uow:
        await uow.payments.add(payment)
        payment.description = "first save"
        await uow.payments.save(payment)
        payment.description = "second save"
        await uow.payments.save(payment)
        await uow.commit()
    stored = await read(engine, payment)
    assert (stored.description, stored.version) == ("second save", payment.version)
    async with engine.connect() as connection:
        sequences = (await connection.execute(select(events.c.sequence).where(
            events.c.payment_id == payment.payment_id).order_by(events.c.sequence))).scalars().all()
    assert sequences == list(range(1, payment.version + 1))
