"""The in-house processor on its PostgreSQL ledger (real PostgreSQL, real migrations).

Two engines stand for two server processes sharing the database; one test
also reconciles from a separate Python process. Concurrency is tested, not
assumed: duplicate keys, racing captures, racing refunds.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.adapters.processors.inhouse.postgres_ledger import PostgresLedger
from service.adapters.processors.inhouse.processor import InHouseProcessor
from service.adapters.tables import inhouse_idempotency_keys, inhouse_payments, metadata
from service.config import Settings
from service.domain.errors import (
    ProcessorDeclined,
    ProcessorInvalidRequest,
    ProcessorOutcomeUnknown,
    ProcessorUnavailable,
)
from service.domain.processor import AuthorizeRequest, ProcessorStatus

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
async def engines(postgres) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two independent connection pools on the migrated database: two 'server processes'."""
    first, second = create_async_engine(postgres), create_async_engine(postgres)
    yield first, second
    await first.dispose()
    await second.dispose()


@pytest.fixture
def processors(engines) -> tuple[InHouseProcessor, InHouseProcessor]:
    return tuple(InHouseProcessor.from_settings(Settings(), engine=engine) for engine in engines)


@pytest.fixture
def inhouse(processors) -> InHouseProcessor:
    return processors[0]


def request(
    payment_method: str = "pm_card_visa", *, amount: int = 1000, capture: bool = False
) -> AuthorizeRequest:
    return AuthorizeRequest(f"pay_{uuid.uuid4().hex}", "acct_int", amount, "USD", payment_method, capture)


def key() -> str:
    return uuid.uuid4().hex


async def count(engine: AsyncEngine, table, *where) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(table).where(*where))).scalar_one()


# ---- schema -----------------------------------------------------------------------------------


def _ledger_drift(connection) -> list:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_name": lambda name, kind, parent: kind != "table" or name.startswith("inhouse_"),
            "include_object": lambda obj, name, kind, reflected, compare_to: (
                kind != "table" or name.startswith("inhouse_")
            ),
        },
    )
    return compare_metadata(context, metadata)


async def test_migration_0002_creates_exactly_the_ledger_tables(engines):
    async with engines[0].connect() as connection:
        assert await connection.run_sync(_ledger_drift) == []


def test_the_ledger_port_is_postgres_backed(inhouse):
    assert isinstance(inhouse.ledger, PostgresLedger)


# ---- behaviour on PostgreSQL ---------------------------------------------------------------------


async def test_lifecycle(inhouse):
    payment = await inhouse.authorize(request(amount=1000), idempotency_key=key())
    await inhouse.capture(payment.reference, 900, idempotency_key=key())
    await inhouse.refund(payment.reference, 400, idempotency_key=key(), reason="requested_by_customer")
    with pytest.raises(ProcessorInvalidRequest, match="exceeds the refundable amount 500"):
        await inhouse.refund(payment.reference, 501, idempotency_key=key())
    state = await inhouse.retrieve(payment.reference)
    assert (state.status, state.amount_captured, state.amount_refunded) == (
        ProcessorStatus.CAPTURED,
        900,
        400,
    )


async def test_declines_are_recorded_and_replayed(inhouse, engines):
    authorize, idempotency_key = request("pm_card_chargeDeclinedExpiredCard"), key()
    for _ in range(2):
        with pytest.raises(ProcessorDeclined) as declined:
            await inhouse.authorize(authorize, idempotency_key=idempotency_key)
        assert declined.value.code == "expired_card"
    assert (
        await count(engines[0], inhouse_payments, inhouse_payments.c.payment_id == authorize.payment_id) == 1
    )


async def test_unavailable_records_nothing(inhouse, engines):
    authorize, idempotency_key = request("pm_card_unavailable"), key()
    with pytest.raises(ProcessorUnavailable):
        await inhouse.authorize(authorize, idempotency_key=idempotency_key)
    assert (
        await count(engines[0], inhouse_payments, inhouse_payments.c.payment_id == authorize.payment_id) == 0
    )
    assert (
        await count(engines[0], inhouse_idempotency_keys, inhouse_idempotency_keys.c.key == idempotency_key)
        == 0
    )


