"""In-memory fakes of the ports, for tests only.

    Store, MemoryUnitOfWork, ...   the service-layer ports (service/service_layer/ports.py); they keep
                                   the SQL adapters' contract (a unit of work is all or nothing; a key
                                   is claimed once), so the use cases can be tested fast
    FakeProcessor                  the PaymentProcessor port: the in-house simulator on an in-memory
                                   ledger plus scripted failures (below)
    SingleProcessor                a ProcessorLookup over given adapters
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import enum
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from service.adapters.processors.inhouse.memory_ledger import InMemoryLedger
from service.adapters.processors.inhouse.processor import InHouseProcessor
from service.domain import errors
from service.domain.errors import (
    ProcessorDeclined,
    ProcessorInvalidRequest,
    ProcessorOutcomeUnknown,
    ProcessorUnavailable,
)
from service.domain.model import Payment, RefundStatus, Status, utcnow
from service.domain.processor import (
    AuthorizeRequest,
    DisputeEvidence,
    ProcessorDispute,
    ProcessorPayment,
    ProcessorRefund,
)
from service.service_layer.audit import current_actor
from service.service_layer.ports import Claim, ClaimKind, PageCursor, PaymentFilter


class Store:
    def __init__(self) -> None:
        self.payments: dict[str, Payment] = {}
        self.keys: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: dict[str, tuple] = {}
        # The event log: (payment_id, sequence, type, actor) per committed domain event.
        self.log: list[tuple[str, int, str, str]] = []
        self.commits = 0


class MemoryPayments:
    def __init__(self, staged: Store) -> None:
        self.staged = staged

    async def add(self, payment: Payment) -> None:
        payment.version = max(1, len(payment.events))
        self._journal(payment)
        self.staged.payments[payment.payment_id] = copy.deepcopy(payment)

    async def get(self, merchant_id: str, payment_id: str, *, for_update: bool = False) -> Payment | None:
        payment = self.staged.payments.get(payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            return None
        return copy.deepcopy(payment)

    async def save(self, payment: Payment) -> None:
        if not payment.events:
            payment._record("payment.updated")
        payment.version += len(payment.events)
        self._journal(payment)
        self.staged.payments[payment.payment_id] = copy.deepcopy(payment)

    def _journal(self, payment: Payment) -> None:
        first = payment.version - len(payment.events) + 1
        self.staged.log.extend((e.payment_id, first + i, e.type, current_actor()) for i, e in enumerate(payment.events))
        payment.events.clear()

    async def list(self, merchant_id: str, filters: PaymentFilter, after: PageCursor | None,
                   limit: int) -> list[Payment]:
        rows = [p for p in self.staged.payments.values() if p.merchant_id == merchant_id
                and (filters.status is None or p.status is filters.status)
                and (not filters.customer_id or p.customer_id == filters.customer_id)
                and (after is None or (p.created_at, p.payment_id) < (after.created_at, after.payment_id))]
        rows.sort(key=lambda p: (p.created_at, p.payment_id), reverse=True)
        return copy.deepcopy(rows[:limit])

    async def awaiting_processor(self, older_than: datetime, limit: int) -> list[tuple[str, str]]:
        return [(p.merchant_id, p.payment_id) for p in self.staged.payments.values()
                if ((p.status is Status.PROCESSING and p.updated_at < older_than)
                or any(r.status is RefundStatus.PENDING and r.created_at < older_than for r in p.refunds))
                and not p.review_reason][:limit]

    async def requiring_review(self, limit: int) -> list[Payment]:
        return copy.deepcopy([p for p in self.staged.payments.values() if p.review_reason][:limit])

    async def history(self, payment_id: str) -> None:
        return None  # no event log in memory

    async def count_requiring_review(self) -> int:
        return sum(1 for p in self.staged.payments.values() if p.review_reason)

    async def all_ids(self, after: str, limit: int, merchants: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        found = sorted((p.payment_id, p.merchant_id) for p in self.staged.payments.values()
                       if p.payment_id > after and (not merchants or p.merchant_id in merchants))
        return [(merchant, payment) for payment, merchant in found[:limit]]

    async def find_by_reference(self, processor: str, reference: str) -> tuple[str, str] | None:
        for p in self.staged.payments.values():
            if p.processor == processor and p.processor_reference == reference:
                return p.merchant_id, p.payment_id
        return None


class MemoryWebhookEvents:
    def __init__(self, staged: Store) -> None:
        self.staged = staged

    async def record(self, event_id, *, processor, type, outcome, payment_id) -> bool:
        if event_id in self.staged.events:
            return False
        self.staged.events[event_id] = (processor, type, outcome, payment_id)
        return True


class MemoryIdempotency:
    def __init__(self, staged: Store) -> None:
        self.staged = staged

    async def claim(self, merchant_id, key, *, operation, fingerprint, payment_id, refund_id, lease_seconds):
        now = utcnow()
        row = self.staged.keys.get((merchant_id, key))
        if row is None:
            self.staged.keys[(merchant_id, key)] = dict(
                operation=operation, fingerprint=fingerprint, state="started", payment_id=payment_id,
                refund_id=refund_id, response=None, locked_until=now + timedelta(seconds=lease_seconds),
                created_at=now)
            return Claim(ClaimKind.NEW, payment_id, refund_id)
        if row["operation"] != operation or row["fingerprint"] != fingerprint:
            raise errors.IdempotencyKeyReused("idempotency key was already used with different parameters")
        if row["state"] == "completed":
            return Claim(ClaimKind.REPLAY, row["payment_id"], row["refund_id"], row["response"])
        if row["locked_until"] > now:
            raise errors.IdempotencyKeyInUse("a request with this idempotency key is still in progress")
        row["locked_until"] = now + timedelta(seconds=lease_seconds)
        return Claim(ClaimKind.RESUME, row["payment_id"], row["refund_id"])

    async def complete(self, merchant_id, key, response):
        self.staged.keys[(merchant_id, key)].update(state="completed", response=copy.deepcopy(response))

    async def release(self, merchant_id, key):
        self.staged.keys[(merchant_id, key)]["locked_until"] = utcnow() - timedelta(microseconds=1)

    async def forget(self, merchant_id, key):
        self.staged.keys.pop((merchant_id, key), None)

    async def prune(self, older_than):
        old = [k for k, row in self.staged.keys.items() if row["created_at"] < older_than
               and row["state"] == "completed"]
        for k in old:
            del self.staged.keys[k]
        return len(old)


class MemoryUnitOfWork:
    """All-or-nothing over a shared Store: changes are staged on a copy."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __aenter__(self) -> MemoryUnitOfWork:
        self.staged = copy.deepcopy(self.store)
        self.payments = MemoryPayments(self.staged)
        self.idempotency = MemoryIdempotency(self.staged)
        self.webhook_events = MemoryWebhookEvents(self.staged)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.staged = None

    async def claim_and_add(self, payment: Payment, *, key: str, fingerprint: str, lease_seconds: float) -> Claim:
        claim = await self.idempotency.claim(payment.merchant_id, key, operation="create", fingerprint=fingerprint,
                                             payment_id=payment.payment_id, refund_id="", lease_seconds=lease_seconds)
        if claim.kind is ClaimKind.NEW:
            await self.payments.add(payment)
        if claim.kind is not ClaimKind.REPLAY:
            await self.commit()
        return claim

    async def commit(self) -> None:
        self.store.payments = self.staged.payments
        self.store.keys = self.staged.keys
        self.store.events = self.staged.events
        self.store.log = self.staged.log
        self.store.commits += 1
        self.staged = copy.deepcopy(self.store)
        self.payments.staged = self.idempotency.staged = self.webhook_events.staged = self.staged


