"""The events API through the real Envoy: REST (including the WatchEvents
stream as newline-delimited JSON), native gRPC with grpcurl, and GraphQL.
Each path that changes a payment leaves its events with the caller's key id."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from service.service_layer.audit import api_key_actor

pytestmark = pytest.mark.e2e

FLOW = ["payment.created", "payment.authorized", "payment.capture_requested", "payment.captured"]


def rest(stack, key: str) -> httpx.Client:
    return httpx.Client(base_url=stack.rest, timeout=15, headers={"Authorization": f"Bearer {key}"})


def create_and_capture(client: httpx.Client) -> str:
    created = client.post("/v1/payments", json={"amount": 2500, "currency": "USD"})
    assert created.status_code == 200, created.text
    payment_id = created.json()["payment"]["payment_id"]
    captured = client.post(f"/v1/payments/{payment_id}:process", json={"action": "CAPTURE"})
    assert captured.status_code == 200, captured.text
    return payment_id


def test_rest_lists_gets_and_filters_events(stack, e2e_key):
    with rest(stack, e2e_key) as client:
        payment_id = create_and_capture(client)
        listed = client.get("/v1/events", params={"payment_id": payment_id})
        assert listed.status_code == 200, listed.text
        events = listed.json()["events"]
        assert [e["type"] for e in reversed(events)] == FLOW
        assert [e["sequence"] for e in reversed(events)] == ["1", "2", "3", "4"]  # int64 as strings
        assert {e["actor"] for e in events} == {api_key_actor(e2e_key)}
        assert events[0]["payment"]["status"] == "CAPTURED" and events[0]["event_id"].startswith("evt_")
        one = client.get(f"/v1/events/{events[-1]['event_id']}")
        assert one.status_code == 200 and one.json()["event"] == events[-1]
        typed = client.get("/v1/events", params={"type": "payment.captured", "page_size": 1})
        assert [e["payment_id"] for e in typed.json()["events"]] == [payment_id]


def test_rest_bad_input_and_other_merchants(stack, e2e_key):
    with rest(stack, e2e_key) as client:
        create_and_capture(client)
        event_id = client.get("/v1/events").json()["events"][0]["event_id"]
        unknown = client.get("/v1/events", params={"type": "payment.teleported"})
        assert unknown.status_code == 400 and "type" in unknown.json()["message"]
        malformed = client.get("/v1/events/evt_bad")
        assert malformed.status_code == 400 and "event_id" in malformed.json()["message"]
    with rest(stack, "sk_test_other") as other:
        assert other.get(f"/v1/events/{event_id}").status_code == 404
        assert event_id not in {e["event_id"] for e in other.get("/v1/events").json()["events"]}
    assert httpx.get(f"{stack.rest}/v1/events", timeout=15).status_code == 401


def test_rest_watch_streams_newline_delimited_json_and_resumes(stack, e2e_key):
    received: list[dict] = []
    done = threading.Event()

    def watch(after: str, want: int) -> None:
        with rest(stack, e2e_key) as client, client.stream(
                "GET", "/v1/events:watch", params={"after": after}, timeout=httpx.Timeout(30, read=30)) as stream:
            assert stream.status_code == 200
            for line in stream.iter_lines():
                if not line.strip():
                    continue
                message = json.loads(line)
                if message.get("event"):
                    received.append(message["event"])
                if len(received) >= want:
                    break
        done.set()

    thread = threading.Thread(target=watch, args=("now", 2), daemon=True)
    thread.start()
    time.sleep(1.5)  # the stream is open before the change
    with rest(stack, e2e_key) as client:
        payment_id = create_and_capture(client)
        assert done.wait(30), "the stream delivered nothing"
        thread.join(5)
        assert [e["type"] for e in received] == FLOW[:2]
        done.clear()
        thread = threading.Thread(target=watch, args=(received[-1]["event_id"], 4), daemon=True)
        thread.start()  # resume from the last event seen
        assert done.wait(30)
        listed = client.get("/v1/events", params={"payment_id": payment_id}).json()["events"]
    assert [e["event_id"] for e in received] == [e["event_id"] for e in reversed(listed)]


def test_grpcurl_lists_and_gets_events(grpcurl, e2e_key, stack):
    with rest(stack, e2e_key) as client:
        payment_id = create_and_capture(client)
    listed = grpcurl("payment.v1.EventService/ListEvents", key=e2e_key, data={"payment_id": payment_id})
    assert listed.returncode == 0, listed.stderr
    events = json.loads(listed.stdout)["events"]
    assert [e["type"] for e in reversed(events)] == FLOW
    got = grpcurl("payment.v1.EventService/GetEvent", key=e2e_key, data={"event_id": events[0]["eventId"]})
    assert got.returncode == 0 and json.loads(got.stdout)["event"]["type"] == "payment.captured"
    missing = grpcurl("payment.v1.EventService/GetEvent", key="sk_test_other", data={"event_id": events[0]["eventId"]})
    assert missing.returncode != 0 and json.loads(missing.stderr)["code"] == 5  # NOT_FOUND


def test_graphql_events_and_event(stack, e2e_key):
    with rest(stack, e2e_key) as client:
        created = client.post("/graphql", json={
            "query": "mutation { create_payment(payload: {amount: 900, currency: \"EUR\"}) { payment_id } }"})
        payment_id = created.json()["data"]["create_payment"]["payment_id"]
        query = """query E($p: ID, $t: String) { events(payment_id: $p, type: $t, page_size: 10) {
                     events { event_id type sequence actor payment { status amount } } next_page_token } }"""
        page = client.post("/graphql", json={"query": query, "variables": {"p": payment_id}}).json()
        events = page["data"]["events"]["events"]
        assert [e["type"] for e in reversed(events)] == FLOW[:2]
        assert events[0]["payment"] == {"status": "REQUIRES_CAPTURE", "amount": "900"}
        assert {e["actor"] for e in events} == {api_key_actor(e2e_key)}  # the gateway forwards the caller's key
        one = client.post("/graphql", json={"query": "query O($id: ID!) { event(event_id: $id) { type sequence } }",
                                             "variables": {"id": events[0]["event_id"]}}).json()
        assert one["data"]["event"] == {"type": "payment.authorized", "sequence": "2"}
        bad = client.post("/graphql", json={"query": query, "variables": {"t": "payment.nope"}}).json()
        assert bad["data"]["events"] is None and bad["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"


def test_rest_webhook_endpoints_refuse_bad_urls_and_types_and_hide_other_merchants(stack, e2e_key):
    with rest(stack, e2e_key) as client:
        for url, status in [("http://example.com/x", 400), ("https://10.1.2.3/x", 400),
                            ("https://169.254.169.254/x", 400)]:
            refused = client.post("/v1/webhook_endpoints", json={"url": url})
            assert refused.status_code == status and "url" in refused.json()["message"], refused.text
        typed = client.post("/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/x",
                                                           "enabled_event_types": ["payment.nope"]})
        assert typed.status_code == 400 and "enabled_event_types[0]" in typed.json()["message"]
        created = client.post("/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/x", "description": "e2e"})
        assert created.status_code == 200, created.text
        secret, endpoint = created.json()["secret"], created.json()["endpoint"]
        assert secret.startswith("whsec_") and "secret" not in endpoint
        listed = client.get("/v1/webhook_endpoints").json()["endpoints"]
        assert [e["endpoint_id"] for e in listed] == [endpoint["endpoint_id"]] and secret not in json.dumps(listed)
        patched = client.patch(f"/v1/webhook_endpoints/{endpoint['endpoint_id']}",
                               json={"endpoint": {"enabled": False}, "update_mask": "enabled"})
        assert patched.status_code == 200 and patched.json()["endpoint"]["enabled"] is False
    with rest(stack, "sk_test_other") as other:
        assert other.get(f"/v1/webhook_endpoints/{endpoint['endpoint_id']}").status_code == 404
        assert other.delete(f"/v1/webhook_endpoints/{endpoint['endpoint_id']}").status_code == 404
    with rest(stack, e2e_key) as client:
        assert client.delete(f"/v1/webhook_endpoints/{endpoint['endpoint_id']}").status_code == 200
        assert client.get("/v1/webhook_endpoints").json()["endpoints"] == []
