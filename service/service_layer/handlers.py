"""The use cases: create, get, list and process payments.

Every call to a processor is bracketed by two transactions:

1. *begin*: claim the idempotency key, write the payment (PROCESSING) or the
   reserved refund (PENDING), commit. Row locks (SELECT ... FOR UPDATE) make
   concurrent requests on one payment queue up here, on any replica.
2. the processor call, outside any transaction, with an idempotency key
   derived from the payment (``pay_x:authorize``, ``pay_x:capture``, the
   refund id), so re-sending it can never charge twice.
3. *settle*: lock the payment again, record the answer, store the response
   under the caller's key, commit.

A crash between 1 and 3 leaves a PROCESSING payment or a PENDING refund;
a retry with the same key (after the lease ends) or `reconcile` re-sends the
same processor call and settles it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from collections.abc import Callable
from datetime import datetime

from ..domain import errors, ids
from ..domain.model import Payment, PendingAction, RefundStatus, Status
from ..domain.processor import AuthorizeRequest, PaymentProcessor, ProcessorPayment, ProcessorStatus
from ..domain.snapshot import from_snapshot, to_snapshot
from .commands import Action, CreatePayment, GetPayment, ListPayments, ProcessPayment
from .dependencies import Dependencies
from .ports import ClaimKind, PageCursor, PaymentFilter
from .validation import check_payment_id, page_size, validate_create, validate_process


def fingerprint(fields: dict) -> str:
    """A stable hash of a request's parameters (the idempotency key excluded)."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# ---- create ---------------------------------------------------------------


async def create_payment(cmd: CreatePayment, deps: Dependencies) -> Payment:
    cmd = validate_create(cmd)
    processor_name = cmd.processor or deps.processors.default
    deps.processors.get(processor_name)  # unknown name: InvalidArgument, nothing written
    payment = Payment.new(
        payment_id=ids.new_payment_id(),
        merchant_id=cmd.merchant_id,
        amount=cmd.amount,
        currency=cmd.currency,
        capture_method=cmd.capture_method,
        processor=processor_name,
        payment_method=cmd.payment_method,
        customer_id=cmd.customer_id,
        description=cmd.description,
        metadata=dict(cmd.metadata),
    )
    key = cmd.idempotency_key
    async with deps.uow() as uow:
        if key:
            fields = {k: v for k, v in cmd.__dict__.items() if k not in ("idempotency_key", "merchant_id")}
            claim = await uow.idempotency.claim(
                cmd.merchant_id, key, operation="create", fingerprint=fingerprint(fields),
                payment_id=payment.payment_id, refund_id="", lease_seconds=deps.lease_seconds,
            )
            if claim.kind is ClaimKind.REPLAY:
                return from_snapshot(claim.response or {})
            if claim.kind is ClaimKind.RESUME:
                await uow.commit()
                return await resume(cmd.merchant_id, claim.payment_id, claim.refund_id, key, deps)
        await uow.payments.add(payment)
        await uow.commit()
    await deps.cache.changed(payment)
    return await _authorize(payment, key, deps)


async def _authorize(payment: Payment, key: str, deps: Dependencies) -> Payment:
    processor = deps.processors.get(payment.processor)
    request = AuthorizeRequest(
        payment_id=payment.payment_id,
        merchant_id=payment.merchant_id,
        amount=payment.amount,
        currency=payment.currency,
        payment_method=payment.payment_method,
        capture=payment.capture_method.value == "AUTOMATIC",
        description=payment.description,
        customer_id=payment.customer_id,
    )
    try:
        result = await processor.authorize(request, idempotency_key=f"{payment.payment_id}:authorize")
    except (errors.ProcessorDeclined, errors.ProcessorInvalidRequest) as exc:
        decline = functools.partial(Payment.declined, code=_decline_code(exc), message=exc.message)
        return await settle(payment, key, deps, decline)
    except errors.ProcessorUnavailable as exc:
        decline = functools.partial(Payment.declined, code="processor_unavailable", message=exc.message)
        await settle(payment, key, deps, decline, forget=True)
        raise errors.Unavailable(
            f"processor {payment.processor} is unavailable; nothing was charged; retry with the same idempotency key"
        ) from exc
    except errors.ProcessorOutcomeUnknown:
        return await _leave_processing(payment, key, deps)
    return await settle(payment, key, deps, lambda p: _apply_authorization(p, result))


