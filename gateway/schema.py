"""Query and Mutation: each root field is one call of the payment service's gRPC API.

    payment(payment_id)            -> GetPayment
    payments(page_size, ...)       -> ListPayments
    event(event_id), events(...)   -> GetEvent, ListEvents (events.py)
    create_payment(payload)        -> CreatePayment
    process_payment(payment_id, action, ...) -> ProcessPayment

Every call carries the request's CallMetadata (see client.py). `build_schema`
assembles the Strawberry schema with snake_case names, the custom scalars,
the limits and the error shaping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from service.gen.payment.v1 import payment_pb2 as pb

from . import events as graphql_events
from .client import CallMetadata, PaymentClient
from .config import GraphQLSettings
from .errors import ShapeErrors, log_unexpected
from .limits import check_page_size, limit_extensions
from .types import SCALARS, Int64, Payment, PaymentAction, PaymentInput, PaymentPage, PaymentStatus


@dataclasses.dataclass
class RequestContext:
    """What the resolvers of one HTTP request share."""

    client: PaymentClient
    metadata: CallMetadata
    operation_name: str = ""


class RecordOperation(SchemaExtension):
    """Notes the operation's name (from the document when the caller sent none) for metrics."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        if isinstance(context, RequestContext) and self.execution_context.graphql_document is not None:
            context.operation_name = self.execution_context.operation_name or ""


Info = strawberry.Info[RequestContext, None]


@strawberry.type(description="Reads. A failed call leaves its field null and an error with extensions.code.")
class Query:
    @strawberry.field(description="One of the caller's payments (GetPayment). NOT_FOUND for another "
                                  "merchant's or an unknown id.")
    async def payment(self, info: Info, payment_id: strawberry.ID) -> Payment | None:
        found = await info.context.client.get_payment(pb.GetPaymentRequest(payment_id=payment_id),
                                                      info.context.metadata)
        return Payment.from_pb(found)

    @strawberry.field(description="The caller's payments, newest first, a page at a time (ListPayments).")
    async def payments(
        self, info: Info,
        page_size: Annotated[int | None, strawberry.argument(description="1 to 100; 20 when absent.")] = None,
        page_token: Annotated[str | None, strawberry.argument(
            description="The previous page's next_page_token.")] = None,
        status: Annotated[PaymentStatus | None, strawberry.argument(  # type: ignore[valid-type]
            description="Only payments in this status.")] = None,
        customer_id: Annotated[str | None, strawberry.argument(
            description="Only payments of this customer.")] = None,
    ) -> PaymentPage | None:
        request = pb.ListPaymentsRequest(
            page_size=check_page_size(page_size), page_token=page_token or "",
            status=pb.PaymentStatus.Value(status.name) if status else 0, customer_id=customer_id or "")
        page = await info.context.client.list_payments(request, info.context.metadata)
        return PaymentPage(payments=[Payment.from_pb(p) for p in page.payments],
                           next_page_token=page.next_page_token)

    event = strawberry.field(resolver=graphql_events.event, description="One of the caller's events (GetEvent).")
    events = strawberry.field(resolver=graphql_events.events,
                              description="The caller's events, newest first, a page at a time (ListEvents).")


@strawberry.type(description="Writes. Retries are safe with an Idempotency-Key header or a request_id.")
class Mutation:
    @strawberry.mutation(description="Authorize (and with AUTOMATIC, capture) a payment (CreatePayment).")
    async def create_payment(self, info: Info, payload: PaymentInput) -> Payment | None:
        created = await info.context.client.create_payment(payload.to_pb(), info.context.metadata)
        return Payment.from_pb(created)

    @strawberry.mutation(description="Capture, refund or cancel a payment (ProcessPayment).")
    async def process_payment(
        self, info: Info, payment_id: strawberry.ID,
        action: PaymentAction,  # type: ignore[valid-type]
        amount: Annotated[Int64 | None, strawberry.argument(
            description="CAPTURE/REFUND: minor units; the whole remaining amount when absent.")] = None,
        reason: Annotated[str | None, strawberry.argument(description="REFUND: the merchant's reason.")] = None,
        request_id: Annotated[str | None, strawberry.argument(
            description="Idempotency key when the Idempotency-Key header cannot be sent.")] = None,
    ) -> Payment | None:
        request = pb.ProcessPaymentRequest(payment_id=payment_id, action=pb.PaymentAction.Value(action.name),
                                           reason=reason or "", request_id=request_id or "")
        if amount is not None:
            request.amount = amount
        processed = await info.context.client.process_payment(request, info.context.metadata)
        return Payment.from_pb(processed)


class PaymentSchema(strawberry.Schema):
    """Logs only what it masks: the caller's own mistakes are not server errors."""

    def process_errors(self, errors: Iterable[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        log_unexpected(errors)


def build_schema(settings: GraphQLSettings) -> strawberry.Schema:
    return PaymentSchema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(auto_camel_case=False, scalar_map=SCALARS),
        extensions=[*limit_extensions(settings), ShapeErrors, RecordOperation],
    )
