"""Managed API keys on real PostgreSQL: the `payment-service keys` command, and two server
processes (as two replicas) that take every change without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
import sys
import time

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from service.gen.payment.v1 import events_pb2 as epb
from service.gen.payment.v1 import events_pb2_grpc
from service.gen.payment.v1 import payment_pb2 as pb
from service.service_layer.api_keys import digest, new_key

from .conftest import auth

pytestmark = pytest.mark.integration


def keys(postgres: str, *args: str, check: bool = True) -> dict:
    """`payment-service keys ...`, the real command; its JSON output."""
    env = {**os.environ, "DATABASE_URL": postgres, "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "service.entrypoints.cli", "keys", *args], env=env,
                          capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)
    return {"returncode": done.returncode, "stderr": done.stderr, "stdout": done.stdout}


async def accepted(stub, key: str) -> bool:
    try:
        await stub.ListPayments(pb.ListPaymentsRequest(page_size=1), metadata=auth(key))
        return True
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAUTHENTICATED, exc
        return False


async def until(replicas, key: str, want: bool, timeout: float = 30.0) -> float:
    """Seconds until every replica answers the key as `want` (accepted or UNAUTHENTICATED)."""
    started = time.monotonic()
    pending = list(replicas)
    while pending:
        pending = [r for r in pending if await accepted(r.stub, key) != want]
        if pending and time.monotonic() - started > timeout:
            pytest.fail(f"after {timeout}s {len(pending)} replica(s) still answer {not want} for the key")
        if pending:
            await asyncio.sleep(0.02)
    return time.monotonic() - started


def merchant_id() -> str:
    return f"acct_keys_{os.urandom(4).hex()}"


async def test_create_prints_the_key_once_and_only_its_sha256_is_stored(postgres):
    merchant = merchant_id()
    created = keys(postgres, "create", "--merchant", merchant, "--description", "checkout server")
    secret, key_id = created["api_key"], created["key_id"]
    assert secret.startswith("sk_") and key_id.startswith("key_") and created["state"] == "active"
    listed = keys(postgres, "list", "--merchant", merchant)
    assert [k["key_id"] for k in listed["keys"]] == [key_id]
    assert secret not in json.dumps(listed) and listed["keys"][0]["description"] == "checkout server"
    engine = create_async_engine(postgres)
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": key_id})).one()
    finally:
        await engine.dispose()
    assert row.secret_sha256 == digest(secret) and secret not in " ".join(map(str, row))


async def test_revoking_or_rotating_an_unknown_key_is_a_clear_error(postgres):
    for action in ("revoke", "rotate"):
        done = keys(postgres, action, "key_0000000000000000", check=False)
        assert done["returncode"] == 1 and "no API key with id 'key_0000000000000000'" in done["stderr"]
    created = keys(postgres, "create", "--merchant", merchant_id())
    keys(postgres, "revoke", created["key_id"])
    done = keys(postgres, "rotate", created["key_id"], check=False)
    assert done["returncode"] == 1 and "revoked" in done["stderr"]
    assert keys(postgres, "create", "--merchant", "", check=False)["returncode"] == 1


async def test_two_replicas_take_create_revoke_and_rotate_within_a_second_without_restart(
        postgres, server_processes, record):
    replicas = server_processes(2, API_KEYS_REFRESH_SECONDS="30")  # only NOTIFY can make this quick
    merchant = merchant_id()
    created = keys(postgres, "create", "--merchant", merchant)
    create_seconds = await until(replicas, created["api_key"], True)
    rotated = keys(postgres, "rotate", created["key_id"])
    rotate_seconds = await until(replicas, rotated["new"]["api_key"], True)
    assert rotated["old"]["state"] == "rotating" and rotated["new"]["merchant_id"] == merchant
    assert all([await accepted(r.stub, created["api_key"]) for r in replicas])  # the overlap
    overlap = (time.time() + 24 * 3600) - _epoch(rotated["old"]["expires_at"])
    assert 0 <= overlap < 120, rotated["old"]  # 24 h, the default overlap
    keys(postgres, "revoke", rotated["new"]["key_id"])
    revoke_seconds = await until(replicas, rotated["new"]["api_key"], False)
    short = keys(postgres, "rotate", created["key_id"], check=False)
    assert short["returncode"] == 1 and "already rotated" in short["stderr"]
    record("managed key changes reach 2 replicas (LISTEN/NOTIFY; fallback reload every 30 s)",
           create_seconds=round(create_seconds, 3), rotate_seconds=round(rotate_seconds, 3),
           revoke_seconds=round(revoke_seconds, 3), load_average=os.getloadavg()[0])
    # Bounded by the fallback interval: anything under it was the notification's doing.
    assert max(create_seconds, rotate_seconds, revoke_seconds) < 30


async def test_rotation_with_no_overlap_stops_the_old_key_now(postgres, server_processes):
    replicas = server_processes(1)
    created = keys(postgres, "create", "--merchant", merchant_id())
    await until(replicas, created["api_key"], True)
    rotated = keys(postgres, "rotate", created["key_id"], "--overlap-hours", "0")
    await until(replicas, created["api_key"], False)
    assert await accepted(replicas[0].stub, rotated["new"]["api_key"])


async def test_a_change_made_without_notify_arrives_with_the_periodic_reload(postgres, server_processes, record):
    replicas = server_processes(1, API_KEYS_REFRESH_SECONDS="1")
    warm = keys(postgres, "create", "--merchant", merchant_id())  # the replica is listening and loaded
    await until(replicas, warm["api_key"], True)
    key_id, secret = new_key()
    engine = create_async_engine(postgres)
    try:
        async with engine.begin() as connection:  # by hand: no pg_notify
            await connection.execute(text("INSERT INTO api_keys (id, merchant_id, secret_sha256) VALUES "
                                          "(:id, :merchant, :digest)"),
                                     {"id": key_id, "merchant": merchant_id(), "digest": digest(secret)})
        seconds = await until(replicas, secret, True)
    finally:
        await engine.dispose()
    record("a key inserted without NOTIFY is accepted after (API_KEYS_REFRESH_SECONDS=1)",
           seconds=round(seconds, 3), load_average=os.getloadavg()[0])


async def test_last_use_is_written_without_a_write_per_request_and_events_name_the_key_id(
        postgres, server_processes):
    replica = server_processes(1, API_KEYS_REFRESH_SECONDS="1")[0]
    created = keys(postgres, "create", "--merchant", merchant_id())
    secret, key_id = created["api_key"], created["key_id"]
    await until([replica], secret, True)
    payment = (await replica.stub.CreatePayment(pb.CreatePaymentRequest(amount=700, currency="USD"),
                                                metadata=auth(secret))).payment
    for _ in range(50):
        await replica.stub.GetPayment(pb.GetPaymentRequest(payment_id=payment.payment_id), metadata=auth(secret))
    deadline = time.monotonic() + 30
    while keys(postgres, "list", "--merchant", created["merchant_id"])["keys"][0]["last_used_at"] is None:
        assert time.monotonic() < deadline, "last_used_at never written"
        await asyncio.sleep(0.2)
    events = await events_pb2_grpc.EventServiceStub(replica.channel).ListEvents(
        epb.ListEventsRequest(payment_id=payment.payment_id), metadata=auth(secret))
    assert events.events and {e.actor for e in events.events} == {f"api_key:{key_id}"}
    replica.log.flush()
    assert secret not in pathlib.Path(replica.log.name).read_text()


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


async def test_a_key_created_with_an_expiry_stops_at_it_on_every_replica(postgres, server_processes):
    replicas = server_processes(1, API_KEYS_REFRESH_SECONDS="30")  # the ring's clock stops it, not a reload
    created = keys(postgres, "create", "--merchant", merchant_id(), "--expires-in-days", str(3 / 86400))
    assert created["expires_at"] is not None and created["state"] == "active"
    await until(replicas, created["api_key"], True)
    seconds = await until(replicas, created["api_key"], False, timeout=20)
    assert seconds < 20
    listed = keys(postgres, "list", "--merchant", created["merchant_id"])["keys"]
    assert [k["state"] for k in listed] == ["expired"]
