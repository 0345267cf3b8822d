"""Who is making the current change: the actor written on every event.

The entry point that knows the caller sets it once per call (a context
variable, like the request id in common.logs), and the repository reads it
when it persists events. Actors:

- ``api_key:<key id>``: a merchant's API call; the id of a managed key
  (``key_<16 hex>``, service_layer/api_keys.py), or for a key from API_KEYS the
  first 12 hex digits of its SHA-256, enough to tell keys apart, useless to call with;
- ``processor:<name> event <event id>``: a processor's webhook;
- ``reconcile``: the reconciliation job;
- ``system``: anything else (e.g. a maintenance command).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Iterator

actor_var: contextvars.ContextVar[str] = contextvars.ContextVar("actor", default="system")


def api_key_id(api_key: str) -> str:
    """A non-secret identifier of an API key (it is never stored or shown itself)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def api_key_actor(api_key: str) -> str:
    return f"api_key:{api_key_id(api_key)}"


def processor_actor(processor: str, event_id: str) -> str:
    return f"processor:{processor} event {event_id}"


RECONCILE = "reconcile"


def current_actor() -> str:
    return actor_var.get()


@contextlib.contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Attribute the changes made inside the block to ``actor``."""
    token = actor_var.set(actor)
    try:
        yield
    finally:
        actor_var.reset(token)
