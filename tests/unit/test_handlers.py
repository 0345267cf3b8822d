"""Every use case through ``bootstrap(..., uow=<in-memory>)``, in the cosmicpython manner.

The unit of work, the idempotency store and the webhook log are the in-memory
fakes of tests/fakes.py; the processor is FakeProcessor (the in-house
simulator on an in-memory ledger, plus scripted failures). So each test runs a
whole use case (begin, processor call, settle) in microseconds, and checks
what a client sees, what was committed and what the processor was asked.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from service.bootstrap import bootstrap
from service.config import Settings
from service.domain import errors
from service.domain.model import CaptureMethod, PendingAction, RefundStatus, Status
from service.domain.processor import ProcessorPayment, ProcessorStatus
from service.service_layer.commands import Action, CreatePayment, GetPayment, ListPayments, ProcessPayment
from service.service_layer.dependencies import Dependencies
from service.service_layer.handlers import create_payment, get_payment, list_payments, process_payment
from service.service_layer.reconcile import prune_idempotency_keys, reconcile
from service.service_layer.webhooks import ProcessorEvent, apply_event
from tests.fakes import FakeProcessor, MemoryUnitOfWork, Outcome, SingleProcessor, Store

pytestmark = pytest.mark.unit

MERCHANT, OTHER = "acct_unit", "acct_unit_other"


@dataclasses.dataclass
class World:
    store: Store
    processor: FakeProcessor
    deps: Dependencies

    def stored(self, payment_id: str):
        return self.store.payments[payment_id]

    def operations(self) -> list[str]:
        return [call.operation for call in self.processor.calls]


@pytest.fixture
def world() -> World:
    store, processor = Store(), FakeProcessor("fake")
    app = bootstrap(Settings(default_processor="fake"), uow=lambda: MemoryUnitOfWork(store),
                    processors=SingleProcessor(fake=processor))
    return World(store, processor, app.deps)


def create(amount: int = 1000, **fields) -> CreatePayment:
    return CreatePayment(**{"merchant_id": MERCHANT, "amount": amount, "currency": "USD", **fields})


def process(payment_id: str, action: Action, amount: int | None = None, **fields) -> ProcessPayment:
    return ProcessPayment(merchant_id=MERCHANT, payment_id=payment_id, action=action, amount=amount, **fields)


async def authorized(world: World, amount: int = 1000):
    return await create_payment(create(amount), world.deps)


async def captured(world: World, amount: int = 1000):
    payment = await authorized(world, amount)
    return await process_payment(process(payment.payment_id, Action.CAPTURE), world.deps)


# ---- create ---------------------------------------------------------------------------------------


async def test_create_authorizes_and_commits_the_payment(world):
    payment = await create_payment(create(1500, description="tea", metadata={"order": "42"}), world.deps)
    assert payment.status is Status.REQUIRES_CAPTURE and payment.pending_action is None
    assert payment.processor_reference.startswith("ih_")
    assert world.stored(payment.payment_id).status is Status.REQUIRES_CAPTURE
    assert world.stored(payment.payment_id).metadata == {"order": "42"}
    assert world.store.commits == 2  # begin (PROCESSING) and settle
    [call] = world.processor.calls
    assert (call.operation, call.idempotency_key) == ("authorize", f"{payment.payment_id}:authorize")


async def test_automatic_capture_asks_the_processor_to_capture(world):
    payment = await create_payment(create(700, capture_method=CaptureMethod.AUTOMATIC), world.deps)
    assert (payment.status, payment.amount_captured) == (Status.CAPTURED, 700)
    assert world.processor.calls[0].args[0].capture is True


async def test_a_decline_is_a_failed_payment_with_the_processor_code(world):
    payment = await create_payment(create(payment_method="pm_card_chargeDeclinedInsufficientFunds"), world.deps)
    assert (payment.status, payment.failure_code) == (Status.FAILED, "insufficient_funds")
    assert world.stored(payment.payment_id).status is Status.FAILED


async def test_an_unknown_processor_is_invalid_and_writes_nothing(world):
    with pytest.raises(errors.InvalidArgument) as raised:
        await create_payment(create(processor="paypal"), world.deps)
    assert raised.value.field == "processor"
    assert world.store.payments == {} and world.processor.calls == []


async def test_bad_input_is_invalid_before_anything_is_written(world):
    with pytest.raises(errors.InvalidArgument) as raised:
        await create_payment(create(0), world.deps)
    assert raised.value.field == "amount"
    assert world.store.commits == 0


async def test_an_unreachable_processor_charges_nothing_and_frees_the_key(world):
    world.processor.script("authorize", Outcome.UNAVAILABLE)
    with pytest.raises(errors.Unavailable, match="nothing was charged"):
        await create_payment(create(idempotency_key="k-unavailable"), world.deps)
    assert world.store.keys == {}
    retried = await create_payment(create(idempotency_key="k-unavailable"), world.deps)
    assert retried.status is Status.REQUIRES_CAPTURE


async def test_a_lost_answer_leaves_the_payment_processing(world):
    world.processor.script("authorize", Outcome.ANSWER_LOST)
    payment = await create_payment(create(idempotency_key="k-lost"), world.deps)
    assert (payment.status, payment.pending_action) == (Status.PROCESSING, PendingAction.AUTHORIZE)
    assert world.store.keys[(MERCHANT, "k-lost")]["state"] == "started"


# ---- idempotency: replay and resume -----------------------------------------------------------------


async def test_a_repeated_create_replays_the_first_answer_without_calling_the_processor(world):
    first = await create_payment(create(idempotency_key="k-replay"), world.deps)
    again = await create_payment(create(idempotency_key="k-replay"), world.deps)
    assert again == first
    assert world.operations() == ["authorize"] and len(world.store.payments) == 1


async def test_the_same_key_with_other_parameters_is_refused(world):
    await create_payment(create(1000, idempotency_key="k-reused"), world.deps)
    with pytest.raises(errors.IdempotencyKeyReused):
        await create_payment(create(2000, idempotency_key="k-reused"), world.deps)


async def test_a_retry_resumes_a_create_whose_answer_was_lost(world):
    world.processor.script("authorize", Outcome.ANSWER_LOST)
    lost = await create_payment(create(idempotency_key="k-resume"), world.deps)
    resumed = await create_payment(create(idempotency_key="k-resume"), world.deps)
    assert resumed.payment_id == lost.payment_id and resumed.status is Status.REQUIRES_CAPTURE
    # the same processor key both times: the processor answers with what it recorded
    assert [c.idempotency_key for c in world.processor.calls] == [f"{lost.payment_id}:authorize"] * 2
    assert len(world.processor.ledger.payments) == 1
    assert world.store.keys[(MERCHANT, "k-resume")]["state"] == "completed"


async def test_a_repeated_process_replays_and_a_lost_refund_resumes(world):
    payment = await captured(world)
    first = await process_payment(process(payment.payment_id, Action.REFUND, 300, idempotency_key="r1"), world.deps)
    again = await process_payment(process(payment.payment_id, Action.REFUND, 300, idempotency_key="r1"), world.deps)
    assert again == first and first.amount_refunded == 300
    world.processor.script("refund", Outcome.ANSWER_LOST)
    lost = await process_payment(process(payment.payment_id, Action.REFUND, 200, idempotency_key="r2"), world.deps)
    assert [r.status for r in lost.refunds] == [RefundStatus.SUCCEEDED, RefundStatus.PENDING]
    resumed = await process_payment(process(payment.payment_id, Action.REFUND, 200, idempotency_key="r2"),
                                    world.deps)
    assert [r.status for r in resumed.refunds] == [RefundStatus.SUCCEEDED] * 2
    assert resumed.amount_refunded == 500 and resumed.status is Status.PARTIALLY_REFUNDED
    refund_keys = [c.idempotency_key for c in world.processor.calls_of("refund")]
    assert refund_keys == [r.refund_id for r in resumed.refunds] + [resumed.refunds[1].refund_id]


# ---- get and list -----------------------------------------------------------------------------------


async def test_get_returns_the_merchants_own_payment_only(world):
    payment = await authorized(world)
    assert await get_payment(GetPayment(MERCHANT, payment.payment_id), world.deps) == payment
    with pytest.raises(errors.NotFound):
        await get_payment(GetPayment(OTHER, payment.payment_id), world.deps)
    with pytest.raises(errors.InvalidArgument) as raised:
        await get_payment(GetPayment(MERCHANT, "not-an-id"), world.deps)
    assert raised.value.field == "payment_id"


async def test_list_pages_newest_first_with_tokens_bound_to_the_filters(world):
    made = [await authorized(world, amount) for amount in (100, 200, 300)]
    first, token = await list_payments(ListPayments(MERCHANT, page_size=2), world.deps)
    rest, last = await list_payments(ListPayments(MERCHANT, page_size=2, page_token=token), world.deps)
    assert [p.payment_id for p in first + rest] == [p.payment_id for p in reversed(made)]
    assert token and last == ""
    with pytest.raises(errors.InvalidArgument, match="different filters"):
        await list_payments(ListPayments(MERCHANT, page_token=token, status=Status.CAPTURED), world.deps)
    with pytest.raises(errors.InvalidArgument) as raised:
        await list_payments(ListPayments(MERCHANT, page_token="garbage!"), world.deps)
    assert raised.value.field == "page_token"
    assert await list_payments(ListPayments(OTHER), world.deps) == ([], "")


async def test_list_filters_by_status(world):
    kept = await captured(world)
    await authorized(world)
    page, _ = await list_payments(ListPayments(MERCHANT, status=Status.CAPTURED), world.deps)
    assert [p.payment_id for p in page] == [kept.payment_id]


# ---- process: capture, refund, cancel -------------------------------------------------------------


async def test_capture_part_of_an_authorization(world):
    payment = await authorized(world, 1000)
    done = await process_payment(process(payment.payment_id, Action.CAPTURE, 600), world.deps)
    assert (done.status, done.amount_captured, done.pending_action) == (Status.CAPTURED, 600, None)
    assert world.processor.calls_of("capture")[0].args == (payment.processor_reference, 600)


async def test_refunds_add_up_to_a_full_refund(world):
    payment = await captured(world, 1000)
    partly = await process_payment(process(payment.payment_id, Action.REFUND, 400, reason="damaged"), world.deps)
    assert (partly.status, partly.amount_refunded) == (Status.PARTIALLY_REFUNDED, 400)
    assert partly.refunds[0].reason == "damaged" and partly.refunds[0].processor_reference.startswith("ih_re_")
    fully = await process_payment(process(payment.payment_id, Action.REFUND), world.deps)  # the rest
    assert (fully.status, fully.amount_refunded) == (Status.REFUNDED, 1000)
    with pytest.raises(errors.PaymentNotRefundable):
        await process_payment(process(payment.payment_id, Action.REFUND, 1), world.deps)


async def test_cancel_releases_an_authorization(world):
    payment = await authorized(world)
    canceled = await process_payment(process(payment.payment_id, Action.CANCEL), world.deps)
    assert canceled.status is Status.CANCELED
    assert world.operations() == ["authorize", "cancel"]


async def test_illegal_steps_change_nothing_and_call_no_processor(world):
    payment = await authorized(world, 1000)
    with pytest.raises(errors.AmountExceedsCapturable):
        await process_payment(process(payment.payment_id, Action.CAPTURE, 1001), world.deps)
    with pytest.raises(errors.PaymentNotRefundable):
        await process_payment(process(payment.payment_id, Action.REFUND, 10), world.deps)
    with pytest.raises(errors.NotFound):
        await process_payment(process("pay_" + "0" * 26, Action.CAPTURE), world.deps)
    assert world.stored(payment.payment_id).status is Status.REQUIRES_CAPTURE
    assert world.operations() == ["authorize"]


async def test_a_refused_capture_returns_the_payment_to_requires_capture(world):
    payment = await authorized(world)
    world.processor.script("capture", Outcome.INVALID)
    with pytest.raises(errors.ProcessorInvalidRequest):
        await process_payment(process(payment.payment_id, Action.CAPTURE, idempotency_key="c1"), world.deps)
    stored = world.stored(payment.payment_id)
    assert (stored.status, stored.pending_action) == (Status.REQUIRES_CAPTURE, None)
    assert world.store.keys == {}  # forgotten: a retry starts afresh


async def test_a_declined_refund_is_recorded_as_failed_and_frees_its_amount(world):
    payment = await captured(world, 1000)
    world.processor.script("refund", Outcome.DECLINED)
    with pytest.raises(errors.ProcessorDeclined):
        await process_payment(process(payment.payment_id, Action.REFUND, 1000), world.deps)
    stored = world.stored(payment.payment_id)
    assert [r.status for r in stored.refunds] == [RefundStatus.FAILED]
    assert (stored.status, stored.amount_refundable) == (Status.CAPTURED, 1000)


# ---- reconcile ----------------------------------------------------------------------------------------


async def test_reconcile_settles_a_lost_capture_by_asking_the_processor(world):
    payment = await authorized(world)
    world.processor.script("capture", Outcome.ANSWER_LOST)
    await process_payment(process(payment.payment_id, Action.CAPTURE, 800), world.deps)
    assert world.stored(payment.payment_id).status is Status.PROCESSING
    report = await reconcile(world.deps, older_than=timedelta(0))
    assert (report.examined, report.settled, report.errors) == (1, 1, 0)
    stored = world.stored(payment.payment_id)
    assert (stored.status, stored.amount_captured) == (Status.CAPTURED, 800)
    assert world.operations() == ["authorize", "capture", "retrieve"]  # looked up, not captured twice


async def test_reconcile_resends_a_pending_refund_and_a_lost_authorization(world):
    payment = await captured(world)
    world.processor.script("refund", Outcome.ANSWER_LOST)
    await process_payment(process(payment.payment_id, Action.REFUND, 250), world.deps)
    world.processor.script("authorize", Outcome.ANSWER_LOST)
    lost = await create_payment(create(), world.deps)
    report = await reconcile(world.deps, older_than=timedelta(0))
    assert (report.examined, report.settled, report.still_pending) == (2, 2, 0)
    assert world.stored(payment.payment_id).amount_refunded == 250
    assert world.stored(lost.payment_id).status is Status.REQUIRES_CAPTURE
    assert len(world.processor.ledger.refunds) == 1 and len(world.processor.ledger.payments) == 2


async def test_reconcile_leaves_what_the_processor_cannot_reach(world):
    # reconciliation looks before it re-sends: the lookup itself cannot reach the processor
    world.processor.script("authorize", Outcome.ANSWER_LOST).script("find_payment", Outcome.UNAVAILABLE)
    lost = await create_payment(create(), world.deps)
    report = await reconcile(world.deps, older_than=timedelta(0))
    assert (report.examined, report.errors) == (1, 1)
    assert world.stored(lost.payment_id).status in (Status.PROCESSING, Status.FAILED)


async def test_prune_drops_only_completed_keys_older_than_the_retention(world):
    await create_payment(create(idempotency_key="k-old"), world.deps)
    assert await prune_idempotency_keys(world.deps, timedelta(days=1)) == 0
    assert await prune_idempotency_keys(world.deps, timedelta(0)) == 1
    assert world.store.keys == {}


# ---- webhooks: the processor's own view -----------------------------------------------------------------


def event(event_id: str, view: ProcessorPayment | None, **fields) -> ProcessorEvent:
    return ProcessorEvent(event_id=event_id, type="payment_intent.succeeded", processor="fake", view=view, **fields)


def view_of(payment, status: ProcessorStatus, captured: int = 0, refunded: int = 0) -> ProcessorPayment:
    return ProcessorPayment(payment.processor_reference, status, payment.amount, captured, refunded)


async def test_a_webhook_moves_the_payment_forward_once(world):
    payment = await authorized(world, 1000)
    captured_view = view_of(payment, ProcessorStatus.CAPTURED, captured=1000)
    assert await apply_event(event("evt_1", captured_view), world.deps) == "applied"
    assert world.stored(payment.payment_id).status is Status.CAPTURED
    assert await apply_event(event("evt_1", captured_view), world.deps) == "duplicate"
    assert await apply_event(event("evt_2", captured_view), world.deps) == "unchanged"
    refunded_view = view_of(payment, ProcessorStatus.CAPTURED, captured=1000, refunded=300)
    assert await apply_event(event("evt_3", refunded_view, ours=(MERCHANT, payment.payment_id)), world.deps) \
        == "applied"
    stored = world.stored(payment.payment_id)
    assert (stored.status, stored.amount_refunded) == (Status.PARTIALLY_REFUNDED, 300)
    assert [r.reason for r in stored.refunds] == ["made at the processor"]


async def test_webhooks_about_nothing_of_ours_are_recorded_and_ignored(world):
    await authorized(world)
    stranger = ProcessorPayment("ih_unknown", ProcessorStatus.CAPTURED, 10, 10, 0)
    assert await apply_event(event("evt_a", stranger), world.deps) == "unknown_payment"
    assert await apply_event(event("evt_b", None), world.deps) == "ignored"
    assert await apply_event(event("evt_b", None), world.deps) == "duplicate"
    assert {k: v[2] for k, v in world.store.events.items()} == {"evt_a": "unknown_payment", "evt_b": "ignored"}
