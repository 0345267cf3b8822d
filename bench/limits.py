"""The database's own limits, measured with pgbench on the bench's PostgreSQL.

* ``insert``: one durable single-row INSERT per transaction (the floor of any write path).
* ``mimic``: the service's exact create transactions, replayed without the service. They are
  not copied by hand: ``capture_create`` runs the real CreatePayment use case once through
  ``bootstrap`` (the same repository, in-house ledger and event journal as the server) and
  records every statement, its parameters and the transaction boundaries from SQLAlchemy's
  engine events (a statement the service sends alone, outside BEGIN ... COMMIT, is replayed
  alone). ``pgbench_script`` turns that into a pgbench script: parameters become
  literals, every generated id (``pay_...``, ``evt_...``, the idempotency key) gets a
  per-transaction random suffix so each replay writes new rows, as a new create does.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import re
import shutil
import subprocess
import uuid
from typing import Any

from sqlalchemy import event

from devtools.devstack import as_postgres_user, pg_bin
from service.bootstrap import bootstrap
from service.config import Settings
from service.service_layer.commands import CreatePayment
from service.service_layer.handlers import create_payment

IDEMPOTENCY_MARK = "benchkey_MIMICIDEMPOTENCYKEY0000000"
# Generated identifiers: a lower-case prefix and a long body (domain/ids.py, the in-house ledger).
GENERATED_ID = re.compile(r"\b[a-z]+_[0-9A-Za-z]{20,}\b")


@dataclasses.dataclass
class Captured:
    """What one create sent to PostgreSQL: transactions of (statement, parameters); ``alone[i]`` says
    that transaction ``i`` is one statement sent without BEGIN/COMMIT."""

    transactions: list[list[tuple[str, Any]]]
    alone: list[bool] = dataclasses.field(default_factory=list)

    @property
    def statements(self) -> int:
        return sum(len(t) for t in self.transactions)


async def capture_create(env: dict[str, str], merchant_id: str) -> Captured:
    """Run CreatePayment through the composition root and record what reached PostgreSQL."""
    settings = Settings.from_env({**env, "REDIS_URL": "", "OTEL_EXPORTER_OTLP_ENDPOINT": ""})
    app = bootstrap(settings)
    recorded: list[list[tuple[str, Any]]] = []
    alone: list[bool] = []
    current: dict[int, list[tuple[str, Any]]] = {}
    sync_engine = app.engine.sync_engine

    def on_begin(conn) -> None:
        current[id(conn)] = []

    def on_end(conn) -> None:
        statements = current.pop(id(conn), None)
        if statements:
            recorded.append(statements)
            alone.append(False)

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        if id(conn) in current:
            current[id(conn)].append((statement, parameters))
        else:  # no BEGIN before it: PostgreSQL runs it as a transaction of its own
            recorded.append([(statement, parameters)])
            alone.append(True)

    try:
        await create_payment(CreatePayment(merchant_id=merchant_id, amount=1000, currency="USD",
                                           idempotency_key="warm-" + uuid.uuid4().hex), app.deps)
        event.listen(sync_engine, "begin", on_begin)
        event.listen(sync_engine, "commit", on_end)
        event.listen(sync_engine, "before_cursor_execute", on_execute)
        await create_payment(CreatePayment(merchant_id=merchant_id, amount=1000, currency="USD",
                                           idempotency_key=IDEMPOTENCY_MARK), app.deps)
    finally:
        await app.close()
    return Captured(recorded, alone)


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    elif isinstance(value, (datetime.datetime, datetime.date)):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def _inline(statement: str, parameters: Any) -> str:
    if isinstance(parameters, dict):
        return re.sub(r"%\((\w+)\)s", lambda m: _literal(parameters[m.group(1)]), statement)
    values = list(parameters or ())
    return re.sub(r"\$(\d+)", lambda m: _literal(values[int(m.group(1)) - 1]), statement)


def pgbench_script(captured: Captured) -> str:
    """One pgbench transaction = one create: its BEGIN ... COMMIT blocks and lone statements, ids made unique."""
    lines = ["\\set n random(1, 9000000000000000000)"]
    for transaction, alone in zip(captured.transactions, captured.alone, strict=True):
        statements = [" ".join(_inline(statement, parameters).split()) + ";" for statement, parameters in transaction]
        lines += statements if alone else ["BEGIN;", *statements, "COMMIT;"]
    script = "\n".join(lines) + "\n"
    names: dict[str, str] = {}

    def unique(match: re.Match) -> str:
        original = match.group(0)
        if original not in names:
            prefix = original.split("_", 1)[0]
            names[original] = f"{prefix}_B{len(names)}X:n"
        return names[original]

    return GENERATED_ID.sub(unique, script)


def pgbench(database_url_parts: dict[str, str], script: str, *, clients: int, seconds: float, mode: str,
            workdir) -> float:
    """Transactions per second pgbench reaches with ``script`` (one line per SQL command)."""
    path = workdir / f"pgbench-{uuid.uuid4().hex[:8]}.sql"
    path.write_text(script)
    shutil.chown(path, "postgres", "postgres") if _is_root() else None
    binary = pg_bin("pgbench")
    done = subprocess.run(as_postgres_user([binary, "-n", "-M", mode, "-c", str(clients), "-j", "2",
                                            "-T", str(int(seconds)), "-f", str(path),
                                            "-h", database_url_parts["host"], "-p", database_url_parts["port"],
                                            "-U", database_url_parts["user"], database_url_parts["database"]]),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed: {done.stderr.strip()[-2000:]}")
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if found is None:
        raise RuntimeError(f"pgbench printed no tps: {done.stdout[-1000:]}")
    if failed and int(failed.group(1)):
        raise RuntimeError(f"pgbench: {failed.group(1)} transactions failed")
    return float(found.group(1))


INSERT_SETUP = "CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, payload text NOT NULL)"
INSERT_SCRIPT = "INSERT INTO bench_insert (payload) VALUES ('one durable row');\n"


def psql(parts: dict[str, str], sql: str) -> None:
    subprocess.run(as_postgres_user([pg_bin("psql"), "-q", "-h", parts["host"], "-p", parts["port"],
                                     "-U", parts["user"], "-d", parts["database"], "-c", sql]),
                   check=True, capture_output=True)


def _is_root() -> bool:
    import os

    return os.geteuid() == 0
