"""Webhook endpoints: a merchant's URLs that receive its events, signed (docs/webhooks.md).

The signing secret is generated here, returned once by create and rotate, and
stored so the delivery worker can sign; it never appears in a read, a log or
an error. Rotation keeps the previous secret signing too for an overlap window.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Protocol

from ..domain import errors
from ..domain.events import EVENT_TYPES
from ..domain.ids import ENDPOINT_ID, new_endpoint_id
from ..domain.model import utcnow
from .dependencies import Dependencies
from .events import _decode_token, _encode_token, _page_size, check_event_id, get_event
from .free_text import screen
from .signing import new_secret
from .webhook_urls import WebhookSettings, check_url

MAX_ENDPOINTS = 16
MAX_DESCRIPTION = 1000
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)
UPDATABLE = ("url", "description", "enabled_event_types", "enabled")


class EndpointNotFound(errors.NotFound):
    reason = "WEBHOOK_ENDPOINT_NOT_FOUND"


class EndpointDisabled(errors.IllegalTransition):
    reason = "WEBHOOK_ENDPOINT_DISABLED"


class TooManyEndpoints(errors.IllegalTransition):
    reason = "TOO_MANY_WEBHOOK_ENDPOINTS"


@dataclasses.dataclass
class Endpoint:
    endpoint_id: str
    merchant_id: str
    url: str
    description: str
    enabled_event_types: list[str]
    enabled: bool
    disabled_reason: str
    secret: str = dataclasses.field(repr=False)
    previous_secret: str = dataclasses.field(default="", repr=False)
    previous_secret_expires_at: datetime | None = None
    created_at: datetime = dataclasses.field(default_factory=utcnow)
    updated_at: datetime = dataclasses.field(default_factory=utcnow)

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, and the previous one while its overlap lasts."""
        keep_previous = self.previous_secret and self.previous_secret_expires_at and now < \
            self.previous_secret_expires_at
        return [self.secret, self.previous_secret] if keep_previous else [self.secret]


@dataclasses.dataclass(frozen=True)
class Attempt:
    attempt_id: int
    event_id: str
    attempted_at: datetime
    status_code: int
    latency_ms: float
    outcome: str
    error: str


class EndpointStore(Protocol):
    async def add(self, endpoint: Endpoint) -> None: ...
    async def count(self, merchant_id: str) -> int: ...
    async def get(self, merchant_id: str, endpoint_id: str, *, for_update: bool = False) -> Endpoint | None: ...
    async def list(self, merchant_id: str) -> list[Endpoint]: ...
    async def save(self, endpoint: Endpoint) -> None: ...
    async def remove(self, endpoint_id: str) -> None: ...
    async def attempts(self, endpoint_id: str, event_id: str, below: int | None, limit: int) -> list[Attempt]: ...
    async def enqueue(self, endpoint_id: str, event_id: str, payment_id: str) -> bool: ...


def check_endpoint_id(value: str) -> str:
    if not ENDPOINT_ID.match(value):
        raise errors.InvalidArgument("endpoint_id", "must be a webhook endpoint id (we_ followed by 26 characters)")
    return value


def check_event_types(types: list[str]) -> list[str]:
    for index, type_ in enumerate(types):
        if type_ not in EVENT_TYPES:
            raise errors.InvalidArgument(f"enabled_event_types[{index}]", f"unknown event type {type_[:64]!r}")
    if len(set(types)) != len(types):
        raise errors.InvalidArgument("enabled_event_types", "must not repeat a type")
    return sorted(types)


def check_description(value: str) -> str:
    if len(value) > MAX_DESCRIPTION or "\x00" in value:
        raise errors.InvalidArgument("description", f"must be at most {MAX_DESCRIPTION} characters, without NUL")
    screen("description", value)
    return value


async def create_endpoint(merchant_id: str, url: str, types: list[str], description: str, deps: Dependencies,
                          settings: WebhookSettings) -> tuple[Endpoint, str]:
    endpoint = Endpoint(new_endpoint_id(), merchant_id, await check_url(url, settings), check_description(description),
                        check_event_types(list(types)), True, "", new_secret())
    async with deps.uow() as uow:
        if await uow.endpoints.count(merchant_id) >= MAX_ENDPOINTS:
            raise TooManyEndpoints(f"a merchant may have at most {MAX_ENDPOINTS} webhook endpoints")
        await uow.endpoints.add(endpoint)
        await uow.commit()
    return endpoint, endpoint.secret