async def test_a_lost_answer_is_resolved_by_another_process_retrying_the_key(processors):
    first, second = processors
    authorize, idempotency_key = request("pm_card_timeout"), key()
    with pytest.raises(ProcessorOutcomeUnknown):
        await first.authorize(authorize, idempotency_key=idempotency_key)
    resolved = await second.authorize(authorize, idempotency_key=idempotency_key)
    assert resolved.status is ProcessorStatus.AUTHORIZED
    assert await first.retrieve(resolved.reference) == resolved


async def test_the_same_key_for_another_request_is_refused_by_every_process(processors):
    first, second = processors
    payment = await first.authorize(request(), idempotency_key=key())
    capture_key = key()
    await first.capture(payment.reference, 100, idempotency_key=capture_key)
    with pytest.raises(ProcessorInvalidRequest, match="different request"):
        await second.capture(payment.reference, 200, idempotency_key=capture_key)


RECONCILER = textwrap.dedent(
    """
    import asyncio, json, sys
    from sqlalchemy.ext.asyncio import create_async_engine
    from service.adapters.processors.inhouse.processor import InHouseProcessor
    from service.config import Settings

    async def main(url, reference, capture_key):
        engine = create_async_engine(url)
        processor = InHouseProcessor.from_settings(Settings(), engine=engine)
        seen = await processor.retrieve(reference)
        retried = await processor.capture(reference, 700, idempotency_key=capture_key)
        await engine.dispose()
        print(json.dumps({"seen": seen.status.value, "retried": retried.status.value,
                          "captured": retried.amount_captured}))

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def test_a_separate_process_reconciles_a_lost_capture(inhouse, postgres):
    payment = await inhouse.authorize(request("pm_card_captureTimeout"), idempotency_key=key())
    capture_key = key()
    with pytest.raises(ProcessorOutcomeUnknown):
        await inhouse.capture(payment.reference, 700, idempotency_key=capture_key)
    completed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", RECONCILER, postgres, payment.reference, capture_key],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"seen": "CAPTURED", "retried": "CAPTURED", "captured": 700}


# ---- concurrency ----------------------------------------------------------------------------------


async def test_concurrent_duplicates_are_one_authorization(processors, engines):
    authorize, idempotency_key = request(), key()
    calls = [processors[i % 2].authorize(authorize, idempotency_key=idempotency_key) for i in range(20)]
    results = await asyncio.gather(*calls)
    assert len({result.reference for result in results}) == 1
    assert (
        await count(engines[0], inhouse_payments, inhouse_payments.c.payment_id == authorize.payment_id) == 1
    )


async def test_racing_captures_capture_once(processors):
    payment = await processors[0].authorize(request(amount=1000), idempotency_key=key())
    calls = [processors[i % 2].capture(payment.reference, 1000 - i, idempotency_key=key()) for i in range(8)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    captured = [result for result in results if not isinstance(result, Exception)]
    assert len(captured) == 1
    assert all(isinstance(result, ProcessorInvalidRequest) for result in results if result not in captured)
    assert (await processors[1].retrieve(payment.reference)).amount_captured == captured[0].amount_captured


async def test_racing_refunds_never_exceed_the_captured_amount(processors):
    payment = await processors[0].authorize(request(amount=1000, capture=True), idempotency_key=key())
    calls = [processors[i % 2].refund(payment.reference, 150, idempotency_key=key()) for i in range(10)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    refunded = [result for result in results if not isinstance(result, Exception)]
    refused = [result for result in results if isinstance(result, Exception)]
    assert (len(refunded), len(refused)) == (6, 4)
    assert all(isinstance(error, ProcessorInvalidRequest) for error in refused)
    assert (await processors[1].retrieve(payment.reference)).amount_refunded == 900


# ---- an unreachable ledger ------------------------------------------------------------------------


async def test_an_unreachable_ledger_is_processor_unavailable(unused_tcp_port):
    engine = create_async_engine(f"postgresql+asyncpg://nobody@127.0.0.1:{unused_tcp_port}/none")
    try:
        with pytest.raises(ProcessorUnavailable, match="unreachable"):
            await InHouseProcessor(PostgresLedger(engine)).authorize(request(), idempotency_key=key())
    finally:
        await engine.dispose()
