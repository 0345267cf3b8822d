"""Commands: what a caller asks for, already authenticated (merchant_id is trusted)."""

from __future__ import annotations

import dataclasses
import enum

from ..domain.model import CaptureMethod, Status
from ..domain.processor import DisputeEvidence


class Action(str, enum.Enum):
    CAPTURE = "CAPTURE"
    REFUND = "REFUND"
    CANCEL = "CANCEL"


@dataclasses.dataclass(frozen=True)
class CreatePayment:
    merchant_id: str
    amount: int
    currency: str
    payment_method: str = ""
    capture_method: CaptureMethod = CaptureMethod.MANUAL
    customer_id: str = ""
    description: str = ""
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    processor: str = ""
    idempotency_key: str = ""


@dataclasses.dataclass(frozen=True)
class GetPayment:
    merchant_id: str
    payment_id: str


@dataclasses.dataclass(frozen=True)
class ListPayments:
    merchant_id: str
    page_size: int = 0
    page_token: str = ""
    status: Status | None = None
    customer_id: str = ""


@dataclasses.dataclass(frozen=True)
class ProcessPayment:
    merchant_id: str
    payment_id: str
    action: Action
    amount: int | None = None
    reason: str = ""
    idempotency_key: str = ""


@dataclasses.dataclass(frozen=True)
class SubmitDisputeEvidence:
    merchant_id: str
    payment_id: str
    dispute_id: str
    evidence: DisputeEvidence
    submit: bool = False
    idempotency_key: str = ""


@dataclasses.dataclass(frozen=True)
class CloseDispute:
    merchant_id: str
    payment_id: str
    dispute_id: str
    idempotency_key: str = ""
