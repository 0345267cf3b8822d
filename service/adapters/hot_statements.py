"""The write path's hot statements: SQLAlchemy Core over tables.py, compiled once here, run by asyncpg.

Every name comes from the Table objects (tables.py, event_tables.py stay the one source of the
schema); ``pg.Statement`` compiles each once at import and the unit of work sends it through
asyncpg, which prepares it once per connection. Parameters are bound by name.
"""

from __future__ import annotations

import functools
import re

from sqlalchemy import Integer, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from .pg import Statement
from .tables import disputes, idempotency_keys, payments, refunds


def _binds(table, names):  # noqa: ANN001, ANN202 - {column: bindparam of the same name and type}
    return {name: bindparam(name, type_=table.c[name].type) for name in names}


# ---- payments -------------------------------------------------------------------------------------

PAYMENT_COLUMNS = tuple(payments.c.keys())
# What save() writes back: everything but the identity, the creation time and the version (bumped).
PAYMENT_CHANGING = tuple(name for name in PAYMENT_COLUMNS
                         if name not in ("payment_id", "merchant_id", "created_at", "version"))
_MINE = (payments.c.payment_id == bindparam("payment_id"), payments.c.merchant_id == bindparam("merchant_id"))

INSERT_PAYMENT = Statement(insert(payments).values(_binds(payments, PAYMENT_COLUMNS))
                           .returning(payments.c.payment_id))
UPDATE_PAYMENT = Statement(
    update(payments)
    .where(payments.c.payment_id == bindparam("payment_id"), payments.c.version == bindparam("expected_version"))
    .values({**_binds(payments, PAYMENT_CHANGING), "version": payments.c.version + bindparam("steps", type_=Integer)})
    .returning(payments.c.version)
)

# The payment with its refunds and disputes in one round trip: one row per (refund, dispute) pair,
# refund and dispute columns prefixed; a payment without either is one row of NULLs on that side.
REFUND_LABEL = "refund__"
DISPUTE_LABEL = "dispute__"
WITH_CHILDREN = (
    select(payments, *[c.label(REFUND_LABEL + c.name) for c in refunds.c],
           *[c.label(DISPUTE_LABEL + c.name) for c in disputes.c])
    .select_from(payments.outerjoin(refunds, refunds.c.payment_id == payments.c.payment_id)
                 .outerjoin(disputes, disputes.c.payment_id == payments.c.payment_id))
)
PAYMENT_WITH_CHILDREN = Statement(WITH_CHILDREN.where(*_MINE))
# The same read taking the payment's row lock, with the version this statement's snapshot saw next
# to the version it locked: if a change committed after the snapshot (the read waited for the lock,
# or a change landed in between), PostgreSQL locks the newest row but the refunds and disputes are
# the snapshot's, and the two versions differ: then the caller reads again, under the lock. Every
# change to a payment's refunds or disputes moves its version (SqlPaymentRepository.save).
_SEEN = payments.alias("seen")
LOCKED_PAYMENT_WITH_CHILDREN = Statement(
    WITH_CHILDREN.add_columns(select(_SEEN.c.version).where(_SEEN.c.payment_id == payments.c.payment_id)
                              .scalar_subquery().label("snapshot_version"))
    .where(*_MINE).with_for_update(of=payments)
)

# ---- idempotency keys -----------------------------------------------------------------------------

_KEY = (idempotency_keys.c.merchant_id == bindparam("merchant_id"), idempotency_keys.c.key == bindparam("key"))
CLAIM_KEY = Statement(
    pg_insert(idempotency_keys)
    .values(_binds(idempotency_keys, ["merchant_id", "key", "operation", "fingerprint", "state", "payment_id",
                                      "refund_id", "locked_until", "created_at"]))
    .on_conflict_do_nothing(index_elements=["merchant_id", "key"])
    .returning(idempotency_keys.c.key)
)
LOCK_KEY = Statement(select(idempotency_keys).where(*_KEY).with_for_update())
RENEW_KEY = Statement(update(idempotency_keys).where(*_KEY)
                      .values(locked_until=bindparam("locked_until", type_=idempotency_keys.c.locked_until.type)))
COMPLETE_KEY = Statement(update(idempotency_keys).where(*_KEY).values(
    state="completed", response=bindparam("response", type_=idempotency_keys.c.response.type))
    .returning(idempotency_keys.c.key))
RELEASE_KEY = Statement(update(idempotency_keys).where(*_KEY).values(locked_until=func.now()))
FORGET_KEY = Statement(idempotency_keys.delete().where(*_KEY))

# ---- the event log, and the unit of work's last statement -----------------------------------------