def _decline_code(exc: errors.ProcessorError) -> str:
    return exc.code if isinstance(exc, errors.ProcessorDeclined) else "processor_invalid_request"


def _apply_authorization(payment: Payment, result: ProcessorPayment) -> None:
    if result.status is ProcessorStatus.CAPTURED:
        payment.authorized(result.reference, captured=True)
    elif result.status is ProcessorStatus.AUTHORIZED:
        payment.authorized(result.reference, captured=False)
    elif result.status is ProcessorStatus.FAILED:
        payment.declined(result.failure_code or "declined", result.failure_message)
    else:  # PENDING at the processor: remember where to look, stay PROCESSING
        payment.processor_reference = result.reference


# ---- process: capture, refund, cancel -------------------------------------


async def process_payment(cmd: ProcessPayment, deps: Dependencies) -> Payment:
    validate_process(cmd)
    key = cmd.idempotency_key
    refund_id = ids.new_refund_id() if cmd.action is Action.REFUND else ""
    async with deps.uow() as uow:
        if key:
            fields = {"payment_id": cmd.payment_id, "action": cmd.action.value, "amount": cmd.amount,
                      "reason": cmd.reason}
            claim = await uow.idempotency.claim(
                cmd.merchant_id, key, operation="process", fingerprint=fingerprint(fields),
                payment_id=cmd.payment_id, refund_id=refund_id, lease_seconds=deps.lease_seconds,
            )
            if claim.kind is ClaimKind.REPLAY:
                return from_snapshot(claim.response or {})
            if claim.kind is ClaimKind.RESUME:
                await uow.commit()
                return await resume(cmd.merchant_id, claim.payment_id, claim.refund_id, key, deps)
        payment = await uow.payments.get(cmd.merchant_id, cmd.payment_id, for_update=True)
        if payment is None:
            raise errors.NotFound(f"payment {cmd.payment_id} not found")
        if cmd.action is Action.CAPTURE:
            payment.begin_capture(cmd.amount)
        elif cmd.action is Action.CANCEL:
            payment.begin_cancel()
        else:
            payment.begin_refund(refund_id, cmd.amount, cmd.reason)
        await uow.payments.save(payment)
        await uow.commit()
    await deps.cache.changed(payment)
    return await send_pending(payment, refund_id, key, deps)


async def send_pending(payment: Payment, refund_id: str, key: str, deps: Dependencies) -> Payment:
    """Send the processor call that the payment is waiting for, and settle it."""
    if payment.pending_action is PendingAction.AUTHORIZE:
        return await _authorize(payment, key, deps)
    processor = deps.processors.get(payment.processor)
    try:
        apply = await _call(processor, payment, refund_id)
    except (errors.ProcessorDeclined, errors.ProcessorInvalidRequest, errors.ProcessorUnavailable) as exc:
        undo = functools.partial(_undo, refund_id=refund_id, reason=exc.reason.lower())
        await settle(payment, key, deps, undo, refund_id=refund_id, forget=True)
        raise
    except errors.ProcessorOutcomeUnknown:
        return await _leave_processing(payment, key, deps)
    return await settle(payment, key, deps, apply, refund_id=refund_id)


async def _call(processor: PaymentProcessor, payment: Payment, refund_id: str) -> Callable[[Payment], None]:
    """Make the call; return how to record its answer on a freshly locked payment."""
    reference = payment.processor_reference
    if refund_id:
        refund = payment.refund(refund_id)
        result = await processor.refund(reference, refund.amount, idempotency_key=refund_id, reason=refund.reason)
        return lambda p: p.record_refund_answer(refund_id, result)
    if payment.pending_action is PendingAction.CAPTURE:
        await processor.capture(reference, payment.pending_amount, idempotency_key=f"{payment.payment_id}:capture")
        return lambda p: p.complete_capture()
    await processor.cancel(reference, idempotency_key=f"{payment.payment_id}:cancel")
    return lambda p: p.complete_cancel()


def _undo(payment: Payment, refund_id: str, reason: str = "") -> None:
    if refund_id:
        payment.fail_refund(refund_id, reason)
    else:
        payment.abandon_pending()


# ---- settling -------------------------------------------------------------


