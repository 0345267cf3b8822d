"""Metrics and traces of a real in-process server on real PostgreSQL and Redis.

/metrics is scraped over HTTP before and after traffic: every family the
dashboard and alerts rely on exists and moves, and no label value carries a
merchant id, payment id or API key. Spans are collected in memory: a server
span per RPC continues the caller's traceparent, with SQL, Redis and processor
child spans, and the access log line carries the trace id.
"""

from __future__ import annotations

import io
import json
import logging

import grpc
import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from common.logs import JsonFormatter
from devtools.devstack import free_port
from service.bootstrap import bootstrap
from service.config import Settings
from service.entrypoints.grpc.server import create_server
from service.gen.payment.v1 import payment_pb2 as pb
from service.gen.payment.v1 import payment_pb2_grpc
from service.observability import metrics, tracing
from tests.fakes import FakeProcessor, Outcome, SingleProcessor

pytestmark = pytest.mark.integration

KEY, MERCHANT = "sk_metrics_key_0123456789", "acct_metrics_probe"
AUTH = (("authorization", f"Bearer {KEY}"),)
PAYMENT = "payment.v1.PaymentService"


class Observed:
    def __init__(self, stub, fake: FakeProcessor, spans: InMemorySpanExporter, port: int, access_log: io.StringIO):
        self.stub, self.fake, self.spans, self.port, self.access_log = stub, fake, spans, port, access_log

    def scrape(self) -> dict[tuple[str, tuple], float]:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(text) for sample in family.samples}

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.access_log.getvalue().splitlines()]


@pytest.fixture(scope="module")
async def observed(postgres, redis_url):
    fake = FakeProcessor("fake")
    settings = Settings(database_url=postgres, redis_url=redis_url, api_keys={KEY: MERCHANT})
    app = bootstrap(settings, processors=SingleProcessor(fake=fake))
    exporter = InMemorySpanExporter()
    tracing.configure(settings).add_span_processor(SimpleSpanProcessor(exporter))
    port = free_port()
    stop_metrics = metrics.start_http_server(port, settings.version, "127.0.0.1")
    access_log = io.StringIO()
    handler = logging.StreamHandler(access_log)
    handler.setFormatter(JsonFormatter())
    access_logger = logging.getLogger("payment.access")
    access_logger.addHandler(handler)
    access_logger.setLevel(logging.INFO)
    server, grpc_port, _ = create_server(app, "127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
    yield Observed(payment_pb2_grpc.PaymentServiceStub(channel), fake, exporter, port, access_log)
    await channel.close()
    await server.stop(0)
    access_logger.removeHandler(handler)
    stop_metrics()
    await app.close()


def value(scrape: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in scrape.items() if n == name and labels.items() <= dict(ls).items())


def grpc_labels(method: str, **extra: str) -> dict[str, str]:
    return {"grpc_type": "unary", "grpc_service": PAYMENT, "grpc_method": method, **extra}


async def traffic(stub) -> None:
    """Creates, a decline, captures, a refund, reads (miss then hits) and errors."""
    created = (await stub.CreatePayment(pb.CreatePaymentRequest(amount=900, currency="EUR"), metadata=AUTH)).payment
    for _ in range(3):
        await stub.GetPayment(pb.GetPaymentRequest(payment_id=created.payment_id), metadata=AUTH)
    await stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=created.payment_id, action=pb.CAPTURE),
                              metadata=AUTH)
    await stub.ProcessPayment(pb.ProcessPaymentRequest(payment_id=created.payment_id, action=pb.REFUND, amount=100),
                              metadata=AUTH)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetPayment(pb.GetPaymentRequest(payment_id="pay_" + "0" * 26), metadata=AUTH)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.ListPayments(pb.ListPaymentsRequest())


