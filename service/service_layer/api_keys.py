"""API keys: the in-memory map every request is authenticated against, and how a key is made.

A request must never wait for the database to be authenticated, so each server
process keeps a `KeyRing`: SHA-256 digest of the key -> (key id, merchant, expiry).
Verifying a key is one SHA-256 and one dict lookup, and checks the expiry
against the clock, so a rotated key stops working on time even between refreshes.
The ring is filled from two places:

- ``API_KEYS`` (the bootstrap for local runs: ``sk_test_local=acct_local,...``),
  fixed for the life of the process; their key id is the first 12 hex digits of
  the key's SHA-256 (``audit.api_key_id``);
- the ``api_keys`` table (``payment-service keys create|list|revoke|rotate``),
  reloaded whole by the server (adapters/api_key_store.py) when PostgreSQL
  notifies a change, and every ``API_KEYS_REFRESH_SECONDS`` as a fallback.

Why SHA-256 and no pepper or slow hash: a managed key carries 256 random bits
(``secrets.token_urlsafe(32)``), so its digest cannot be reversed by guessing;
slow password hashes (bcrypt, argon2) exist for low-entropy passwords and would
cost milliseconds on every request; a pepper would be one more secret to
distribute and rotate for no gain. The low-entropy demo keys of ``API_KEYS``
are never stored. The digest is also the lookup key, so no per-key compare runs
(a lookup's timing can only tell a caller about digests, not keys).

Which stored keys were used is remembered here (a set of ids) and written to
``last_used_at`` by the refresher in one UPDATE per interval, not per request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from collections.abc import Callable, Iterable, Mapping

from .audit import api_key_id

KEY_PREFIX = "sk_"
ID_PREFIX = "key_"


def digest(api_key: str) -> str:
    """What is stored of a key: its SHA-256, hex."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """(key id, secret key) of a new managed key: ``key_<16 hex>`` and ``sk_<43 url-safe chars>``."""
    return ID_PREFIX + secrets.token_hex(8), KEY_PREFIX + secrets.token_urlsafe(32)


@dataclasses.dataclass(frozen=True)
class KeyEntry:
    """A key the ring accepts: never the key itself."""

    key_id: str
    merchant_id: str
    expires_at: float | None = None  # unix seconds; None: no expiry
    stored: bool = True  # from the api_keys table (False: from API_KEYS)


class KeyRing:
    """Verifies keys from memory; `replace` swaps in a fresh copy of the stored keys."""

    def __init__(self, bootstrap: Mapping[str, str] | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._bootstrap = {digest(key): KeyEntry(api_key_id(key), merchant, stored=False)
                           for key, merchant in (bootstrap or {}).items()}
        self._by_digest: dict[str, KeyEntry] = dict(self._bootstrap)
        self._used: set[str] = set()
        self.generation = 0  # how many times the stored keys were loaded

    def verify(self, api_key: str) -> KeyEntry | None:
        """The key's entry, or None when it is unknown, revoked or expired."""
        entry = self._by_digest.get(digest(api_key))
        if entry is None or (entry.expires_at is not None and entry.expires_at <= self._clock()):
            return None
        if entry.stored:
            self._used.add(entry.key_id)
        return entry

    def replace(self, stored: Iterable[tuple[str, KeyEntry]]) -> None:
        """The stored keys now valid, as (digest, entry) pairs; API_KEYS entries stay."""
        self._by_digest = {**dict(stored), **self._bootstrap}
        self.generation += 1

    def take_used(self) -> set[str]:
        """Ids of the stored keys used since the last call (for one coalesced last_used_at write)."""
        used, self._used = self._used, set()
        return used

    def give_back(self, used: set[str]) -> None:
        """Ids `take_used` returned whose write failed: written on the next pass."""
        self._used |= used

    def __len__(self) -> int:
        return len(self._by_digest)
