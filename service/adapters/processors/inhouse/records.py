"""What the in-house ledger stores: its payments, refunds and idempotent results."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from service.domain.processor import ProcessorPayment, ProcessorStatus

# The longest idempotency key the ledger accepts (the column inhouse_idempotency_keys.key).
MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclasses.dataclass(frozen=True)
class LedgerPayment:
    """The in-house processor's record of one payment."""

    reference: str
    merchant_id: str
    payment_id: str
    amount: int
    currency: str
    payment_method: str
    status: ProcessorStatus
    amount_captured: int = 0
    amount_refunded: int = 0
    failure_code: str = ""
    failure_message: str = ""

    def view(self) -> ProcessorPayment:
        """What the processor answers about this payment (the port's view)."""
        return ProcessorPayment(
            reference=self.reference,
            status=self.status,
            amount=self.amount,
            amount_captured=self.amount_captured,
            amount_refunded=self.amount_refunded,
            failure_code=self.failure_code,
            failure_message=self.failure_message,
        )


@dataclasses.dataclass(frozen=True)
class LedgerRefund:
    reference: str
    payment_reference: str
    amount: int
    reason: str = ""
    status: str = "SUCCEEDED"  # PENDING for pm_card_refundFail until the simulator fails it
    refund_id: str = ""  # the caller's id for it (the refund call's idempotency key)


@dataclasses.dataclass(frozen=True)
class StoredResult:
    """What the first call with an idempotency key answered."""

    fingerprint: str
    result: Mapping[str, Any]