class SingleProcessor:
    """A ProcessorLookup holding given adapters (default: the first)."""

    def __init__(self, **processors) -> None:
        self.processors = processors
        self.default = next(iter(processors))

    def get(self, name: str):
        if name not in self.processors:
            raise errors.InvalidArgument("processor", f"unknown processor {name!r}")
        return self.processors[name]


# ---- the PaymentProcessor port ---------------------------------------------------------------
#
# An in-memory fake of the PaymentProcessor port with scripted outcomes, for unit tests.
#
# It is the in-house simulator on an InMemoryLedger (so captures, refunds,
# idempotent replays and ``retrieve`` behave like a real processor) plus a
# script: the next call of an operation can be made to fail in a chosen way.
#
#     fake = FakeProcessor()
#     fake.script("capture", Outcome.ANSWER_LOST)   # next capture happens, its answer is lost
#     fake.script("authorize", Outcome.DECLINED, code="insufficient_funds")
#     fake.script("refund", Outcome.UNAVAILABLE)    # next refund: nothing happens
#     ...
#     assert [call.operation for call in fake.calls] == ["authorize", "capture"]
#
# Unscripted calls behave like the in-house processor (payment method tokens
# included). Every call is recorded in ``calls`` with its idempotency key.

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
    def from_settings(cls, settings: Any, *, engine: Any = None) -> FakeProcessor:
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
