"""PaymentService: thin translation between gRPC and the use cases."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

import grpc

from common.logs import request_id_var

from ...domain import errors
from ...gen.payment.v1 import payment_pb2 as pb
from ...gen.payment.v1 import payment_pb2_grpc
from ...service_layer import disputes, handlers
from ...service_layer.api_keys import KeyRing
from ...service_layer.audit import actor_var
from ...service_layer.commands import GetPayment
from ...service_layer.dependencies import Dependencies
from . import convert
from .errors import abort, internal, is_database_unavailable, status_for, unavailable

log = logging.getLogger(__name__)


def metadata_of(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k.lower(): v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


def authenticate(keys: KeyRing, context: grpc.aio.ServicerContext) -> str:
    """The merchant id for `authorization: Bearer <key>`, or Unauthenticated.

    More than one authorization value is refused, as Envoy does at the edge (it joins them and
    the joined value matches no key); a direct caller must not get last-one-wins."""
    values = [v for k, v in (context.invocation_metadata() or ()) if k.lower() == "authorization"]
    if len(values) > 1:
        raise errors.Unauthenticated(f"{len(values)} authorization metadata values: send exactly one "
                                     "'Bearer <api key>'")
    header = values[0] if values and isinstance(values[0], str) else ""
    scheme, _, token = header.partition(" ")
    if not header:
        raise errors.Unauthenticated("missing authorization metadata: send 'Bearer <api key>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthenticated("authorization must be 'Bearer <api key>'")
    entry = keys.verify(token.strip())
    if entry is None:
        raise errors.Unauthenticated("invalid API key")
    actor_var.set(f"api_key:{entry.key_id}")  # this call's changes are attributed to the key id
    return entry.merchant_id


Handler = Callable[..., Awaitable[object]]


def rpc(method: Handler) -> Handler:
    """Map every failure to a proper gRPC status; never leak a stack trace."""

    @functools.wraps(method)
    async def wrapper(self, request, context: grpc.aio.ServicerContext):
        try:
            return await method(self, request, context)
        except errors.PaymentError as exc:
            await abort(context, status_for(exc))
        except Exception as exc:
            if is_database_unavailable(exc):
                log.warning("database unavailable", extra={"error": type(exc).__name__})
                await abort(context, unavailable("database unavailable; retry with the same idempotency key"))
            log.exception("unhandled error in %s", method.__name__)
            await abort(context, internal(request_id_var.get()))

    return wrapper


class PaymentServicer(payment_pb2_grpc.PaymentServiceServicer):
    def __init__(self, deps: Dependencies, keys: KeyRing,
                 health: Callable[[], Awaitable[pb.HealthCheckResponse]]) -> None:
        self.deps = deps
        self.keys = keys
        self.health = health

    def _caller(self, context: grpc.aio.ServicerContext) -> tuple[str, dict[str, str]]:
        return authenticate(self.keys, context), metadata_of(context)

    @rpc
    async def CreatePayment(self, request: pb.CreatePaymentRequest, context) -> pb.CreatePaymentResponse:
        merchant, metadata = self._caller(context)
        command = convert.create_command(request, merchant, metadata.get("idempotency-key", ""))
        payment = await handlers.create_payment(command, self.deps)
        return pb.CreatePaymentResponse(payment=convert.payment_to_pb(payment))

    @rpc
    async def GetPayment(self, request: pb.GetPaymentRequest, context) -> pb.GetPaymentResponse:
        merchant, _ = self._caller(context)
        payment = await handlers.get_payment(GetPayment(merchant, request.payment_id), self.deps)
        return pb.GetPaymentResponse(payment=convert.payment_to_pb(payment))

    @rpc
    async def ListPayments(self, request: pb.ListPaymentsRequest, context) -> pb.ListPaymentsResponse:
        merchant, _ = self._caller(context)
        page, next_token = await handlers.list_payments(convert.list_query(request, merchant), self.deps)
        return pb.ListPaymentsResponse(payments=[convert.payment_to_pb(p) for p in page],
                                       next_page_token=next_token)

    @rpc
    async def ProcessPayment(self, request: pb.ProcessPaymentRequest, context) -> pb.ProcessPaymentResponse:
        merchant, metadata = self._caller(context)
        command = convert.process_command(request, merchant, metadata.get("idempotency-key", ""))
        payment = await handlers.process_payment(command, self.deps)
        return pb.ProcessPaymentResponse(payment=convert.payment_to_pb(payment))

    @rpc
    async def SubmitDisputeEvidence(self, request: pb.SubmitDisputeEvidenceRequest,
                                    context) -> pb.SubmitDisputeEvidenceResponse:
        merchant, metadata = self._caller(context)
        command = convert.evidence_command(request, merchant, metadata.get("idempotency-key", ""))
        payment = await disputes.submit_dispute_evidence(command, self.deps)
        return pb.SubmitDisputeEvidenceResponse(payment=convert.payment_to_pb(payment))

    @rpc
    async def CloseDispute(self, request: pb.CloseDisputeRequest, context) -> pb.CloseDisputeResponse:
        merchant, metadata = self._caller(context)
        command = convert.close_dispute_command(request, merchant, metadata.get("idempotency-key", ""))
        payment = await disputes.close_dispute(command, self.deps)
        return pb.CloseDisputeResponse(payment=convert.payment_to_pb(payment))

    @rpc
    async def HealthCheck(self, request: pb.HealthCheckRequest, context) -> pb.HealthCheckResponse:
        return await self.health()
