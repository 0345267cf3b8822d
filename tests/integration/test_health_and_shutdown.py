"""Health follows the database; SIGTERM lets in-flight calls finish."""

from __future__ import annotations

import asyncio
import signal

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devtools.devstack import free_port
from service.bootstrap import bootstrap
from service.config import Settings
from service.entrypoints.grpc.server import create_server
from service.gen.payment.v1 import payment_pb2 as pb
from service.gen.payment.v1 import payment_pb2_grpc

from .conftest import API_KEYS, auth
from .test_crash_safety import rows

pytestmark = pytest.mark.integration


async def test_health_is_not_serving_while_the_database_is_unreachable():
    nowhere = f"postgresql+asyncpg://payments@127.0.0.1:{free_port()}/payments"
    app = bootstrap(Settings(database_url=nowhere, api_keys=API_KEYS))
    server, port, health = create_server(app, "127.0.0.1:0")
    await server.start()
    await health.refresh()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            standard = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert standard.status == health_pb2.HealthCheckResponse.NOT_SERVING
            ours = await payment_pb2_grpc.PaymentServiceStub(channel).HealthCheck(pb.HealthCheckRequest())
            assert ours.status == pb.HealthCheckResponse.NOT_SERVING
            assert ours.components["database"] == "unreachable"
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await payment_pb2_grpc.PaymentServiceStub(channel).CreatePayment(
                    pb.CreatePaymentRequest(amount=100, currency="USD"), metadata=auth("sk_it_0"))
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "retry" in raised.value.details()
    finally:
        await server.stop(0)
        await app.close()


async def test_sigterm_finishes_in_flight_calls(server_processes, postgres, key, record):
    (replica,) = server_processes(1, SHUTDOWN_GRACE_SECONDS="10")
    merchant = API_KEYS[key]
    outcomes: list[str] = []
    acknowledged: list[str] = []

    async def create(i: int) -> None:
        try:
            reply = await replica.stub.CreatePayment(pb.CreatePaymentRequest(amount=100 + i, currency="USD"),
                                                     metadata=auth(key), timeout=20)
            acknowledged.append(reply.payment.payment_id)
            outcomes.append("ok")
        except grpc.aio.AioRpcError as exc:
            outcomes.append(exc.code().name)

    calls = [asyncio.create_task(create(i)) for i in range(60)]
    while len(acknowledged) < 5:
        await asyncio.sleep(0.005)
    replica.popen.send_signal(signal.SIGTERM)
    acknowledged_at_signal = len(acknowledged)
    await asyncio.gather(*calls)
    exit_code = await asyncio.to_thread(replica.popen.wait, 30)
    stored = await rows(postgres, merchant)
    record("SIGTERM during 60 concurrent creates", fired=60, acknowledged=len(acknowledged),
           refused_after_sigterm=sum(1 for o in outcomes if o != "ok"), exit_code=exit_code,
           finished_after_sigterm=len(acknowledged) - acknowledged_at_signal, written=len(stored),
           written_but_not_acknowledged=len(set(stored) - set(acknowledged)),
           left_processing=sum(1 for s in stored.values() if s == "PROCESSING"))
    assert exit_code == 0
    assert len(acknowledged) > acknowledged_at_signal, "no call was in flight at SIGTERM: the test proved nothing"
    # Every call the server had started finished and was answered: what it wrote is exactly what it
    # acknowledged, and nothing was cut short between writing and answering (no PROCESSING left).
    assert set(stored) == set(acknowledged)
    assert "PROCESSING" not in stored.values()
    # Calls that arrived after SIGTERM were refused before doing anything.
    assert set(outcomes) <= {"ok", "UNAVAILABLE", "CANCELLED"}
