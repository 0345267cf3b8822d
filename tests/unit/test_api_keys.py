"""The in-memory key ring every request is checked against, and the direct port's authorization rules."""

from __future__ import annotations

import contextvars

import grpc
import pytest

from service.domain import errors
from service.entrypoints.grpc.servicer import authenticate
from service.service_layer.api_keys import KeyEntry, KeyRing, digest, new_key
from service.service_layer.audit import actor_var, api_key_id

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Context:
    """What authenticate reads of a grpc.aio.ServicerContext: the invocation metadata."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = pairs

    def invocation_metadata(self):
        return self.pairs


def test_a_new_key_is_a_256_bit_secret_with_a_separate_id():
    key_id, secret = new_key()
    assert key_id.startswith("key_") and len(key_id) == 20
    assert secret.startswith("sk_") and len(secret) == 46  # 32 random bytes, url-safe base64
    assert digest(secret) != secret and len(digest(secret)) == 64 and key_id not in secret
    assert new_key() != new_key()


def test_bootstrap_keys_are_accepted_and_named_by_their_short_hash():
    ring = KeyRing({"sk_test_local": "acct_local"})
    entry = ring.verify("sk_test_local")
    assert entry == KeyEntry(api_key_id("sk_test_local"), "acct_local", stored=False)
    assert ring.verify("sk_test_locaL") is None and ring.verify("") is None
    assert ring.take_used() == set()  # only stored keys have a last_used_at to write


def test_stored_keys_come_and_go_with_replace_and_bootstrap_keys_stay():
    ring = KeyRing({"sk_test_local": "acct_local"})
    key_id, secret = new_key()
    assert ring.verify(secret) is None
    ring.replace([(digest(secret), KeyEntry(key_id, "acct_new"))])
    assert ring.verify(secret).merchant_id == "acct_new" and ring.generation == 1
    ring.replace([])  # revoked
    assert ring.verify(secret) is None and ring.verify("sk_test_local").merchant_id == "acct_local"


def test_an_expired_key_is_refused_on_time_without_a_reload():
    clock = Clock()
    ring = KeyRing(clock=clock)
    key_id, secret = new_key()
    ring.replace([(digest(secret), KeyEntry(key_id, "acct_a", expires_at=clock.now + 60))])
    assert ring.verify(secret) is not None
    clock.now += 60
    assert ring.verify(secret) is None


def test_uses_are_coalesced_into_one_set_of_ids_per_interval():
    ring = KeyRing()
    ids = [new_key() for _ in range(3)]
    ring.replace([(digest(secret), KeyEntry(key_id, "acct_a")) for key_id, secret in ids])
    for _ in range(1000):
        ring.verify(ids[0][1])
    ring.verify(ids[1][1])
    assert ring.take_used() == {ids[0][0], ids[1][0]} and ring.take_used() == set()
    ring.give_back({ids[2][0]})
    assert ring.take_used() == {ids[2][0]}


def test_authenticate_names_the_key_id_as_the_actor_never_the_key():
    ring = KeyRing()
    key_id, secret = new_key()
    ring.replace([(digest(secret), KeyEntry(key_id, "acct_a"))])

    def call() -> tuple[str, str]:
        return authenticate(ring, Context(("authorization", f"Bearer {secret}"))), actor_var.get()

    # In a copy of the context, as each gRPC call runs: the actor must not outlive this test
    # (it leaked into later tests of the same process, which then saw this key as their actor).
    merchant, actor = contextvars.copy_context().run(call)
    assert merchant == "acct_a"
    assert actor == f"api_key:{key_id}" and secret not in actor
    assert actor_var.get() == "system"


@pytest.mark.parametrize("pairs", [
    (("authorization", "Bearer sk_test_local"), ("authorization", "Bearer sk_test_other")),
    (("authorization", "Bearer sk_test_local"), ("Authorization", "Bearer sk_test_local")),
    (("authorization", "Bearer sk_test_other"), ("authorization", "Bearer nope")),
])
def test_more_than_one_authorization_value_is_unauthenticated_whatever_they_are(pairs):
    ring = KeyRing({"sk_test_local": "acct_local", "sk_test_other": "acct_other"})
    with pytest.raises(errors.Unauthenticated) as raised:
        authenticate(ring, Context(*pairs))
    assert "2 authorization metadata values" in str(raised.value) and "sk_test" not in str(raised.value)


def test_the_status_for_two_authorization_values_is_unauthenticated():
    from service.entrypoints.grpc.errors import status_for

    status = status_for(errors.Unauthenticated("2 authorization metadata values"))
    assert status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