async def get_endpoint(merchant_id: str, endpoint_id: str, deps: Dependencies) -> Endpoint:
    check_endpoint_id(endpoint_id)
    async with deps.uow() as uow:
        endpoint = await uow.endpoints.get(merchant_id, endpoint_id)
    if endpoint is None:
        raise EndpointNotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


async def list_endpoints(merchant_id: str, deps: Dependencies) -> list[Endpoint]:
    async with deps.uow() as uow:
        return await uow.endpoints.list(merchant_id)


async def update_endpoint(merchant_id: str, endpoint_id: str, changes: dict, deps: Dependencies,
                          settings: WebhookSettings) -> Endpoint:
    check_endpoint_id(endpoint_id)
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown or not changes:
        raise errors.InvalidArgument("update_mask", f"must name some of {', '.join(UPDATABLE)}"
                                     + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    if "url" in changes:
        changes["url"] = await check_url(changes["url"], settings, "endpoint.url")
    if "enabled_event_types" in changes:
        changes["enabled_event_types"] = check_event_types(list(changes["enabled_event_types"]))
    if "description" in changes:
        check_description(changes["description"])
    async with deps.uow() as uow:
        endpoint = await uow.endpoints.get(merchant_id, endpoint_id, for_update=True)
        if endpoint is None:
            raise EndpointNotFound(f"webhook endpoint {endpoint_id} not found")
        for name, value in changes.items():
            setattr(endpoint, name, value)
        if changes.get("enabled"):
            endpoint.disabled_reason = ""
        await uow.endpoints.save(endpoint)
        await uow.commit()
    return endpoint


async def delete_endpoint(merchant_id: str, endpoint_id: str, deps: Dependencies) -> None:
    check_endpoint_id(endpoint_id)
    async with deps.uow() as uow:
        if await uow.endpoints.get(merchant_id, endpoint_id, for_update=True) is None:
            raise EndpointNotFound(f"webhook endpoint {endpoint_id} not found")
        await uow.endpoints.remove(endpoint_id)
        await uow.commit()


async def rotate_secret(merchant_id: str, endpoint_id: str, overlap_seconds: int,
                        deps: Dependencies) -> tuple[Endpoint, str]:
    check_endpoint_id(endpoint_id)
    overlap = timedelta(seconds=overlap_seconds) if overlap_seconds else DEFAULT_OVERLAP
    if not timedelta(0) < overlap <= MAX_OVERLAP:
        raise errors.InvalidArgument("overlap_seconds", f"must be between 1 and {int(MAX_OVERLAP.total_seconds())}")
    async with deps.uow() as uow:
        endpoint = await uow.endpoints.get(merchant_id, endpoint_id, for_update=True)
        if endpoint is None:
            raise EndpointNotFound(f"webhook endpoint {endpoint_id} not found")
        endpoint.previous_secret, endpoint.secret = endpoint.secret, new_secret()
        endpoint.previous_secret_expires_at = utcnow() + overlap
        await uow.endpoints.save(endpoint)
        await uow.commit()
    return endpoint, endpoint.secret


async def list_attempts(merchant_id: str, endpoint_id: str, event_id: str, page_size: int, page_token: str,
                        deps: Dependencies) -> tuple[list[Attempt], str]:
    await get_endpoint(merchant_id, endpoint_id, deps)
    if event_id:
        check_event_id(event_id)
    limit = _page_size(page_size)
    below = _decode_token(page_token, _AttemptFilter(endpoint_id, event_id))
    async with deps.uow() as uow:
        rows = await uow.endpoints.attempts(endpoint_id, event_id, below, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return page, _encode_token(page[-1].attempt_id, _AttemptFilter(endpoint_id, event_id)) if more else ""


@dataclasses.dataclass(frozen=True)
class _AttemptFilter:
    endpoint_id: str
    event_id: str


async def redeliver(merchant_id: str, endpoint_id: str, event_id: str, deps: Dependencies) -> None:
    endpoint = await get_endpoint(merchant_id, endpoint_id, deps)
    event = await get_event(merchant_id, event_id, deps)
    if not endpoint.enabled:
        raise EndpointDisabled(f"webhook endpoint {endpoint_id} is disabled; enable it first")
    if deps.sequence_events is not None:
        await deps.sequence_events(wait=True)
    async with deps.uow() as uow:
        if not await uow.endpoints.enqueue(endpoint_id, event.event_id, event.payment_id):
            raise errors.Unavailable("the event is not sequenced yet; retry")
        await uow.commit()
