"""Hostile GraphQL requests (issue 15, items 1 and 3) are refused as 400s naming the rule, fast,
without freezing the gateway and without an INTERNAL: the fragment bomb, duplicate JSON keys,
lone surrogates, and Int64 literals that are not 64-bit integers."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import pytest
from graphql import parse

from gateway import limits
from gateway.document_cost import DocumentCost, count_fragment_spreads
from gateway.limits import MAX_FRAGMENT_SPREADS
from tests.unit import test_graphql_harness as harness
from tests.unit.test_graphql_harness import AUTH, post, send

pytestmark = pytest.mark.unit

gateway, payment_api = harness.gateway, harness.payment_api  # shared fixtures


def bomb(fragments: int, leaf: str = "__typename") -> str:
    """The issue's bomb: each fragment spreads the previous one twice (2**fragments leaves)."""
    parts = [f"fragment F0 on Query {{ {leaf} }}"]
    parts += [f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, fragments)]
    return f"query Bomb {{ ...F{fragments - 1} }} " + " ".join(parts)


def test_a_bomb_of_200_fragments_is_measured_once_per_fragment():
    document = parse(bomb(200, "a: __typename"))
    started = time.perf_counter()
    [figures] = DocumentCost(document).figures()
    seconds = time.perf_counter() - started
    print(f"200-fragment bomb measured in {seconds * 1000:.2f} ms: {figures.aliases} aliases")
    assert figures.aliases == 2 ** 199  # exact: every copy is counted, none is walked
    assert count_fragment_spreads(document) == 2 * 199 + 1  # and the operation's own
    assert seconds < 1.0  # linear: a few hundred nodes; the path walk would never end


def test_the_figures_match_the_expanded_document():
    document = parse("""query Q { payments(page_size: 5) { payments { ...P } } a: payment(payment_id: "x") { ...P } }
                        fragment P on Payment { amount refunds { b: amount } }""")
    [figures] = DocumentCost(document).figures()
    # payments: 1 + RPC 100 + 5 x (payments 1 + (amount 1 + refunds 1 + amount 1)) = 121
    # payment: 1 + RPC 100 + (amount 1 + refunds 1 + amount 1) = 104
    # aliases: a, and b once per spread of P
    assert (figures.depth, figures.aliases, figures.cost) == (3, 3, 225)


@pytest.mark.parametrize("fragments", [22, 29])
async def test_the_fragment_bomb_is_a_400_while_healthz_answers(gateway, fragments):
    query = bomb(fragments)
    assert len(query) < 1200  # the 1 KB request

    async def healthz() -> float:
        await asyncio.sleep(0.01)  # the bomb's request is in flight first
        started = time.perf_counter()
        assert (await send(gateway, "GET", "/healthz")).status_code == 200
        return time.perf_counter() - started

    started = time.perf_counter()
    response, health_seconds = await asyncio.gather(post(gateway, query, headers={}), healthz())
    seconds = time.perf_counter() - started
    print(f"bomb of {fragments}: {response.status_code} in {seconds * 1000:.1f} ms, "
          f"healthz in {health_seconds * 1000:.1f} ms")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["reason"] == "TOO_MANY_FRAGMENT_SPREADS"
    assert f"Allowed: {MAX_FRAGMENT_SPREADS}" in error["message"]
    assert seconds < 1.0
    assert health_seconds < 0.1


async def test_a_bomb_under_the_spread_cap_meets_the_alias_limit_at_once(gateway):
    # 15 fragments, 28 spreads (within the cap), 2**14 aliased leaves
    started = time.perf_counter()
    response = await post(gateway, bomb(15, "a: __typename"), headers={})
    seconds = time.perf_counter() - started
    assert response.status_code == 400
    assert {e["extensions"]["reason"] for e in response.json()["errors"]} == {"TOO_MANY_ALIASES"}
    assert f"{2 ** 14} aliases found" in response.json()["errors"][0]["message"]
    assert seconds < 1.0


async def test_a_small_fragment_chain_still_works(gateway):
    response = await post(gateway, bomb(3))
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_duplicate_json_keys_are_a_400_naming_the_key(gateway):
    body = '{"query": "{ __typename }", "query": "{ payments { next_page_token } }"}'
    response = await send(gateway, "POST", "/graphql", content=body,
                          headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["reason"] == "DUPLICATE_JSON_KEY"
    assert "'query'" in error["message"]


async def test_duplicate_keys_inside_variables_are_a_400_too(gateway):
    body = ('{"query": "mutation C($p: PaymentInput!) { create_payment(payload: $p) { payment_id } }",'
            ' "variables": {"p": {"amount": "5", "currency": "USD", "amount": "5000"}}}')
    response = await send(gateway, "POST", "/graphql", content=body,
                          headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400
    assert "'amount'" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(("body", "where"), [
    ('{"query": "query G($id: ID!) { payment(payment_id: $id) { payment_id } }", '
     '"variables": {"id": "pay_\\udfff"}}', "variables.id"),
    ('{"query": "{ payment(payment_id: \\"pay_\\udfff\\") { payment_id } }"}', "query"),
])
async def test_a_lone_surrogate_is_a_400_naming_where_it_is(gateway, body, where, caplog):
    with caplog.at_level(logging.INFO):
        response = await send(gateway, "POST", "/graphql", content=body,
                              headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["reason"] == "INVALID_UNICODE"
    assert error["message"].startswith(where)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("literal", ["1.5", '"abc"', "true", "99999999999999999999", "[1]", "{a: 1}"])
async def test_an_inline_int64_literal_that_is_not_one_is_a_400(gateway, literal, caplog):
    query = f'mutation {{ create_payment(payload: {{amount: {literal}, currency: "USD"}}) {{ payment_id }} }}'
    with caplog.at_level(logging.INFO):
        response = await post(gateway, query, headers={})  # no key needed to reach validation
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("amount: ") and "Int64" in error["message"]
    assert error["extensions"]["field"] == "amount"
    assert error["locations"] == [{"line": 1, "column": 45}]  # where `amount`'s value is
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_int64_variables_that_are_not_integers_are_a_400(gateway):
    query = "mutation C($p: PaymentInput!) { create_payment(payload: $p) { payment_id } }"
    for amount in (1.5, "abc", True, 99999999999999999999, [1], {"a": 1}):
        response = await post(gateway, query, {"p": {"amount": amount, "currency": "USD"}})
        assert response.status_code == 400, (amount, response.text)
        assert "Int64" in json.dumps(response.json()), amount


async def test_validation_of_a_large_allowed_document_runs_off_the_event_loop(gateway):
    query = "{ " + "__typename " * 900 + "}"  # within every limit; graphql-core compares fields pairwise
    threads: list[str] = []
    original = limits.validate_document

    def recording(*args):
        threads.append(threading.current_thread().name)
        return original(*args)

    limits.validate_document = recording
    try:
        response, health = await asyncio.gather(post(gateway, query, headers={}), send(gateway, "GET", "/healthz"))
    finally:
        limits.validate_document = original
    assert response.status_code in (200, 400), response.text
    assert health.status_code == 200
    assert threads and threads[0] != threading.main_thread().name, threads
