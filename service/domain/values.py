"""The payment's values: its statuses, its refunds and disputes as records (no behaviour of the payment).

service.domain.model re-exports every name; import them from there.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, datetime

from .processor import DisputeStatus

_ELSEWHERE = "made at the processor"


class Status(str, enum.Enum):
    REQUIRES_CAPTURE = "REQUIRES_CAPTURE"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    PROCESSING = "PROCESSING"


class CaptureMethod(str, enum.Enum):
    MANUAL = "MANUAL"
    AUTOMATIC = "AUTOMATIC"


class PendingAction(str, enum.Enum):
    """What a PROCESSING payment is waiting for the processor to confirm."""

    AUTHORIZE = "AUTHORIZE"
    CAPTURE = "CAPTURE"
    CANCEL = "CANCEL"


class RefundStatus(str, enum.Enum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def final(self) -> bool:
        return self in (RefundStatus.FAILED, RefundStatus.CANCELED)


def _dispute_events(before: Dispute | None, after: Dispute) -> list[str]:
    """The event types of one dispute change, in the order they happened."""
    if before is None:
        return ["dispute.created"] + (["dispute.funds_withdrawn"] if after.funds_withdrawn else []) + (
            ["dispute.closed"] if after.status.final else []) + (
            ["dispute.funds_reinstated"] if after.funds_reinstated else [])
    types = []
    if after.funds_withdrawn and not before.funds_withdrawn:
        types.append("dispute.funds_withdrawn")
    others_changed = dataclasses.replace(before, status=after.status, funds_withdrawn=after.funds_withdrawn,
                                         funds_reinstated=after.funds_reinstated, updated_at=after.updated_at) != after
    if after.status.final and not before.status.final:
        types.append("dispute.closed")
    elif after.status is not before.status or others_changed:
        types.append("dispute.updated")
    if after.funds_reinstated and not before.funds_reinstated:
        types.append("dispute.funds_reinstated")
    return types


# How far along each dispute status is; a status never moves to a lower rank.
_DISPUTE_RANK = {
    DisputeStatus.WARNING_NEEDS_RESPONSE: 0, DisputeStatus.NEEDS_RESPONSE: 0,
    DisputeStatus.WARNING_UNDER_REVIEW: 1, DisputeStatus.UNDER_REVIEW: 1,
    DisputeStatus.WARNING_CLOSED: 2, DisputeStatus.WON: 2, DisputeStatus.LOST: 2,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclasses.dataclass
class Refund:
    refund_id: str
    amount: int
    reason: str
    status: RefundStatus
    created_at: datetime
    processor_reference: str = ""
    failure_reason: str = ""


@dataclasses.dataclass
class Dispute:
    """A customer's dispute of a captured payment (a chargeback, or an inquiry: WARNING_*)."""

    dispute_id: str
    processor_reference: str
    amount: int
    reason: str
    status: DisputeStatus
    created_at: datetime
    updated_at: datetime
    evidence_due_by: datetime | None = None
    funds_withdrawn: bool = False
    funds_reinstated: bool = False
    evidence_submitted: bool = False

    @property
    def amount_withheld(self) -> int:
        """What this dispute takes from the merchant now: a chargeback's amount until it is won."""
        if self.status.inquiry or self.funds_reinstated or self.status is DisputeStatus.WON:
            return 0
        return self.amount
