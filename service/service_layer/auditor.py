"""The invariant auditor: every payment against its refunds, disputes and the processor.

`payment-service audit` walks every payment (in id order, a page at a time,
no locks) and reports each *drift*: a fact that the state machine promises
and the stored data breaks, or a difference from the processor's own view.

    amounts      amount_refunded is the sum of SUCCEEDED refunds; SUCCEEDED plus PENDING
                 refunds never exceed amount_captured; amount_disputed is what the
                 chargebacks withhold (open or lost), never more than captured
    status       the status matches the amounts (CAPTURED: nothing refunded, REFUNDED: all ...),
                 PROCESSING exactly when a processor call is pending
    stuck        a processor call pending for longer than --stuck-after, not yet reconciled
    review       a payment marked for a person (reconcile --report lists them too)
    processor    the processor's view (in-house: its ledger; Stripe: PaymentIntent retrieve,
                 rate-limited) disagrees on status, amount captured or amount refunded
    events       the payment's event history, where the event log exists

Payments with a call in flight are not compared with the processor (they
legitimately differ until the answer is recorded). The report is JSON; the
command exits non-zero when there is any drift.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import timedelta

from ..domain import errors
from ..domain.model import Payment, RefundStatus, Status, utcnow
from ..domain.processor import ProcessorPayment, ProcessorStatus
from .dependencies import Dependencies

_PROCESSOR_STATUS = {
    Status.REQUIRES_CAPTURE: ProcessorStatus.AUTHORIZED,
    Status.CAPTURED: ProcessorStatus.CAPTURED,
    Status.PARTIALLY_REFUNDED: ProcessorStatus.CAPTURED,
    Status.REFUNDED: ProcessorStatus.CAPTURED,
    Status.CANCELED: ProcessorStatus.CANCELED,
    Status.FAILED: ProcessorStatus.FAILED,
}


@dataclasses.dataclass(frozen=True)
class Drift:
    payment_id: str
    merchant_id: str
    check: str
    detail: str


@dataclasses.dataclass
class AuditReport:
    examined: int = 0
    compared_with_processor: int = 0
    drifts: list[Drift] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        return {"examined": self.examined, "compared_with_processor": self.compared_with_processor,
                "drift_count": len(self.drifts), "drifts": [dataclasses.asdict(d) for d in self.drifts]}


class RateLimiter:
    """At most ``per_second`` calls per second (0: unlimited), spaced evenly."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1 / per_second if per_second > 0 else 0.0
        self.next_at = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        if self.next_at > now:
            await asyncio.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.interval


async def audit(deps: Dependencies, *, processor_rate: float = 20.0, compare_processor: bool = True,
                stuck_after: timedelta = timedelta(hours=1), page: int = 200,
                merchants: tuple[str, ...] = ()) -> AuditReport:
    report = AuditReport()
    limiters: dict[str, RateLimiter] = {}
    after = ""
    while True:
        async with deps.uow() as uow:
            ids = await uow.payments.all_ids(after, page, merchants)
            payments = [await uow.payments.get(m, p) for m, p in ids]
            histories = {p.payment_id: await uow.payments.history(p.payment_id) for p in payments if p}
        for payment in payments:
            if payment is None:
                continue
            report.examined += 1
            found = check_payment(payment, stuck_after) + check_history(payment, histories[payment.payment_id])
            if compare_processor and _settled(payment) and payment.processor_reference:
                limiter = limiters.setdefault(payment.processor, RateLimiter(processor_rate))
                await limiter.wait()
                found += await _against_processor(payment, deps)
                report.compared_with_processor += 1
            report.drifts += [Drift(payment.payment_id, payment.merchant_id, check, detail)
                              for check, detail in found]
        if len(ids) < page:
            return report
        after = ids[-1][1]