def _still_waiting(payment: Payment, before: Payment, refund_id: str = "") -> bool:
    if refund_id:
        return payment.refund(refund_id).status is RefundStatus.PENDING
    return payment.status is Status.PROCESSING and payment.pending_action is before.pending_action


async def settle(
    before: Payment,
    key: str,
    deps: Dependencies,
    apply: Callable[[Payment], None],
    *,
    refund_id: str = "",
    forget: bool = False,
) -> Payment:
    """Record a processor's answer, unless someone (reconciliation) already did."""
    async with deps.uow() as uow:
        payment = await uow.payments.get(before.merchant_id, before.payment_id, for_update=True)
        assert payment is not None, "a payment being settled cannot disappear"
        if _still_waiting(payment, before, refund_id):
            apply(payment)
            await uow.payments.save(payment)
        if key and forget:
            await uow.idempotency.forget(payment.merchant_id, key)
        elif key:
            await uow.idempotency.complete(payment.merchant_id, key, to_snapshot(payment))
        await uow.commit()
    await deps.cache.changed(payment)
    return payment


async def _leave_processing(payment: Payment, key: str, deps: Dependencies) -> Payment:
    """Outcome unknown: keep the record, free the key for a retry to resume."""
    if key:
        async with deps.uow() as uow:
            await uow.idempotency.release(payment.merchant_id, key)
            await uow.commit()
    return payment


async def resume(merchant_id: str, payment_id: str, refund_id: str, key: str, deps: Dependencies) -> Payment:
    """Finish what an earlier request with this key started (or just report it)."""
    async with deps.uow() as uow:
        payment = await uow.payments.get(merchant_id, payment_id)
    if payment is None:  # the earlier request failed before writing anything
        async with deps.uow() as uow:
            await uow.idempotency.forget(merchant_id, key)
            await uow.commit()
        raise errors.IdempotencyKeyInUse("the earlier request with this idempotency key did not finish; retry")
    waiting_refund = refund_id and any(
        r.refund_id == refund_id and r.status is RefundStatus.PENDING for r in payment.refunds
    )
    if waiting_refund or (payment.status is Status.PROCESSING and not refund_id):
        return await send_pending(payment, refund_id if waiting_refund else "", key, deps)
    async with deps.uow() as uow:
        await uow.idempotency.complete(merchant_id, key, to_snapshot(payment))
        await uow.commit()
    return payment


# ---- reads ----------------------------------------------------------------


async def get_payment(query: GetPayment, deps: Dependencies) -> Payment:
    check_payment_id(query.payment_id)
    cached = await deps.cache.get(query.merchant_id, query.payment_id)
    if cached is not None:
        return cached
    async with deps.uow() as uow:
        payment = await uow.payments.get(query.merchant_id, query.payment_id)
    if payment is None:
        raise errors.NotFound(f"payment {query.payment_id} not found")
    await deps.cache.put(payment)
    return payment


def _filter_tag(filters: PaymentFilter) -> str:
    return fingerprint({"status": filters.status.value if filters.status else "", "customer": filters.customer_id})[:12]


def encode_page_token(cursor: PageCursor, filters: PaymentFilter) -> str:
    raw = json.dumps({"c": cursor.created_at.isoformat(), "p": cursor.payment_id, "f": _filter_tag(filters)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str, filters: PaymentFilter) -> PageCursor | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        cursor = PageCursor(datetime.fromisoformat(data["c"]), check_payment_id(data["p"]))
        tag = data["f"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError, errors.InvalidArgument):
        raise errors.InvalidArgument("page_token", "is not a token returned by ListPayments") from None
    if tag != _filter_tag(filters):
        raise errors.InvalidArgument("page_token", "was issued for different filters; start again without it")
    return cursor


async def list_payments(query: ListPayments, deps: Dependencies) -> tuple[list[Payment], str]:
    """One page, newest first, and the token of the next page ('' on the last)."""
    limit = page_size(query)
    filters = PaymentFilter(status=query.status, customer_id=query.customer_id)
    cursor = decode_page_token(query.page_token, filters)
    async with deps.uow() as uow:
        rows = await uow.payments.list(query.merchant_id, filters, cursor, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    next_token = encode_page_token(PageCursor(page[-1].created_at, page[-1].payment_id), filters) if more else ""
    return page, next_token
