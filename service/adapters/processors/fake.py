"""An in-memory fake of the PaymentProcessor port with scripted outcomes, for unit tests.

It is the in-house simulator on an InMemoryLedger (so captures, refunds,
idempotent replays and ``retrieve`` behave like a real processor) plus a
script: the next call of an operation can be made to fail in a chosen way.

    fake = FakeProcessor()
    fake.script("capture", Outcome.ANSWER_LOST)   # next capture happens, its answer is lost
    fake.script("authorize", Outcome.DECLINED, code="insufficient_funds")
    fake.script("refund", Outcome.UNAVAILABLE)    # next refund: nothing happens
    ...
    assert [call.operation for call in fake.calls] == ["authorize", "capture"]

Unscripted calls behave like the in-house processor (payment method tokens
included). Every call is recorded in ``calls`` with its idempotency key.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from service.domain.errors import (
    ProcessorDeclined,
    ProcessorInvalidRequest,
    ProcessorOutcomeUnknown,
    ProcessorUnavailable,
)
from service.domain.processor import (
    AuthorizeRequest,
    DisputeEvidence,
    ProcessorDispute,
    ProcessorPayment,
    ProcessorRefund,
)

from .inhouse import InHouseProcessor, InMemoryLedger

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from service.config import Settings

OPERATIONS = ("authorize", "capture", "refund", "cancel", "retrieve", "find_payment", "find_refund",
              "update_dispute", "close_dispute")

T = TypeVar("T")


class Outcome(enum.Enum):
    """What a scripted call does."""

    DECLINED = "declined"  # ProcessorDeclined(code), nothing recorded
    INVALID = "invalid"  # ProcessorInvalidRequest, nothing recorded
    UNAVAILABLE = "unavailable"  # ProcessorUnavailable, nothing recorded
    ANSWER_LOST = "answer_lost"  # the call takes effect, then ProcessorOutcomeUnknown


@dataclasses.dataclass(frozen=True)
class Call:
    operation: str
    args: tuple[Any, ...]
    idempotency_key: str = ""


@dataclasses.dataclass(frozen=True)
class _Scripted:
    outcome: Outcome
    code: str


class FakeProcessor:
    """PaymentProcessor for tests: the in-house simulator in memory, plus scripted failures."""

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.ledger = InMemoryLedger()
        self.calls: list[Call] = []
        self._simulator = InHouseProcessor(self.ledger)
        self.idempotency_retention = self._simulator.idempotency_retention
        self._script: dict[str, collections.deque[_Scripted]] = collections.defaultdict(collections.deque)

    @classmethod
    def from_settings(cls, settings: Settings, *, engine: AsyncEngine | None = None) -> FakeProcessor:
        return cls()

    def script(self, operation: str, outcome: Outcome, *, code: str = "card_declined") -> FakeProcessor:
        """Make the next (not yet scripted) call of ``operation`` end with ``outcome``."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {', '.join(OPERATIONS)}")
        self._script[operation].append(_Scripted(outcome, code))
        return self

    def calls_of(self, operation: str) -> list[Call]:
        return [call for call in self.calls if call.operation == operation]

    # ---- the port ----

    async def authorize(self, request: AuthorizeRequest, *, idempotency_key: str) -> ProcessorPayment:
        return await self._run(
            Call("authorize", (request,), idempotency_key),
            lambda: self._simulator.authorize(request, idempotency_key=idempotency_key),
        )

    async def capture(self, reference: str, amount: int, *, idempotency_key: str) -> ProcessorPayment:
        return await self._run(
            Call("capture", (reference, amount), idempotency_key),
            lambda: self._simulator.capture(reference, amount, idempotency_key=idempotency_key),
        )

    async def refund(
        self, reference: str, amount: int, *, idempotency_key: str, reason: str = ""
    ) -> ProcessorRefund:
        return await self._run(
            Call("refund", (reference, amount, reason), idempotency_key),
            lambda: self._simulator.refund(reference, amount, idempotency_key=idempotency_key, reason=reason),
        )

    async def cancel(self, reference: str, *, idempotency_key: str) -> ProcessorPayment:
        return await self._run(
            Call("cancel", (reference,), idempotency_key),
            lambda: self._simulator.cancel(reference, idempotency_key=idempotency_key),
        )

    async def retrieve(self, reference: str) -> ProcessorPayment:
        return await self._run(Call("retrieve", (reference,)), lambda: self._simulator.retrieve(reference))

    async def find_payment(self, payment_id: str) -> ProcessorPayment | None:
        return await self._run(Call("find_payment", (payment_id,)), lambda: self._simulator.find_payment(payment_id))

    async def find_refund(self, reference: str, refund_id: str) -> ProcessorRefund | None:
        return await self._run(Call("find_refund", (reference, refund_id)),
                               lambda: self._simulator.find_refund(reference, refund_id))

    async def update_dispute(self, reference: str, evidence: DisputeEvidence, *, submit: bool,
                             idempotency_key: str) -> ProcessorDispute:
        return await self._run(
            Call("update_dispute", (reference, evidence, submit), idempotency_key),
            lambda: self._simulator.update_dispute(reference, evidence, submit=submit,
                                                   idempotency_key=idempotency_key))

    async def close_dispute(self, reference: str, *, idempotency_key: str) -> ProcessorDispute:
        return await self._run(Call("close_dispute", (reference,), idempotency_key),
                               lambda: self._simulator.close_dispute(reference, idempotency_key=idempotency_key))

    # ---- scripting ----

    async def _run(self, call: Call, perform: Callable[[], Awaitable[T]]) -> T:
        self.calls.append(call)
        queue = self._script[call.operation]
        scripted = queue.popleft() if queue else None
        if scripted is None:
            return await perform()
        if scripted.outcome is Outcome.ANSWER_LOST:
            await perform()
            raise ProcessorOutcomeUnknown(f"fake {call.operation}: the answer was lost (scripted)")
        raise _scripted_error(call.operation, scripted)


def _scripted_error(operation: str, scripted: _Scripted) -> Exception:
    if scripted.outcome is Outcome.DECLINED:
        return ProcessorDeclined(f"fake {operation}: declined (scripted)", code=scripted.code)
    if scripted.outcome is Outcome.INVALID:
        return ProcessorInvalidRequest(f"fake {operation}: invalid request (scripted)")
    return ProcessorUnavailable(f"fake {operation}: unavailable (scripted)")
