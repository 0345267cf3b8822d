"""Free loopback ports for the local stack, the cluster tools and the tests."""

from __future__ import annotations

import random
import socket
import threading

_handed_out: set[int] = set()
_lock = threading.Lock()
FALLBACK_EPHEMERAL = (32768, 60999)  # Linux's default net.ipv4.ip_local_port_range
LOWEST = 10000


def ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(part) for part in f.read().split())
        return low, high
    except (OSError, ValueError):
        return FALLBACK_EPHEMERAL


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing is bound to now, below the kernel's ephemeral range when it can be.

    `bind(("127.0.0.1", 0))` hands out a port from the ephemeral range, the range the kernel
    also takes the source port of every outgoing connection from: between picking a port and a
    child binding it, one of the machine's client connections could take it (a stack under a
    loaded test run then failed to start). Below that range only explicit binds compete. A port
    is never handed out twice by one process, so one stack's ports are distinct."""
    low, _ = ephemeral_range()
    with _lock:
        if low - LOWEST >= 1000:
            for _ in range(200):
                port = random.randrange(LOWEST, low)
                if port not in _handed_out and _bindable(port):
                    _handed_out.add(port)
                    return port
        while True:  # no room below the range (or it is all taken): the kernel's choice
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