async def test_metrics_exist_and_move(observed):
    before = observed.scrape()
    observed.fake.script("authorize", Outcome.DECLINED, code="card_declined")
    await observed.stub.CreatePayment(pb.CreatePaymentRequest(amount=500, currency="EUR"), metadata=AUTH)
    await traffic(observed.stub)
    after = observed.scrape()

    def moved(name: str, by: float = 1, **labels: str) -> None:
        delta = value(after, name, **labels) - value(before, name, **labels)
        assert delta >= by, f"{name}{labels} moved by {delta}, expected at least {by}"

    moved("grpc_server_started_total", 2, **grpc_labels("CreatePayment"))
    moved("grpc_server_handled_total", 2, **grpc_labels("CreatePayment", grpc_code="OK"))
    moved("grpc_server_handled_total", **grpc_labels("GetPayment", grpc_code="NotFound"))
    moved("grpc_server_handled_total", **grpc_labels("ListPayments", grpc_code="Unauthenticated"))
    moved("grpc_server_handling_seconds_count", 4, **grpc_labels("GetPayment"))
    moved("grpc_server_handling_seconds_bucket", 4, **grpc_labels("GetPayment", le="+Inf"))
    moved("payment_outcomes_total", operation="create", status="REQUIRES_CAPTURE", processor="fake",
          currency="EUR")
    moved("payment_outcomes_total", operation="create", status="FAILED")
    moved("payment_outcomes_total", operation="capture", status="CAPTURED")
    moved("payment_outcomes_total", operation="refund", status="PARTIALLY_REFUNDED")
    moved("payment_processor_request_duration_seconds_count", 2, processor="fake", operation="authorize")
    moved("payment_processor_request_duration_seconds_count", processor="fake", operation="capture")
    moved("payment_processor_errors_total", processor="fake", operation="authorize", error="declined")
    moved("payment_cache_hits_total", 3)
    moved("payment_cache_misses_total", 1)
    assert value(after, "payment_db_pool_size") == 10
    assert ("payment_db_pool_checked_out", ()) in after
    assert ("payment_cache_circuit_open", ()) in after
    assert ("payment_webhook_events_total", (("outcome", "signature_invalid"), ("type", "unverified"))) in after
    assert value(after, "payment_service_info", version=Settings().version) == 1


async def test_webhook_counter_keeps_its_labels_bounded(observed):
    metrics.record_webhook_event("payment_intent.succeeded", "processed")
    metrics.record_webhook_event("customer.created", "ignored")
    scrape = observed.scrape()
    assert value(scrape, "payment_webhook_events_total", type="payment_intent.succeeded", outcome="processed") >= 1
    assert value(scrape, "payment_webhook_events_total", type="other", outcome="ignored") >= 1
    metrics.record_webhook_event("charge.refunded", "whatever")
    assert value(observed.scrape(), "payment_webhook_events_total", type="charge.refunded", outcome="unknown") >= 1


async def test_no_label_carries_ids_or_keys(observed):
    await traffic(observed.stub)
    labels = {v for (_, ls) in observed.scrape() for _, v in ls}
    leaks = {v for v in labels if v.startswith(("pay_", "acct_", "re_", "sk_")) or KEY in v or MERCHANT in v}
    assert not leaks


async def test_spans_continue_the_callers_trace_with_sql_redis_and_processor_children(observed):
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    metadata = (*AUTH, ("traceparent", f"00-{trace_id}-{parent_id}-01"))
    observed.spans.clear()
    created = (await observed.stub.CreatePayment(pb.CreatePaymentRequest(amount=800, currency="USD"),
                                                 metadata=metadata)).payment
    spans = [s for s in observed.spans.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id]
    server = next(s for s in spans if s.kind is SpanKind.SERVER)
    assert server.name == f"{PAYMENT}/CreatePayment" and format(server.parent.span_id, "016x") == parent_id
    assert server.attributes["rpc.grpc.status_code"] == 0
    children = {s.name for s in spans if s.parent is not None and s.parent.span_id == server.context.span_id}
    assert {"INSERT", "processor authorize", "redis EVALSHA"} <= children, children
    line = next(entry for entry in reversed(observed.log_lines()) if entry.get("rpc", "").endswith("CreatePayment"))
    assert line["trace_id"] == trace_id
    assert created.payment_id not in json.dumps(dict(server.attributes))


async def test_a_call_without_traceparent_still_logs_its_new_trace_id(observed):
    observed.spans.clear()
    await observed.stub.ListPayments(pb.ListPaymentsRequest(), metadata=AUTH)
    server = next(s for s in observed.spans.get_finished_spans() if s.kind is SpanKind.SERVER)
    line = next(entry for entry in reversed(observed.log_lines()) if entry.get("rpc", "").endswith("ListPayments"))
    assert line["trace_id"] == format(server.context.trace_id, "032x") != "0" * 32
    assert server.parent is None
