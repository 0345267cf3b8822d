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
same processor call and settles it. What the payment waits for is a value
(pending.py: its own step, or one refund).
"""

from __future__ import annotations

import functools
import hashlib
import json

from ..domain import errors, ids
from ..domain.model import CaptureMethod, Payment, PendingAction
from ..domain.processor import AuthorizeRequest, ProcessorPayment, ProcessorStatus
from ..domain.snapshot import from_snapshot, to_snapshot
from .commands import Action, CreatePayment, GetPayment, ListPayments, ProcessPayment
from .dependencies import Dependencies
from .page_token import decode_page_token, encode_page_token
from .pending import PaymentCall, PendingCall, Record, RefundCall, processor_key
from .ports import Claim, ClaimKind, PageCursor, PaymentFilter, UnitOfWork
from .validation import check_payment_id, page_size, validate_create, validate_process

AUTHORIZE = PaymentCall(PendingAction.AUTHORIZE)


def fingerprint(fields: dict) -> str:
    """A stable hash of a request's parameters (the idempotency key excluded)."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# ---- create ---------------------------------------------------------------


async def create_payment(cmd: CreatePayment, deps: Dependencies) -> Payment:
    cmd = validate_create(cmd)
    payment = _new_payment(cmd, deps)
    key = cmd.idempotency_key
    claim = None
    async with deps.uow() as uow:  # 1. begin: the key and the payment together (usually one statement)
        if key:
            fields = {k: v for k, v in cmd.__dict__.items() if k not in ("idempotency_key", "merchant_id")}
            claim = await uow.claim_and_add(payment, key=key, fingerprint=fingerprint(fields),
                                            lease_seconds=deps.lease_seconds)
        else:
            await uow.payments.add(payment)
            await uow.commit()
    if claim is not None and claim.kind is not ClaimKind.NEW:
        return await _earlier(cmd.merchant_id, claim, key, deps)
    # No cache write here: nothing can be cached yet for a brand-new id, and settle writes the
    # answer (a read in between misses and reads PostgreSQL).
    return await _authorize(payment, deps, key=key)  # 2. the processor call, 3. settle