# The event rows (event_log.EventJournal.flush adds their queue rows, from its RETURNING).
INSERT_EVENTS = Statement(text("""
  INSERT INTO events (event_id, merchant_id, type, payment_id, refund_id, dispute_id, sequence, data, actor,
                      request_id, created_at)
  SELECT r.event_id, r.merchant_id, r.type, r.payment_id, r.refund_id, r.dispute_id, r.sequence, r.data, r.actor,
         r.request_id, r.created_at
  FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(event_id text, merchant_id text, type text, payment_id text,
       refund_id text, dispute_id text, sequence int, data jsonb, actor text, request_id text,
       created_at timestamptz, n bigint)
  WHERE true
  ORDER BY r.n
  RETURNING id, event_id
"""))
_EVENTS_GUARD = "WHERE true"
QUEUE_EVENTS = "INSERT INTO event_queue (id, event_id) SELECT id, event_id FROM appended"


@functools.cache
def combined(writes: tuple[Statement, ...], with_events: bool, guards: tuple[int, ...] = ()) -> str:
    """The staged writes and the events as one statement of data-modifying CTEs (w0, w1, ...,
    appended, queued), selecting how many rows each write touched, in order. PostgreSQL runs every
    CTE exactly once, to completion, on one snapshot. The events are inserted only if each write
    numbered in ``guards`` changed its row (a save's version check): otherwise their sequence
    numbers would collide with the ones of the change that moved the version, and the caller
    raises ConcurrentUpdate from the counts instead."""
    guard = " AND ".join(f"(SELECT count(*) FROM w{g}) = 1" for g in guards)
    parts = _writes_and_events(writes, with_events, 0, guard)
    counts = ", ".join(f"(SELECT count(*) FROM w{n})" for n in range(len(writes)))
    return f"WITH {', '.join(parts)} SELECT ARRAY[{counts}]::bigint[]"


# ---- a create's begin in one statement: the key's claim, and the payment only if it took ---------

CLAIMED = "EXISTS (SELECT FROM claimed)"
INSERT_PAYMENT_IF_CLAIMED = Statement(
    insert(payments).from_select(list(PAYMENT_COLUMNS), select(
        *[bindparam(name, type_=payments.c[name].type).label(name) for name in PAYMENT_COLUMNS]).where(text(CLAIMED)))
    .returning(payments.c.payment_id))
# The staged writes that can go with a claim, each as its guarded form.
IF_CLAIMED = {INSERT_PAYMENT: INSERT_PAYMENT_IF_CLAIMED}
# What the claim's statement reads of a key that was there already (as its snapshot saw it).
EARLIER = ("operation", "fingerprint", "state", "payment_id", "refund_id", "response", "locked_until")


@functools.cache
def claimed(writes: tuple[Statement, ...], with_events: bool) -> str:
    """CLAIM_KEY, then the writes (IF_CLAIMED's forms) and the events only if the key was claimed, as
    one statement; it selects one row: ``claimed`` (1 or 0) and, when the key was there, its row as
    this statement's snapshot saw it. A key inserted by a transaction that committed after that
    snapshot (INSERT ... ON CONFLICT waited for it) is not visible: then claimed is 0 and the row's
    values are NULL, and the caller takes the locked path (SqlIdempotencyStore.claim)."""
    position = {name: f"${CLAIM_KEY.names.index(name) + 1}" for name in ("merchant_id", "key")}
    parts = [f"claimed AS ({CLAIM_KEY.sql})",
             *_writes_and_events(writes, with_events, len(CLAIM_KEY.names), CLAIMED)]
    keys = idempotency_keys.name
    earlier = ", ".join(f"earlier.{idempotency_keys.c[name].name}" for name in EARLIER)
    return (f"WITH {', '.join(parts)} SELECT (SELECT count(*) FROM claimed) AS claimed, {earlier} "
            f"FROM (VALUES (1)) AS one (x) LEFT JOIN {keys} AS earlier "
            f"ON earlier.merchant_id = {position['merchant_id']} AND earlier.key = {position['key']}")


def _writes_and_events(writes: tuple[Statement, ...], with_events: bool, offset: int, guard: str) -> list[str]:
    """The CTEs w0, w1, ... of ``writes``, then appended and queued (the events, only if ``guard``
    holds), their ``$n`` numbered on from ``offset``."""
    parts = []
    for n, statement in enumerate((*writes, INSERT_EVENTS) if with_events else writes):
        name = "appended" if with_events and n == len(writes) else f"w{n}"
        sql = re.sub(r"\$(\d+)", lambda m, o=offset: f"${int(m.group(1)) + o}", statement.sql)
        if name == "appended" and guard:
            sql = sql.replace(_EVENTS_GUARD, "WHERE " + guard)
        parts.append(f"{name} AS ({sql})")
        offset += len(statement.names)
    if with_events:
        parts.append(f"queued AS ({QUEUE_EVENTS})")
    return parts

# Every statement sent by asyncpg on the write path (tests/unit/test_hot_statements.py checks their names);
# IF_CLAIMED's forms are only ever sent inside ``claimed`` (they read its CTE).
ALL = {name: value for name, value in dict(globals()).items()
       if isinstance(value, Statement) and value not in IF_CLAIMED.values()}