def check_payment(p: Payment, stuck_after: timedelta = timedelta(hours=1)) -> list[tuple[str, str]]:
    """The invariants of one payment on its own: (check, detail) for each one broken."""
    found: list[tuple[str, str]] = []
    succeeded = sum(r.amount for r in p.refunds if r.status is RefundStatus.SUCCEEDED)
    pending = sum(r.amount for r in p.refunds if r.status is RefundStatus.PENDING)
    if p.amount_refunded != succeeded:
        found.append(("amounts", f"amount_refunded {p.amount_refunded} != succeeded refunds {succeeded}"))
    if succeeded + pending > p.amount_captured:
        found.append(("amounts", f"succeeded {succeeded} + pending {pending} refunds exceed captured"
                                 f" {p.amount_captured}"))
    if not 0 <= p.amount_captured <= p.amount:
        found.append(("amounts", f"amount_captured {p.amount_captured} outside 0..{p.amount}"))
    withheld = min(sum(d.amount_withheld for d in p.disputes), p.amount_captured)
    if p.amount_disputed != withheld:
        found.append(("amounts", f"amount_disputed {p.amount_disputed} != withheld by disputes {withheld}"))
    found += _status_checks(p)
    waiting_since = [r.created_at for r in p.refunds if r.status is RefundStatus.PENDING]
    if p.status is Status.PROCESSING:
        waiting_since.append(p.updated_at)
    if waiting_since and utcnow() - min(waiting_since) > stuck_after and not p.review_reason:
        found.append(("stuck", f"a processor call has waited since {min(waiting_since).isoformat()}"))
    if p.review_reason:
        found.append(("review", p.review_reason))
    return found


def check_history(p: Payment, history: list[tuple[int, str, str]] | None) -> list[tuple[str, str]]:
    """The event log (when there is one) tells the payment's story without a gap, up to its state now.

    Old events may have been pruned, so the history need not start at 1; it must end at the
    payment's version with no gap, and the last snapshot must show the payment's status."""
    if history is None:
        return []
    if not history:
        return [("events", f"no event recorded for a payment at version {p.version}")]
    sequences = [sequence for sequence, _, _ in history]
    found = []
    if sequences != list(range(sequences[0], sequences[0] + len(sequences))):
        found.append(("events", f"event sequence has gaps or repeats: {sequences}"))
    if sequences[-1] != p.version:
        found.append(("events", f"last event is #{sequences[-1]}, the payment is at version {p.version}"))
    if history[-1][2] != p.status.value:
        found.append(("events", f"last event shows {history[-1][2]}, the payment is {p.status.value}"))
    return found


def _status_checks(p: Payment) -> list[tuple[str, str]]:
    found = []
    if (p.status is Status.PROCESSING) != (p.pending_action is not None):
        found.append(("status", f"status {p.status.value} with pending_action {p.pending_action}"))
    expected = {
        Status.CAPTURED: p.amount_captured > 0 and p.amount_refunded == 0,
        Status.PARTIALLY_REFUNDED: 0 < p.amount_refunded < p.amount_captured,
        Status.REFUNDED: 0 < p.amount_captured <= p.amount_refunded,
        Status.REQUIRES_CAPTURE: p.amount_captured == 0 and not p.refunds,
        Status.CANCELED: p.amount_captured == 0 and not p.refunds,
        Status.FAILED: p.amount_captured == 0 and not p.refunds,
    }.get(p.status, True)
    if not expected:
        found.append(("status", f"status {p.status.value} does not match captured {p.amount_captured},"
                                f" refunded {p.amount_refunded}, {len(p.refunds)} refunds"))
    if p.disputes and p.amount_captured == 0:
        found.append(("status", "disputes on a payment that captured nothing"))
    return found


def _settled(p: Payment) -> bool:
    return p.status is not Status.PROCESSING and not any(r.status is RefundStatus.PENDING for r in p.refunds)


async def _against_processor(p: Payment, deps: Dependencies) -> list[tuple[str, str]]:
    try:
        remote = await deps.processors.get(p.processor).retrieve(p.processor_reference)
    except (errors.ProcessorError, errors.InvalidArgument) as exc:
        return [("processor", f"{p.processor} lookup of {p.processor_reference} failed: {exc.message}")]
    return compare_with_processor(p, remote)


def compare_with_processor(p: Payment, remote: ProcessorPayment) -> list[tuple[str, str]]:
    found = []
    if _PROCESSOR_STATUS.get(p.status) is not remote.status:
        found.append(("processor", f"status {p.status.value} here, {remote.status.value} at the processor"))
    if p.amount_captured != remote.amount_captured:
        found.append(("processor", f"amount_captured {p.amount_captured} here, {remote.amount_captured}"
                                   " at the processor"))
    if p.amount_refunded != remote.amount_refunded:
        found.append(("processor", f"amount_refunded {p.amount_refunded} here, {remote.amount_refunded}"
                                   " at the processor"))
    return found