def _new_payment(cmd: CreatePayment, deps: Dependencies) -> Payment:
    processor_name = cmd.processor or deps.processors.default
    deps.processors.get(processor_name)  # unknown name: InvalidArgument, nothing written
    return Payment.new(
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


async def _authorize(payment: Payment, deps: Dependencies, *, key: str = "") -> Payment:
    """Steps 2 and 3 of a create: a decline is a FAILED payment, not an error."""
    processor = deps.processors.get(payment.processor)
    request = AuthorizeRequest(
        payment_id=payment.payment_id,
        merchant_id=payment.merchant_id,
        amount=payment.amount,
        currency=payment.currency,
        payment_method=payment.payment_method,
        capture=payment.capture_method is CaptureMethod.AUTOMATIC,
        description=payment.description,
        customer_id=payment.customer_id,
    )
    try:
        result = await processor.authorize(request, idempotency_key=processor_key(payment, PendingAction.AUTHORIZE))
    except (errors.ProcessorDeclined, errors.ProcessorInvalidRequest) as exc:
        decline = functools.partial(Payment.declined, code=_decline_code(exc), message=exc.message)
        return await settle(payment, AUTHORIZE, deps, decline, key=key)
    except errors.ProcessorUnavailable as exc:
        decline = functools.partial(Payment.declined, code="processor_unavailable", message=exc.message)
        await settle(payment, AUTHORIZE, deps, decline, key=key, forget=True)
        raise errors.Unavailable(
            f"processor {payment.processor} is unavailable; nothing was charged; retry with the same idempotency key"
        ) from exc
    except errors.ProcessorOutcomeUnknown:
        return await _leave_processing(payment, deps, key=key)
    return await settle(payment, AUTHORIZE, deps, lambda p: _apply_authorization(p, result), key=key)


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
    async with deps.uow() as uow:  # 1. begin
        fields = {"payment_id": cmd.payment_id, "action": cmd.action.value, "amount": cmd.amount,
                  "reason": cmd.reason}
        earlier = await _claim(uow, deps, cmd.merchant_id, key, "process", fields, cmd.payment_id, refund_id)
        if earlier is not None:
            return earlier
        payment = await uow.payments.get(cmd.merchant_id, cmd.payment_id, for_update=True)
        if payment is None:
            raise errors.NotFound(f"payment {cmd.payment_id} not found")
        call = _begin(payment, cmd, refund_id)
        await uow.payments.save(payment)
        await uow.commit()
    await deps.cache.changed(payment)
    return await send_pending(payment, call, deps, key=key)  # 2. the processor call, 3. settle


def _begin(payment: Payment, cmd: ProcessPayment, refund_id: str) -> PendingCall:
    """Reserve the action on the locked payment; returns the processor call it now waits for."""
    if cmd.action is Action.CAPTURE:
        payment.begin_capture(cmd.amount)
        return PaymentCall(PendingAction.CAPTURE)
    if cmd.action is Action.CANCEL:
        payment.begin_cancel()
        return PaymentCall(PendingAction.CANCEL)
    payment.begin_refund(refund_id, cmd.amount, cmd.reason)
    return RefundCall(refund_id)


async def send_pending(payment: Payment, call: PendingCall, deps: Dependencies, *, key: str = "") -> Payment:
    """Steps 2 and 3 for a begun payment: send the call it waits for, and settle the answer."""
    if call == AUTHORIZE:
        return await _authorize(payment, deps, key=key)
    processor = deps.processors.get(payment.processor)
    try:
        record = await call.send(processor, payment)
    except (errors.ProcessorDeclined, errors.ProcessorInvalidRequest, errors.ProcessorUnavailable) as exc:
        undo = functools.partial(call.undo, reason=exc.reason.lower())  # the refund's failure_reason
        await settle(payment, call, deps, undo, key=key, forget=True)
        raise
    except errors.ProcessorOutcomeUnknown:
        return await _leave_processing(payment, deps, key=key)
    return await settle(payment, call, deps, record, key=key)


# ---- settling -------------------------------------------------------------


async def settle(
    before: Payment,
    call: PendingCall,
    deps: Dependencies,
    record: Record,
    *,
    key: str = "",
    forget: bool = False,
) -> Payment:
    """Step 3: record a processor's answer, unless someone (reconciliation) already did.

    With the caller's idempotency ``key``, store the response under it (or,
    with ``forget``, drop the key: nothing happened, a retry starts afresh)."""
    async with deps.uow() as uow:
        payment = await uow.payments.get(before.merchant_id, before.payment_id, for_update=True)
        assert payment is not None, "a payment being settled cannot disappear"
        if call.waiting(payment):
            record(payment)
            await uow.payments.save(payment)
        if key and forget:
            await uow.idempotency.forget(payment.merchant_id, key)
        elif key:
            await uow.idempotency.complete(payment.merchant_id, key, to_snapshot(payment))
        await uow.commit()
    await deps.cache.changed(payment)
    return payment


async def _leave_processing(payment: Payment, deps: Dependencies, *, key: str = "") -> Payment:
    """Outcome unknown: keep the record, free the key for a retry to resume."""
    if key:
        async with deps.uow() as uow:
            await uow.idempotency.release(payment.merchant_id, key)
            await uow.commit()
    return payment


# ---- idempotency: replay or resume an earlier request -----------------------


async def _claim(
    uow: UnitOfWork,
    deps: Dependencies,
    merchant_id: str,
    key: str,
    operation: str,
    fields: dict,
    payment_id: str,
    refund_id: str = "",
) -> Payment | None:
    """Claim the caller's key in ``uow``: None when this request now owns it (or has none), else
    the answer of the earlier request with that key (its stored response, or its work resumed)."""
    if not key:
        return None
    claim = await uow.idempotency.claim(
        merchant_id, key, operation=operation, fingerprint=fingerprint(fields),
        payment_id=payment_id, refund_id=refund_id, lease_seconds=deps.lease_seconds,
    )
    if claim.kind is ClaimKind.RESUME:
        await uow.commit()  # keep the renewed lease while this request resumes the work
    return await _earlier(merchant_id, claim, key, deps)


async def _earlier(merchant_id: str, claim: Claim, key: str, deps: Dependencies) -> Payment | None:
    """None when this request owns the key; else the earlier request's answer (its stored response,
    or its work resumed: the renewed lease is committed)."""
    if claim.kind is ClaimKind.NEW:
        return None
    if claim.kind is ClaimKind.REPLAY:
        return from_snapshot(claim.response or {})
    return await resume(merchant_id, claim, key, deps)


async def resume(merchant_id: str, claim: Claim, key: str, deps: Dependencies) -> Payment:
    """Finish what an earlier request with this key started (or just report it)."""
    async with deps.uow() as uow:
        payment = await uow.payments.get(merchant_id, claim.payment_id)
    if payment is None:  # the earlier request failed before writing anything
        async with deps.uow() as uow:
            await uow.idempotency.forget(merchant_id, key)
            await uow.commit()
        raise errors.IdempotencyKeyInUse("the earlier request with this idempotency key did not finish; retry")
    call = RefundCall(claim.refund_id) if claim.refund_id else _own_step(payment)
    if call is not None and call.waiting(payment):
        return await send_pending(payment, call, deps, key=key)
    async with deps.uow() as uow:
        await uow.idempotency.complete(merchant_id, key, to_snapshot(payment))
        await uow.commit()
    return payment


def _own_step(payment: Payment) -> PaymentCall | None:
    return PaymentCall(payment.pending_action) if payment.pending_action is not None else None


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
