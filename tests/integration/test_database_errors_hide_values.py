"""A database error never carries the statement's values into a log line (issue 15, item 6):
the engines hide SQLAlchemy's bound parameters and the log formatter redacts what is left."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError

from common.logs import JsonFormatter
from service.adapters.repository import SqlUnitOfWork
from service.bootstrap import make_engine
from service.config import Settings
from service.domain import ids
from service.domain.model import CaptureMethod, Payment

pytestmark = pytest.mark.integration

MARKER = "secret-description-marker"


async def test_a_failed_insert_logs_neither_its_parameters_nor_its_values(postgres):
    engine = make_engine(Settings(database_url=postgres))
    payment = Payment.new(payment_id=ids.new_payment_id(), merchant_id="acct_hide", amount=1000, currency="USD",
                          capture_method=CaptureMethod.MANUAL, processor="inhouse", payment_method="pm_card_visa",
                          description=MARKER)
    try:
        async with SqlUnitOfWork(engine) as uow:
            await uow.payments.add(payment)
            await uow.commit()
        with pytest.raises(IntegrityError) as caught:
            async with SqlUnitOfWork(engine) as uow:
                await uow.payments.add(payment)  # the same primary key again
                await uow.commit()
    finally:
        await engine.dispose()
    assert MARKER not in str(caught.value)
    assert "parameters hidden" in str(caught.value)
    record = logging.LogRecord("service", logging.ERROR, __file__, 1, "insert failed", (), None)
    record.exc_info = (caught.type, caught.value, caught.tb)
    line = JsonFormatter().format(record)
    print(line[:300])
    assert MARKER not in line
    assert payment.payment_id not in line  # PostgreSQL's "DETAIL: Key (payment_id)=(...)" is redacted
