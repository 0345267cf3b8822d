"""`payment-service keys create|list|revoke|rotate`: API keys managed in PostgreSQL.

`create` and `rotate` print the new secret key once (only its SHA-256 is stored;
it cannot be shown again). `list` never shows a key, only ids. Every running
server accepts a change within about a second (PostgreSQL NOTIFY), or at the
latest after API_KEYS_REFRESH_SECONDS, without a restart. Output is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..config import Settings

Action = Callable[[Any, argparse.Namespace, Settings], Awaitable[dict]]


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _shown(key: Any) -> dict:
    now = datetime.now(UTC)
    return {"key_id": key.key_id, "merchant_id": key.merchant_id, "state": key.state(now),
            "created_at": _when(key.created_at), "last_used_at": _when(key.last_used_at),
            "expires_at": _when(key.expires_at), "revoked_at": _when(key.revoked_at),
            "replaced_by": key.replaced_by, "description": key.description}


async def _create(store: Any, args: argparse.Namespace, settings: Settings) -> dict:
    if not args.merchant.strip() or len(args.merchant) > 255:
        raise ValueError("--merchant must be a merchant id of 1 to 255 characters")
    expires = datetime.now(UTC) + timedelta(days=args.expires_in_days) if args.expires_in_days else None
    key, secret = await store.create(args.merchant, expires_at=expires, description=args.description)
    return {**_shown(key), "api_key": secret,
            "note": "the api_key is shown only now: store it; only its SHA-256 is kept"}


async def _list(store: Any, args: argparse.Namespace, settings: Settings) -> dict:
    return {"keys": [_shown(key) for key in await store.list(args.merchant)]}


async def _revoke(store: Any, args: argparse.Namespace, settings: Settings) -> dict:
    return _shown(await store.revoke(args.key_id))


async def _rotate(store: Any, args: argparse.Namespace, settings: Settings) -> dict:
    hours = settings.api_key_rotation_overlap_hours if args.overlap_hours is None else args.overlap_hours
    new, secret, old = await store.rotate(args.key_id, timedelta(hours=hours))
    return {"new": {**_shown(new), "api_key": secret}, "old": _shown(old),
            "note": f"the old key stays valid until {_when(old.expires_at)}; the new api_key is shown only now"}


def add_parser(commands: Any, run: Callable[[argparse.Namespace, Settings], int]) -> None:
    keys = commands.add_parser("keys", help="manage API keys (create, list, revoke, rotate)",
                               description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new key for a merchant; prints it once")
    create.add_argument("--merchant", required=True, help="the merchant id the key acts for")
    create.add_argument("--expires-in-days", type=float, default=None, help="expire after this many days")
    create.add_argument("--description", default="", help="what the key is for (shown by list)")
    create.set_defaults(action_func=_create)
    listing = actions.add_parser("list", help="the keys (ids, states, last use), never the secrets")
    listing.add_argument("--merchant", default=None, help="only this merchant's keys")
    listing.set_defaults(action_func=_list)
    revoke = actions.add_parser("revoke", help="stop accepting a key now")
    revoke.add_argument("key_id")
    revoke.set_defaults(action_func=_revoke)
    rotate = actions.add_parser("rotate", help="a new key for the same merchant; the old one expires after"
                                               " an overlap (API_KEY_ROTATION_OVERLAP_HOURS, 24 h)")
    rotate.add_argument("key_id")
    rotate.add_argument("--overlap-hours", type=float, default=None,
                        help="how long the old key keeps working (0: stop it now)")
    rotate.set_defaults(action_func=_rotate)
    keys.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..adapters.api_key_store import ApiKeyNotFound, ApiKeyStore
    from ..bootstrap import make_engine

    async def act() -> dict:
        engine = make_engine(settings)
        try:
            return await args.action_func(ApiKeyStore(engine), args, settings)
        finally:
            await engine.dispose()

    try:
        print(json.dumps(asyncio.run(act()), indent=2))
    except ApiKeyNotFound as exc:
        print(json.dumps({"error": f"no API key with id {exc.args[0]!r}"}), file=sys.stderr)
        return 1
    except ValueError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 1
    return 0
