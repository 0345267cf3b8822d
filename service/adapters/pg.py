"""asyncpg directly, under SQLAlchemy's pool: the transaction of a unit of work and its hot statements.

Why not SQLAlchemy Core for these: with its compiled-statement cache on (the default), a create
still spent about half its CPU in SQLAlchemy (cache keys, coercion of every value, compiled
parameter processing, result rows, the greenlet bridge per statement); the same statements sent
by asyncpg, prepared once per connection by its statement cache, cost a fraction of that
(docs/performance.md has both figures).

The pool stays SQLAlchemy's (size, overflow, recycle, dispose, the closed-socket check at checkout
in bootstrap.py): ``Transaction.begin`` checks a connection out with ``engine.connect()`` and sets
that SQLAlchemy connection to AUTOCOMMIT, so SQLAlchemy never begins nor ends a transaction on it.
BEGIN is sent by asyncpg on the connection beneath (``driver_connection``) just before the unit
of work's first statement, raw or SQLAlchemy Core (``Transaction.connection`` sends it before its
first ``execute``). Every statement of the unit of work then runs inside that one transaction, and
``commit`` or ``close`` ends it; a connection whose transaction could not be ended is invalidated,
never pooled.

A unit of work that is one statement sends it alone (``alone=True``): no BEGIN, no COMMIT, two
round trips fewer. PostgreSQL runs a statement outside a transaction block in a transaction of its
own, so it is still all or nothing, and it is committed when its answer arrives. What changes is
the meaning of a failure: a statement sent in a transaction and lost with its connection was
rolled back, but one sent alone may have been committed before the connection went
(``may_have_applied`` tells the two apart from the error).

Errors: asyncpg's exceptions become the SQLAlchemy exceptions the rest of the service already
handles, translated by the dialect's own table, without the statement's values; a connection
lost mid-statement is invalidated.

Events: the transaction raises the engine's own events (``begin``, ``before_cursor_execute``,
``after_cursor_execute``, ``handle_error``, ``commit``, ``rollback``) as SQLAlchemy would for the
same statements, so whatever listens to the engine (the SQL spans in observability/tracing.py,
the bench's capture of the create transactions in bench/limits.py, tests that count statements)
sees every statement, whichever way it was sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.types import JSON
from sqlalchemy.util import greenlet_spawn

_DIALECT = asyncpg_dialect()


class Statement:
    """A statement written once in SQLAlchemy Core over tables.py's tables (so the schema stays the one
    source of every name), compiled once at import for asyncpg: ``sql`` with ``$n`` parameters, bound
    by name in the order of ``names``. JSON parameters are sent as JSON text (SQLAlchemy's asyncpg
    codec, set on every pooled connection, takes text and gives back Python values)."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        self.sql = str(compiled)
        self.names = tuple(compiled.positiontup or ())
        self._json = frozenset(name for name in self.names if isinstance(compiled.binds[name].type, JSON))
        # Values written into the statement (``.values(state="completed")``): bound as they were given.
        self._fixed = {name: compiled.binds[name].value for name in self.names if not compiled.binds[name].required}

    def args(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        given = {**self._fixed, **values}
        return tuple(json.dumps(given[name]) if name in self._json else given[name] for name in self.names)


class Transaction:
    """One PostgreSQL transaction on a pooled connection, driven by asyncpg (BEGIN with its first statement)."""

    def __init__(self, engine: AsyncEngine, pooled: Any) -> None:
        self._engine = engine
        self._sync_engine = engine.sync_engine
        self.driver = pooled.driver_connection  # the asyncpg.Connection
        self._pooled = pooled  # the pool's proxy of it
        self._adapted = pooled.dbapi_connection  # SQLAlchemy's DB-API adapter of it (for the error translation)
        self._open = False
        self._sqlalchemy: AsyncConnection | None = None  # made for the first cold (SQLAlchemy Core) statement
        self.connection = _BeginFirst(self)  # what the cold methods use
        self._dispatch = self._sync_engine.dispatch
        self._sync = _EventConnection(self._sync_engine, pooled)  # ``conn`` in the events of the raw statements

    @classmethod
    async def begin(cls, engine: AsyncEngine) -> Transaction:
        """A connection checked out of the engine's pool for one unit of work (no SQLAlchemy Connection
        around it unless a cold method needs one); BEGIN goes with its first statement."""
        sync_engine = engine.sync_engine
        try:
            pooled = await greenlet_spawn(sync_engine.pool.connect)
        except sync_engine.dialect.loaded_dbapi.Error as error:  # as Connection() translates it
            Connection._handle_dbapi_exception_noconnection(error, sync_engine.dialect, sync_engine)
            raise
        return cls(engine, pooled)

    async def sqlalchemy(self) -> AsyncConnection:
        """The SQLAlchemy connection on this transaction's pooled connection, in AUTOCOMMIT (so its
        statements join this transaction), the transaction begun."""
        if self._sqlalchemy is None:
            connection = AsyncConnection(self._engine, Connection(self._sync_engine, connection=self._pooled))
            self._sqlalchemy = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await self.begun()
        return self._sqlalchemy

    @property
    def open(self) -> bool:
        """True once BEGIN was sent, until COMMIT or ROLLBACK."""
        return self._open

    async def fetch(self, statement: Statement, **values: Any) -> list[Any]:
        return await self._statement("fetch", statement.sql, statement.args(values))

    async def fetchrow(self, statement: Statement, *, alone: bool = False, **values: Any) -> Any:
        """The first row; ``alone``: sent without BEGIN/COMMIT (see the module's docstring), only as the
        unit of work's first statement."""
        return await self._statement("fetchrow", statement.sql, statement.args(values), alone=alone)

    async def execute(self, statement: Statement, **values: Any) -> int:
        """How many rows the statement changed (from the command tag, ``UPDATE 1``)."""
        tag = await self._statement("execute", statement.sql, statement.args(values))
        return int(tag.rsplit(" ", 1)[-1]) if tag and tag[-1].isdigit() else 0

    async def fetchval(self, sql: str, args: tuple[Any, ...], *, alone: bool = False) -> Any:
        """The first value of ``sql`` (a statement put together from Statements: hot_statements.combined)."""
        return await self._statement("fetchval", sql, args, alone=alone)

    async def fetchrow_sql(self, sql: str, args: tuple[Any, ...], *, alone: bool = False) -> Any:
        """The first row of ``sql`` (a statement put together from Statements: hot_statements.claimed)."""
        return await self._statement("fetchrow", sql, args, alone=alone)

    async def commit(self) -> None:
        """COMMIT what was sent since BEGIN (nothing to do when every statement was sent alone, or none)."""
        if not self._open:
            return
        await self._run("execute", "COMMIT", ())
        self._open = False
        self._dispatch.commit(self._sync)

    async def close(self) -> None:
        """Roll back what is not committed and return the connection to the pool (or drop it)."""
        try:
            if self._open and not self.driver.is_closed():
                try:
                    await self._run("execute", "ROLLBACK", ())
                    self._open = False
                    self._dispatch.rollback(self._sync)
                except Exception:  # the error that brought us here is the one to report
                    await self._invalidate()
                except BaseException:
                    await self._invalidate()
                    raise
            elif self._open or self.driver.is_in_transaction():
                await self._invalidate()
        finally:
            if self._sqlalchemy is not None:
                await self._sqlalchemy.close()  # and with it the pooled connection
            elif self._returns_without_io():
                self._pooled.close()
            else:
                await greenlet_spawn(self._pooled.close)

    def _returns_without_io(self) -> bool:
        """Whether the pool takes the connection back without awaiting anything, so without a greenlet
        (~15-20 us each): a valid, idle connection (its reset is a ROLLBACK the driver skips when no
        transaction is open) going back into a queue with room. Otherwise (a broken or invalidated
        connection, a transaction left open, a full queue that closes overflow connections) the pool
        may close it, which awaits."""
        queue = getattr(self._sync_engine.pool, "_pool", None)  # QueuePool's queue of idle connections
        return (self._pooled.is_valid and not self._open and not self.driver.is_closed()
                and not self.driver.is_in_transaction() and queue is not None and not queue.full())

    async def _invalidate(self, error: BaseException | None = None) -> None:
        if self._sqlalchemy is not None:
            await self._sqlalchemy.invalidate(error)
        else:
            await greenlet_spawn(self._pooled.invalidate, error)

    async def begun(self) -> None:
        """Send BEGIN unless this unit of work's transaction is open already."""
        if not self._open:
            await self._run("execute", "BEGIN", ())
            self._open = True
            self._dispatch.begin(self._sync)

    async def _statement(self, method: str, sql: str, args: tuple[Any, ...], *, alone: bool = False) -> Any:
        # After commit() a statement begins the next transaction (as SQLAlchemy's autobegin); a unit of
        # work ends at its commit all the same (no use case sends anything after it).
        if alone:
            if self._open:
                raise RuntimeError("a statement sent alone must be its unit of work's first")
        else:
            await self.begun()
        execution = _Execution()
        self._dispatch.before_cursor_execute(self._sync, None, sql, args, execution, False)
        result = await self._run(method, sql, args, execution)
        self._dispatch.after_cursor_execute(self._sync, None, sql, args, execution, False)
        return result

    async def _run(self, method: str, sql: str, args: tuple[Any, ...], execution: _Execution | None = None) -> Any:
        try:
            return await getattr(self.driver, method)(sql, *args)
        except Exception as error:
            translated = self._translated(error, sql, args)
            closed = self.driver.is_closed()
            if execution is not None:
                self._sync_engine.dialect.dispatch.handle_error(_ErrorContext(
                    connection=self._sync, dialect=self._sync_engine.dialect, statement=sql, parameters=args,
                    execution_context=execution, original_exception=error, is_disconnect=closed,
                    sqlalchemy_exception=translated if isinstance(translated, sa_exc.StatementError) else None))
            if closed:  # as SQLAlchemy does on a disconnect: this connection and every older pooled one
                self._open = False
                with contextlib.suppress(Exception):
                    self._sync_engine.pool._invalidate(self._pooled, error, _checkin=False)
                    await self._invalidate(error)
            if translated is error:
                raise
            raise translated from error

    def _translated(self, error: Exception, sql: str, args: tuple[Any, ...]) -> Exception:
        """The SQLAlchemy exception SQLAlchemy itself would raise for ``error``, its values hidden."""
        dialect = self._sync_engine.dialect
        dbapi_error_class = dialect.loaded_dbapi.Error
        try:
            self._adapted._handle_exception(error)  # raises the DB-API error SQLAlchemy's adapter raises
        except dbapi_error_class as dbapi_error:
            return sa_exc.DBAPIError.instance(sql, args, dbapi_error, dbapi_error_class, hide_parameters=True,
                                              connection_invalidated=self.driver.is_closed(), dialect=dialect)
        except Exception as other:  # not a database error (OSError, a timeout): as it is
            return other
        return error


def may_have_applied(error: BaseException) -> bool:
    """Whether a statement sent alone that raised ``error`` may still have been committed: it was not
    only if PostgreSQL answered it with an ERROR (the statement failed, and with it its own
    transaction). A lost connection, a FATAL (pg_terminate_backend, a shutdown) or no answer at all
    leaves it unknown: the statement may have committed before the answer was lost."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, asyncpg.PostgresError):
            return getattr(cause, "severity_en", None) != "ERROR" and getattr(cause, "severity", None) != "ERROR"
        cause = cause.__cause__
    return True


class _BeginFirst:
    """The unit of work's SQLAlchemy connection, made (and BEGIN sent) at its first statement."""

    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await (await self._transaction.sqlalchemy()).execute(*args, **kwargs)


class _EventConnection:
    """What the engine's listeners get as ``conn`` for the statements sent here, in place of a SQLAlchemy
    Connection (none is made for the hot path): one per unit of work, with its engine and the pooled
    connection's ``info``."""

    def __init__(self, engine: Any, pooled: Any) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.info = pooled.info


class _Execution:
    """Stands for SQLAlchemy's execution context in the cursor events: listeners may keep state on it
    (tracing keeps the statement's span)."""


@dataclasses.dataclass
class _ErrorContext:
    """The parts of SQLAlchemy's ExceptionContext a ``handle_error`` listener reads."""

    connection: Any
    dialect: Any
    statement: str
    parameters: tuple[Any, ...]
    execution_context: _Execution
    original_exception: BaseException
    is_disconnect: bool
    sqlalchemy_exception: BaseException | None
    cursor: Any = None
    chained_exception: BaseException | None = None
    invalidate_pool_on_disconnect: bool = True
    is_pre_ping: bool = False

    @property
    def engine(self) -> Any:
        return self.connection.engine
