"""What the in-house processor does *later*, as real processors do, and how it tells the service.

A real processor's answer is not the end: a refund accepted as pending fails
days later, a cardholder disputes a charge, a bank decides the dispute. The
simulator plays those parts on the in-house ledger (PostgreSQL), driven only by
the payment method token, so every run is the same:

    pm_card_refundFail            a refund is accepted as PENDING, then FAILS (expired_or_canceled_card)
    pm_card_createDispute         once captured, the charge is disputed (NEEDS_RESPONSE, funds withdrawn);
                                  evidence containing "winning_evidence" wins it (funds reinstated),
                                  any other submitted evidence loses it; CloseDispute accepts the loss
    pm_card_createDisputeInquiry  once captured, an inquiry (WARNING_NEEDS_RESPONSE, no money moves);
                                  winning evidence closes it (WARNING_CLOSED), other evidence too

Every change of a ledger refund or dispute is *announced*: the same transaction
writes an event to ``inhouse_webhook_outbox`` (types refund.updated,
refund.failed, dispute.created, dispute.updated, dispute.funds_withdrawn,
dispute.funds_reinstated, dispute.closed). The sender POSTs each event, in
order, to ``INHOUSE_WEBHOOK_URL`` (the service's ``POST /webhooks/inhouse``
through Envoy) signed with ``INHOUSE_WEBHOOK_SECRET``
(``Inhouse-Signature: t=..,v1=..``, see signing.py), and retries until a 2xx.
Deliveries may repeat (a lost 2xx); the service applies each event id once.

`payment-service inhouse-simulator` runs ``advance`` and ``deliver`` in a loop
(``--once`` for one pass); `make run` starts it. It needs the PostgreSQL ledger:
with the in-memory ledger nothing happens later.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.adapters.tables import inhouse_disputes, inhouse_payments, inhouse_refunds, inhouse_webhook_outbox
from service.domain.errors import ProcessorInvalidRequest
from service.domain.processor import DisputeEvidence, DisputeStatus, ProcessorDispute

from .. import signing

log = logging.getLogger(__name__)

REFUND_FAILS = "pm_card_refundFail"
DISPUTED = {"pm_card_createDispute": False, "pm_card_createDisputeInquiry": True}  # token -> inquiry
FAILURE_REASON = "expired_or_canceled_card"
WINNING_EVIDENCE = "winning_evidence"
EVIDENCE_DAYS = 7

# ---- the views the service sees ------------------------------------------------------


def _refund_object(row: Any) -> dict[str, Any]:
    return {"object": "refund", "id": row.reference, "payment": row.payment_reference, "amount": row.amount,
            "status": row.status, "failure_reason": row.failure_reason, "refund_id": row.refund_id}


def _dispute_object(row: Any) -> dict[str, Any]:
    return {"object": "dispute", "id": row.reference, "payment": row.payment_reference, "amount": row.amount,
            "status": row.status, "reason": row.reason, "evidence_due_by": int(row.evidence_due_by.timestamp()),
            "funds_withdrawn": row.funds_withdrawn, "funds_reinstated": row.funds_reinstated}


def dispute_view(row: Any) -> ProcessorDispute:
    return ProcessorDispute(reference=row.reference, payment_reference=row.payment_reference, amount=row.amount,
                            status=DisputeStatus(row.status), reason=row.reason,
                            evidence_due_by=row.evidence_due_by, funds_withdrawn=row.funds_withdrawn,
                            funds_reinstated=row.funds_reinstated)


def _dispute_state(row: Any) -> str:
    return f"{row.status}|{int(row.funds_withdrawn)}|{int(row.funds_reinstated)}"


def _dispute_events(announced: str, row: Any) -> list[str]:
    """The event types that take the service from what was announced to the row as it is."""
    if not announced:
        types = ["dispute.created"] + (["dispute.funds_withdrawn"] if row.funds_withdrawn else [])
        return types + (["dispute.closed"] if DisputeStatus(row.status).final else [])
    status, withdrawn, reinstated = announced.split("|")
    types = []
    if row.funds_withdrawn and withdrawn == "0":
        types.append("dispute.funds_withdrawn")
    if row.status != status:
        types.append("dispute.closed" if DisputeStatus(row.status).final else "dispute.updated")
    if row.funds_reinstated and reinstated == "0":
        types.append("dispute.funds_reinstated")
    return types or ["dispute.updated"]


async def _announce(connection: AsyncConnection, event_type: str, obj: dict[str, Any]) -> None:
    event_id = "ihevt_" + secrets.token_hex(12)
    body = json.dumps({"id": event_id, "type": event_type, "created": int(time.time()),
                       "data": {"object": obj}}, separators=(",", ":"))
    await connection.execute(inhouse_webhook_outbox.insert().values(event_id=event_id, type=event_type, body=body))


# ---- advancing time --------------------------------------------------------------------


@dataclasses.dataclass
class Advanced:
    refunds_failed: int = 0
    disputes_opened: int = 0
    disputes_decided: int = 0
    events_announced: int = 0


async def advance(engine: AsyncEngine) -> Advanced:
    """One pass of everything that is due, each in its own transaction with its announcement."""
    done = Advanced()
    async with engine.begin() as connection:
        done.refunds_failed = await _fail_refunds(connection)
        done.disputes_opened = await _open_disputes(connection)
        done.disputes_decided = await _decide_disputes(connection)
    async with engine.begin() as connection:
        done.events_announced = await _announce_changes(connection)
    return done


async def _fail_refunds(connection: AsyncConnection) -> int:
    rows = (await connection.execute(
        select(inhouse_refunds, inhouse_payments.c.amount_refunded)
        .join(inhouse_payments, inhouse_refunds.c.payment_reference == inhouse_payments.c.reference)
        .where(inhouse_refunds.c.status == "PENDING", inhouse_payments.c.payment_method == REFUND_FAILS)
        .with_for_update(skip_locked=True))).all()
    for row in rows:
        await connection.execute(update(inhouse_refunds).where(inhouse_refunds.c.reference == row.reference)
                                 .values(status="FAILED", failure_reason=FAILURE_REASON))
        await connection.execute(update(inhouse_payments)
                                 .where(inhouse_payments.c.reference == row.payment_reference)
                                 .values(amount_refunded=inhouse_payments.c.amount_refunded - row.amount,
                                         updated_at=func.now()))
    return len(rows)


async def _open_disputes(connection: AsyncConnection) -> int:
    disputed = select(inhouse_disputes.c.payment_reference)
    rows = (await connection.execute(
        select(inhouse_payments).where(inhouse_payments.c.payment_method.in_(list(DISPUTED)),
                                       inhouse_payments.c.status == "CAPTURED",
                                       inhouse_payments.c.reference.not_in(disputed))
        .with_for_update(skip_locked=True))).all()
    for row in rows:
        inquiry = DISPUTED[row.payment_method]
        await connection.execute(inhouse_disputes.insert().values(
            reference="ih_dp_" + secrets.token_hex(12), payment_reference=row.reference,
            amount=row.amount_captured - row.amount_refunded or row.amount_captured,
            status="WARNING_NEEDS_RESPONSE" if inquiry else "NEEDS_RESPONSE",
            reason="general" if inquiry else "fraudulent", funds_withdrawn=not inquiry,
            evidence_due_by=func.now() + timedelta(days=EVIDENCE_DAYS)))
    return len(rows)


async def _decide_disputes(connection: AsyncConnection) -> int:
    rows = (await connection.execute(
        select(inhouse_disputes).where(inhouse_disputes.c.status.in_(["UNDER_REVIEW", "WARNING_UNDER_REVIEW"]))
        .with_for_update(skip_locked=True))).all()
    for row in rows:
        won = WINNING_EVIDENCE in json.dumps(row.evidence)
        if row.status == "WARNING_UNDER_REVIEW":
            values = {"status": "WARNING_CLOSED"}
        else:
            values = {"status": "WON", "funds_reinstated": True} if won else {"status": "LOST"}
        await connection.execute(update(inhouse_disputes).where(inhouse_disputes.c.reference == row.reference)
                                 .values(**values))
    return len(rows)


async def _announce_changes(connection: AsyncConnection) -> int:
    count = 0
    refunds = (await connection.execute(
        select(inhouse_refunds).where(inhouse_refunds.c.status != inhouse_refunds.c.announced)
        .order_by(inhouse_refunds.c.created_at).with_for_update(skip_locked=True))).all()
    for row in refunds:
        kind = {"FAILED": "refund.failed"}.get(row.status, "refund.updated")
        if row.announced or row.status != "SUCCEEDED":  # an immediate success was the answer itself
            await _announce(connection, kind, _refund_object(row))
            count += 1
        await connection.execute(update(inhouse_refunds).where(inhouse_refunds.c.reference == row.reference)
                                 .values(announced=row.status))
    disputes = (await connection.execute(
        select(inhouse_disputes).order_by(inhouse_disputes.c.created_at).with_for_update(skip_locked=True))).all()
    for row in disputes:
        state = _dispute_state(row)
        if state == row.announced:
            continue
        for kind in _dispute_events(row.announced, row):
            await _announce(connection, kind, _dispute_object(row))
            count += 1
        await connection.execute(update(inhouse_disputes).where(inhouse_disputes.c.reference == row.reference)
                                 .values(announced=state))
    return count


# ---- the merchant's moves on a dispute (called by InHouseProcessor) --------------------------


async def update_dispute(engine: AsyncEngine, reference: str, evidence: DisputeEvidence, *,
                         submit: bool) -> ProcessorDispute:
    async with engine.begin() as connection:
        row = await _open_dispute(connection, reference)
        values: dict[str, Any] = {"evidence": {**(row.evidence or {}), **evidence.fields()}}
        if submit:
            values.update(evidence_submitted=True,
                          status="WARNING_UNDER_REVIEW" if row.status.startswith("WARNING_") else "UNDER_REVIEW")
        await connection.execute(update(inhouse_disputes).where(inhouse_disputes.c.reference == reference)
                                 .values(**values))
        return dispute_view(await _dispute(connection, reference))


async def close_dispute(engine: AsyncEngine, reference: str) -> ProcessorDispute:
    async with engine.begin() as connection:
        row = await _open_dispute(connection, reference)
        status = "WARNING_CLOSED" if row.status.startswith("WARNING_") else "LOST"
        await connection.execute(update(inhouse_disputes).where(inhouse_disputes.c.reference == reference)
                                 .values(status=status))
        return dispute_view(await _dispute(connection, reference))


async def _dispute(connection: AsyncConnection, reference: str) -> Any:
    return (await connection.execute(select(inhouse_disputes).where(inhouse_disputes.c.reference == reference)
                                     .with_for_update())).first()


async def _open_dispute(connection: AsyncConnection, reference: str) -> Any:
    row = await _dispute(connection, reference)
    if row is None:
        raise ProcessorInvalidRequest(f"no such in-house dispute {reference!r}")
    if DisputeStatus(row.status).final or row.evidence_submitted:
        raise ProcessorInvalidRequest(f"in-house dispute {reference} is {row.status}"
                                      + (" and its evidence was submitted" if row.evidence_submitted else ""))
    return row


# ---- the sender ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Delivered:
    sent: int = 0
    failed: int = 0


async def deliver(engine: AsyncEngine, url: str, secret: str, *, timeout: float = 10.0,
                  limit: int = 100) -> Delivered:
    """POST undelivered events in order, signed; stop at the first failure (order is kept)."""
    done = Delivered()
    async with httpx.AsyncClient(timeout=timeout) as client:
        async with engine.begin() as connection:
            rows = (await connection.execute(
                select(inhouse_webhook_outbox).where(inhouse_webhook_outbox.c.delivered_at.is_(None))
                .order_by(inhouse_webhook_outbox.c.id).limit(limit).with_for_update(skip_locked=True))).all()
            for row in rows:
                error = await _post(client, url, secret, row.body.encode())
                values: dict[str, Any] = {"attempts": inhouse_webhook_outbox.c.attempts + 1, "last_error": error}
                if not error:
                    values["delivered_at"] = func.now()
                await connection.execute(update(inhouse_webhook_outbox)
                                         .where(inhouse_webhook_outbox.c.id == row.id).values(**values))
                if error:
                    done.failed += 1
                    log.warning("in-house webhook not delivered", extra={"event_id": row.event_id, "error": error})
                    break
                done.sent += 1
    return done


async def _post(client: httpx.AsyncClient, url: str, secret: str, body: bytes) -> str:
    headers = {"Content-Type": "application/json", "Inhouse-Signature": signing.sign(secret, body)}
    try:
        reply = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return "" if 200 <= reply.status_code < 300 else f"HTTP {reply.status_code}"
