"""Issue 15 item 5: only Envoy faces the network. The local stack (the LocalStack `make run` uses)
binds the service's gRPC and /metrics ports and the gateway's GraphQL and /metrics ports to
127.0.0.1, and two Authorization values are refused at the edge and on the direct port alike."""

from __future__ import annotations

import ipaddress
import pathlib
import time

import grpc
import httpx
import pytest

from service.gen.payment.v1 import payment_pb2 as pb
from service.gen.payment.v1 import payment_pb2_grpc
from service.service_layer.audit import api_key_id

pytestmark = pytest.mark.e2e


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on `port` (from /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        path = pathlib.Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].partition(":")
            if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # the kernel prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            ip = ipaddress.ip_address(words if size == 16 else raw[::-1])
            found.add(str(getattr(ip, "ipv4_mapped", None) or ip))  # gRPC listens on ::ffff:127.0.0.1
    return found


@pytest.mark.parametrize("variable", ["GRPC_PORT", "METRICS_PORT", "GRAPHQL_PORT", "GRAPHQL_METRICS_PORT"])
def test_the_service_and_gateway_ports_listen_on_loopback_only(stack, variable):
    addresses = listening_addresses(int(stack.env[variable]))
    assert addresses == {"127.0.0.1"}, f"{variable} listens on {addresses}"


def test_envoy_is_the_port_that_faces_the_network(stack):
    assert listening_addresses(int(stack.env["ENVOY_PORT"])) & {"0.0.0.0", "::"}


def test_two_authorization_values_are_refused_at_the_edge_and_on_the_direct_port(stack, e2e_key):
    pairs = (("authorization", "Bearer sk_test_other"), ("authorization", f"Bearer {e2e_key}"))
    with grpc.insecure_channel(f"127.0.0.1:{stack.env['GRPC_PORT']}") as channel:
        with pytest.raises(grpc.RpcError) as raised:
            payment_pb2_grpc.PaymentServiceStub(channel).ListPayments(pb.ListPaymentsRequest(), metadata=pairs,
                                                                      timeout=30)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "2 authorization metadata values" in raised.value.details()
    edge = httpx.get(f"{stack.rest}/v1/payments", headers=[(k.title(), v) for k, v in pairs])
    assert edge.status_code == 401, edge.text


def test_the_access_log_names_the_key_id_never_the_key(stack, e2e_key):
    request_id = f"keys-{time.time_ns()}"
    reply = httpx.get(f"{stack.rest}/v1/payments", headers={"Authorization": f"Bearer {e2e_key}",
                                                            "x-request-id": request_id})
    assert reply.status_code == 200, reply.text
    deadline = time.monotonic() + 10
    while not (lines := [line for line in stack.service_log()
                         if line.get("message") == "rpc" and line.get("request_id") == request_id]):
        assert time.monotonic() < deadline, "no rpc line for the request"
        time.sleep(0.1)
    assert lines[0]["api_key_id"] == api_key_id(e2e_key)
    assert e2e_key not in (stack.log_dir / "payment-service.log").read_text()
