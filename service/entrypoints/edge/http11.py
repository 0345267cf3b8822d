"""A small HTTP/1.1 server on asyncio's Protocol API, for the edge validator.

Its only client is Envoy (ext_authz `http_service`) on loopback or in the same pod, plus the
kubelet's probes; it still parses defensively, since anything that reaches the port can send
anything:

- the request line and headers together are at most `max_head` bytes (else 431), a body at most
  `max_body` bytes (else 413, before any of it is read); `Content-Length` only: a
  `Transfer-Encoding` is 501, two different lengths or a malformed one 400;
- a malformed request line, header or version is a 400; every error answer closes the
  connection, and nothing a client sends can raise out of the protocol;
- keep-alive (HTTP/1.1's default; `Connection: close` and HTTP/1.0 close after the answer),
  pipelined requests are answered in order;
- a connection idle longer than `idle_seconds` is closed (Envoy's pool closes its own idle
  connections first: its cluster's `idle_timeout` is shorter), one holding half a request for
  longer than `partial_seconds` too.

The handler is a plain function, called once per complete request, so a request is answered
in the same event-loop turn that completes it: nothing is ever half-handled, and a stop needs
to wait only for connections holding half a request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Callable, Mapping

log = logging.getLogger("service.edge.http")

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Content Too Large",
           431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented"}
# RFC 9110 token characters (method and header names); the target: no space or control character.
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e\x80-\xff]+) HTTP/1\.([01])")
FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str
    headers: Mapping[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = ""


Handler = Callable[[Request], Response]


class BadRequest(Exception):
    """The request cannot be parsed: answered with `status`, then the connection is closed."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


@dataclasses.dataclass(frozen=True)
class Limits:
    max_head: int = 64 * 1024
    max_body: int = 1024 * 1024
    idle_seconds: float = 300.0
    partial_seconds: float = 30.0


def encode(response: Response, close: bool) -> bytes:
    head = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Status')}",
            f"content-length: {len(response.body)}"]
    if response.content_type:
        head.append(f"content-type: {response.content_type}")
    if close:
        head.append("connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + response.body


OK_EMPTY = encode(Response(200), close=False)


def parse_head(head: bytes) -> tuple[str, str, int, dict[str, str]]:
    """(method, target, minor version, headers) of a request head without its final CRLFCRLF."""
    lines = head.split(b"\r\n")
    line = REQUEST_LINE.fullmatch(lines[0])
    if line is None:
        raise BadRequest(400, "malformed request line")
    headers: dict[str, str] = {}
    lengths: set[bytes] = set()
    for raw in lines[1:]:
        name, colon, value = raw.partition(b":")
        if not colon or TOKEN.fullmatch(name) is None:  # also obsolete line folding and bare LFs
            raise BadRequest(400, "malformed header line")
        value = value.strip(b" \t")
        if FIELD_VALUE.fullmatch(value) is None:
            raise BadRequest(400, "control character in a header value")
        key = name.decode("ascii").lower()
        if key == "content-length":
            lengths.add(value)
        headers[key] = value.decode("latin-1")
    if "transfer-encoding" in headers:
        raise BadRequest(501, "only Content-Length bodies are accepted")
    if len(lengths) > 1:
        raise BadRequest(400, "conflicting Content-Length headers")
    target = line.group(2).decode("utf-8", "replace")
    return line.group(1).decode("ascii"), target, int(line.group(3)), headers


def body_length(headers: Mapping[str, str], limit: int) -> int:
    raw = headers.get("content-length")
    if raw is None:
        return 0
    if not raw.isdigit() or not raw.isascii() or len(raw) > 19:
        raise BadRequest(400, "malformed Content-Length")
    length = int(raw)
    if length > limit:
        raise BadRequest(413, f"body over {limit} bytes")
    return length


class Connection(asyncio.Protocol):
    """One client connection: buffers bytes, answers each complete request, in order."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.head: tuple[str, str, int, dict[str, str]] | None = None
        self.need = 0  # body bytes of the request whose head is parsed
        self.last_seen = 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.last_seen = self.server.loop.time()
        self.server.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.server.connections.discard(self)
        self.transport = None

    @property
    def partial(self) -> bool:
        return bool(self.buffer) or self.head is not None

    def data_received(self, data: bytes) -> None:
        self.last_seen = self.server.loop.time()
        self.buffer += data
        try:
            while self.transport is not None and self._next():
                pass
        except BadRequest as refused:
            log.warning("malformed request refused", extra={"status": refused.status, "why": refused.why})
            self._answer(self.server.error(refused.status, refused.why), close=True)

    def _next(self) -> bool:
        """Answer one request if the buffer holds it whole; False when more bytes are needed."""
        limits = self.server.limits
        if self.head is None:
            end = self.buffer.find(b"\r\n\r\n", 0, limits.max_head + 4)
            if end < 0:
                if len(self.buffer) > limits.max_head:
                    raise BadRequest(431, f"request head over {limits.max_head} bytes")
                return False
            self.head = parse_head(bytes(self.buffer[:end]))
            del self.buffer[:end + 4]
            self.need = body_length(self.head[3], limits.max_body)
        if len(self.buffer) < self.need:
            return False
        method, target, minor, headers = self.head
        body = bytes(self.buffer[:self.need])
        del self.buffer[:self.need]
        self.head, self.need = None, 0
        close = minor == 0 or headers.get("connection", "").lower() == "close" or self.server.stopping
        try:
            response = self.server.handler(Request(method, target, headers, body))
        except Exception as exc:  # a bug, never the client's input: 500 (Envoy: fail closed, 503)
            log.error("request handler failed", extra={"error": type(exc).__name__})
            response, close = self.server.error(500, "internal error"), True
        self._answer(response, close)
        return not close

    def _answer(self, response: Response, close: bool) -> None:
        if self.transport is None:
            return
        if response.status == 200 and not response.body and not close:
            self.transport.write(OK_EMPTY)
        else:
            self.transport.write(encode(response, close))
        if close:
            self.transport.close()
            self.transport = None
            self.buffer.clear()


class Server:
    """`await Server(handler, error).start(host, port)`; `await stop(grace)` drains and closes."""

    def __init__(self, handler: Handler, error: Callable[[int, str], Response], limits: Limits = Limits()) -> None:
        self.handler, self.error, self.limits = handler, error, limits
        self.connections: set[Connection] = set()
        self.stopping = False
        self.loop = asyncio.get_running_loop()
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task | None = None

    async def start(self, host: str, port: int) -> int:
        self._server = await self.loop.create_server(lambda: Connection(self), host, port, reuse_address=True,
                                                     backlog=1024)
        self._sweeper = asyncio.ensure_future(self._sweep())
        return self._server.sockets[0].getsockname()[1]

    async def _sweep(self) -> None:
        limits = self.limits
        while True:
            await asyncio.sleep(min(5.0, limits.partial_seconds / 2, limits.idle_seconds / 2))
            now = self.loop.time()
            for connection in list(self.connections):
                allowed = limits.partial_seconds if connection.partial else limits.idle_seconds
                if now - connection.last_seen > allowed and connection.transport is not None:
                    connection.transport.close()

    async def stop(self, grace: float) -> None:
        """Stop listening, close idle connections now, give half-received requests `grace` seconds."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        deadline = self.loop.time() + grace
        while True:
            for connection in list(self.connections):
                if not connection.partial and connection.transport is not None:
                    connection.transport.close()
            if not self.connections or self.loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            await self._server.wait_closed()
