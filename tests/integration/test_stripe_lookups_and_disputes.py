"""The Stripe adapter's lookups (reconciliation looks before it re-sends) and dispute calls,
against the REAL stripe-mock through the official SDK. stripe-mock keeps no state: these tests
check that each request is valid for Stripe's API and which one is sent, and how answers map."""

from __future__ import annotations

import pytest

from service.domain.processor import DisputeEvidence, DisputeStatus, ProcessorRefundStatus
from tests.integration.test_stripe_adapter import API_KEY, key, processor, recorder  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Use .content=<...>. to upload raw bytes:DeprecationWarning"),
]


async def test_find_payment_searches_payment_intents_by_our_payment_id(processor, recorder):  # noqa: F811
    found = await processor.find_payment("pay_01JD8X3Q6J8W7Z0V5Y4T2R1S9K")
    [exchange] = recorder.exchanges
    assert (exchange.method, exchange.path, exchange.status) == ("get", "/v1/payment_intents/search", 200)
    assert found is None or found.reference.startswith("pi_")
    assert processor.idempotency_retention.total_seconds() == 24 * 3600


async def test_find_refund_lists_the_intents_refunds_and_matches_our_refund_id(processor, recorder):  # noqa: F811
    assert await processor.find_refund("pi_123", "re_ours_not_in_the_fixture") is None
    [exchange] = recorder.exchanges
    assert (exchange.method, exchange.path, exchange.status) == ("get", "/v1/refunds", 200)


async def test_a_refund_names_our_refund_id_and_a_pending_one_is_not_succeeded(processor, recorder):  # noqa: F811
    idempotency_key = key()
    refund = await processor.refund("pi_123", 300, idempotency_key=idempotency_key)
    [exchange] = recorder.exchanges
    assert exchange.form["metadata[refund_id]"] == [idempotency_key]
    assert refund.status in tuple(ProcessorRefundStatus)
    from service.adapters.processors.stripe import refund_from_stripe
    pending = refund_from_stripe({"id": "re_1", "amount": 300, "status": "pending", "payment_intent": "pi_1",
                                  "metadata": {"refund_id": "re_ours"}})
    assert (pending.status, pending.succeeded, pending.refund_id) == (ProcessorRefundStatus.PENDING, False, "re_ours")


async def test_dispute_evidence_and_close_are_valid_stripe_requests(processor, recorder):  # noqa: F811
    evidence = DisputeEvidence(product_description="a teapot", uncategorized_text="delivered")
    updated = await processor.update_dispute("du_123", evidence, submit=True, idempotency_key=key())
    closed = await processor.close_dispute("du_123", idempotency_key=key())
    update, close = recorder.exchanges
    assert (update.path, update.status) == ("/v1/disputes/du_123", 200)
    assert update.form["evidence[uncategorized_text]"] == ["delivered"] and update.form["submit"] == ["true"]
    assert (close.path, close.status) == ("/v1/disputes/du_123/close", 200)
    assert isinstance(updated.status, DisputeStatus) and isinstance(closed.status, DisputeStatus)
    assert API_KEY not in repr(updated)
