"""Server interceptors: request context and one structured log line per call."""

from __future__ import annotations

import logging
import time

import grpc

from common.logs import request_id_var, trace_id_from_traceparent, trace_id_var

log = logging.getLogger("payment.access")


def _wrap_unary(handler: grpc.RpcMethodHandler, wrapper) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(
        wrapper,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class AccessLogInterceptor(grpc.aio.ServerInterceptor):
    """Sets request/trace ids for the call and logs method, code and duration.

    The request id is Envoy's `x-request-id` (or the caller's, which Envoy and
    the GraphQL gateway keep); the trace id comes from W3C `traceparent`.
    """

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        metadata = {k.lower(): v for k, v in (handler_call_details.invocation_metadata or ()) if isinstance(v, str)}
        inner = handler.unary_unary

        async def logged(request, context: grpc.aio.ServicerContext):
            request_id_var.set(metadata.get("x-request-id", ""))
            trace_id_var.set(trace_id_from_traceparent(metadata.get("traceparent", "")))
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await inner(request, context)
            except BaseException:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                if isinstance(code, int):
                    code = grpc.StatusCode.UNKNOWN
                level = logging.WARNING if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) else logging.INFO
                if not method.startswith("/grpc.health.v1.Health/"):
                    log.log(level, "rpc", extra={
                        "rpc": method,
                        "grpc_code": code.name,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "user_agent": metadata.get("user-agent", ""),
                    })

        return _wrap_unary(handler, logged)
