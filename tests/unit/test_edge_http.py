"""The edge validator's HTTP/1.1 server, spoken to over a real socket, byte by byte.

Envoy is its only client, but anything that reaches the port can send anything: bounded head and
body, keep-alive and pipelining, and no input that crashes it or leaves it unable to answer the
next connection.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.entrypoints.edge.body_rules import BodyRules
from service.entrypoints.edge.http11 import Limits, Request, Response, Server
from service.entrypoints.edge.validator import REPO_DESCRIPTOR, create_server, status_response

pytestmark = pytest.mark.unit

CREATE_OK = b'{"amount": 100, "currency": "USD"}'


def post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return b"POST %s HTTP/1.1\r\nhost: v\r\ncontent-length: %d\r\n%s\r\n" % (path.encode(), len(body), extra) + body


async def exchange(port: int, data: bytes, expect: int = 1, timeout: float = 5,
                   wait_close: float = 0.3) -> tuple[list[tuple[int, dict, bytes]], bool]:
    """Send `data`, read `expect` responses; also whether the server then closed the connection
    (within `wait_close` seconds)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    answers = []
    for _ in range(expect):
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        headers = {}
        while (line := await asyncio.wait_for(reader.readline(), timeout)) != b"\r\n":
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout)
        answers.append((int(status_line.split()[1]), headers, body))
    try:
        closed = await asyncio.wait_for(reader.read(1), wait_close) == b""
    except TimeoutError:
        closed = False
    writer.close()
    return answers, closed


@pytest.fixture(scope="module")
def rules() -> BodyRules:
    return BodyRules.from_descriptor_set(REPO_DESCRIPTOR.read_bytes())


@pytest.fixture
async def validator():
    server, port = await create_server("127.0.0.1", 0, max_body=4096)
    yield port
    await server.stop(1)


async def test_one_keep_alive_connection_answers_requests_in_order_even_pipelined(validator):
    data = (post("/check/v1/payments", CREATE_OK) + post("/check/v1/payments", b'{"amout": 1}')
            + b"GET /healthz HTTP/1.1\r\n\r\n" + post("/check/v1/payments", CREATE_OK))
    answers, closed = await exchange(validator, data, expect=4)
    assert [status for status, _, _ in answers] == [200, 400, 200, 200]
    assert json.loads(answers[1][2])["details"][0]["field_violations"][0]["field"] == "amout"
    assert answers[2][2] == b"ok\n"
    assert not closed


async def test_a_body_split_over_many_packets_is_checked_whole(validator):
    reader, writer = await asyncio.open_connection("127.0.0.1", validator)
    data = post("/check/v1/payments", b'{"amount": 100, "currency": "USD", "oops": 1}')
    for i in range(len(data)):
        writer.write(data[i:i + 1])
        await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status.startswith(b"HTTP/1.1 400 ")


async def test_connection_close_and_http_1_0_close_after_the_answer(validator):
    answers, closed = await exchange(validator, post("/check/v1/payments", CREATE_OK, b"connection: close\r\n"))
    assert answers[0][0] == 200 and closed
    answers, closed = await exchange(validator, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert answers[0][0] == 200 and closed


@pytest.mark.parametrize(("data", "status"), [
    (b"GET / HTTP/1.1\r\n" + b"x-long: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"x-long: " + b"a" * 70_000, 431),  # no end of head in sight
    (post("/check/v1/payments", b"x" * 4097), 413),
    (b"POST /check/v1/payments HTTP/1.1\r\ncontent-length: 99999999999999999999999\r\n\r\n", 400),
    (b"POST /check/v1/payments HTTP/1.1\r\ncontent-length: -1\r\n\r\n", 400),
    (b"POST /check/v1/payments HTTP/1.1\r\ncontent-length: \xb2\r\n\r\n", 400),
    (b"POST /check/v1/payments HTTP/1.1\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}", 400),
    (b"POST /check/v1/payments HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 501),
    (b"GET /healthz HTTP/2.0\r\n\r\n", 400),
    (b"GET  /healthz HTTP/1.1\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nx-folded: a\r\n b\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nbad name: a\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nx: a\x00b\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # a TLS hello
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),  # an HTTP/2 preface
])
async def test_a_malformed_request_gets_a_json_error_and_a_closed_connection(validator, data, status):
    answers, closed = await exchange(validator, data)
    (got, headers, body), = answers
    assert got == status and closed
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["message"].startswith("edge validator: ")
    assert (await exchange(validator, b"GET /healthz HTTP/1.1\r\n\r\n"))[0][0][0] == 200


async def test_only_checks_and_the_health_path_are_served(validator):
    (answer,), _ = await exchange(validator, post("/v1/payments", CREATE_OK))
    assert answer[0] == 404 and json.loads(answer[2])["code"] == 5
    partial = post("/check/v1/payments", CREATE_OK, b"x-envoy-auth-partial-body: true\r\n")
    (answer,), _ = await exchange(validator, partial)
    assert answer[0] == 413, "a partial body is never allowed on"


async def test_a_handler_bug_is_a_500_so_envoy_fails_closed():
    def broken(request: Request) -> Response:
        raise ValueError("secret body text")

    server = Server(broken, status_response, Limits())
    port = await server.start("127.0.0.1", 0)
    try:
        (answer,), closed = await exchange(port, post("/check/v1/payments", CREATE_OK))
    finally:
        await server.stop(1)
    assert answer[0] == 500 and closed and b"secret" not in answer[2]


async def test_idle_and_half_sent_connections_are_closed_after_their_limits():
    server = Server(lambda request: Response(200), status_response, Limits(idle_seconds=0.4, partial_seconds=0.2))
    port = await server.start("127.0.0.1", 0)
    try:
        idle = await asyncio.open_connection("127.0.0.1", port)
        half = await asyncio.open_connection("127.0.0.1", port)
        half[1].write(b"POST /check/x HTTP/1.1\r\ncontent-length: 10\r\n\r\n{")
        await half[1].drain()
        assert await asyncio.wait_for(half[0].read(), 5) == b""
        assert await asyncio.wait_for(idle[0].read(), 5) == b""
    finally:
        await server.stop(1)


async def test_a_stop_answers_what_is_whole_and_closes_idle_connections_at_once():
    server, port = await create_server("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /check/v1/payments HTTP/1.1\r\ncontent-length: %d\r\n\r\n" % len(CREATE_OK) + CREATE_OK[:5])
    await writer.drain()
    idle_reader, _ = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(0.1)
    stopping = asyncio.ensure_future(server.stop(5))
    assert await asyncio.wait_for(idle_reader.read(), 2) == b""
    writer.write(CREATE_OK[5:])
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"connection: close" in answer
    await asyncio.wait_for(stopping, 5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.one_of(
    st.binary(max_size=300),
    st.builds(lambda method, target, tail: b"%s %s HTTP/1.1\r\n%s" % (method, target, tail),
              st.sampled_from([b"GET", b"POST", b"PATCH", b"X\x00"]),
              st.binary(min_size=1, max_size=40), st.binary(max_size=120))))
def test_no_garbage_crashes_it_or_stops_it_answering(rules, garbage):
    async def run() -> None:
        server, port = await create_server("127.0.0.1", 0, rules=rules)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(garbage)
            await writer.drain()
            writer.write_eof()
            await asyncio.wait_for(reader.read(), 5)  # whatever it answers, it answers and closes
            writer.close()
            (answer,), _ = await exchange(port, b"GET /healthz HTTP/1.1\r\n\r\n", wait_close=0)
            assert answer[0] == 200
        finally:
            await server.stop(1)

    asyncio.run(run())
