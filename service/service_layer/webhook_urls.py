"""Which URLs a webhook endpoint may point at (SSRF protection).

- https only; http only to loopback, and loopback at all only when
  WEBHOOK_ALLOW_LOOPBACK is set (local development);
- every address the host resolves to must be public: private, link-local
  (169.254.0.0/16, where cloud metadata lives), shared (100.64.0.0/10),
  reserved, multicast and unspecified addresses are refused unless they fall
  in WEBHOOK_ALLOWED_NETWORKS;
- no user:password@ part, at most 2048 characters.

It is checked when an endpoint is created or changed, and again before every
delivery attempt (DNS can change after the endpoint was registered).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Protocol
from urllib.parse import urlsplit

from ..domain.errors import InvalidArgument

MAX_URL_LENGTH = 2048


class WebhookSettings(Protocol):
    """What the webhook rules read (service.config.WebhookSettings provides it)."""

    allow_loopback: bool
    allowed_networks: tuple
    backoff_base_seconds: float
    backoff_max_seconds: float

    @property
    def retry_window_seconds(self) -> float: ...
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(InvalidArgument):
    """The URL (or what it resolves to now) is not allowed."""


def _refuse(message: str, field: str = "url") -> UrlRefused:
    return UrlRefused(field, message)


def check_syntax(url: str, settings: WebhookSettings, field: str = "url") -> tuple[str, str]:
    """(scheme, host) of an acceptable-looking URL; the addresses are checked by ``check_url``."""
    if not url or len(url) > MAX_URL_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise _refuse(f"must be an absolute URL of at most {MAX_URL_LENGTH} characters without spaces", field)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _refuse("is not a valid URL", field) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _refuse("must be an https:// URL with a host", field)
    if parts.username is not None or parts.password is not None:
        raise _refuse("must not contain a user name or password", field)
    if parts.scheme == "http" and not settings.allow_loopback:
        raise _refuse("must be https (http is accepted only to loopback in local development)", field)
    return parts.scheme, parts.hostname


def check_address(address: Address, scheme: str, settings: WebhookSettings, field: str = "url") -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback:
        if not settings.allow_loopback:
            raise _refuse("resolves to a loopback address, which is not allowed", field)
        return
    if scheme == "http":
        raise _refuse("must be https (http is accepted only to loopback in local development)", field)
    if any(address in network for network in settings.allowed_networks):
        return
    if not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified:
        raise _refuse(f"resolves to a private, link-local or reserved address ({address}); "
                      "not allowed unless its network is in WEBHOOK_ALLOWED_NETWORKS", field)


async def resolve(host: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


async def check_url(url: str, settings: WebhookSettings, field: str = "url") -> str:
    """The URL if it is allowed now; UrlRefused (INVALID_ARGUMENT naming ``field``) otherwise."""
    scheme, host = check_syntax(url, settings, field)
    addresses = await resolve(host)
    if not addresses:
        raise _refuse(f"host {host[:100]!r} does not resolve", field)
    for address in addresses:
        check_address(address, scheme, settings, field)
    return url
