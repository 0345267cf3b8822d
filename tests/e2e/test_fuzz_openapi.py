"""schemathesis fuzzes the real stack through the real Envoy against the served documents.

REST: the OpenAPI document at /openapi.json, positive and negative data (invalid types,
missing fields, out-of-schema values), every response checked: no 5xx, the status listed for
the operation, the content type and the body valid against the document. GraphQL: the schema
by introspection at /graphql, no 5xx and no stack trace in any answer.

Half of the REST cases that take a payment or event id use one of the merchant's real ones
(a schemathesis dictionary), so captures, refunds and cancels with generated amounts reach real
payments; afterwards `payment-service audit` (the real command) must find every one of them
consistent with its refunds, events and the processor's view: fuzzing moved no money wrongly.

The runs are seeded and use no example database, so a run repeats; the figures (requests,
checks, failures) are printed and recorded in build/test-figures.json. The reports (JUnit,
NDJSON events with every request) are kept under build/schemathesis/ for a failing run.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import shutil
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.e2e

ROOT = pathlib.Path(__file__).resolve().parents[2]
ST = pathlib.Path(sys.executable).parent / "st"
SEED = "20261129"
REPORTS = ROOT / "build" / "schemathesis"
HOOKS = pathlib.Path(__file__).with_name("schemathesis_hooks.py")

REST_CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_headers_conformance", "response_schema_conformance", "no_stack_trace")
# Envoy allows 100 mutations and 300 reads a second per API key (RATE_LIMIT_*_PER_SECOND): below
# that, every request reaches the service instead of a 429.
RATE_LIMIT = "90/s"
# Operations left out, each for a reason that is not a finding:
EXCLUDED_OPERATIONS = (
    # A server stream that never ends by itself (by design: docs/events.md); schemathesis reads
    # a whole body per request, so each call would wait for its timeout. Covered by
    # tests/e2e/test_events.py (REST and gRPC) instead.
    "EventService_WatchEvents",
)


def real_resources(stack, key: str) -> dict[str, list[str]]:
    """Payments in each state a process call can meet, and their events, for the fuzzer to use."""
    payments = []
    with httpx.Client(base_url=stack.rest, headers={"Authorization": f"Bearer {key}"}, timeout=15) as http:
        for index, capture_method in enumerate(["MANUAL", "MANUAL", "AUTOMATIC", "AUTOMATIC"]):
            reply = http.post("/v1/payments", json={"amount": 5000 + index, "currency": "USD",
                                                    "capture_method": capture_method})
            assert reply.status_code == 200, reply.text
            payments.append(reply.json()["payment"]["payment_id"])
        events = http.get("/v1/events", params={"page_size": 100}).json()["events"]
    return {"payments": payments, "events": [event["event_id"] for event in events]}


def config_file(resources: dict[str, list[str]]) -> pathlib.Path:
    """A schemathesis.toml: half of the payment and event ids in paths are real ones."""
    lines = []
    for name, values in resources.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines += ["[parameters]",
              '"path.payment_id" = { dictionary = "payments", probability = 0.5 }',
              '"path.event_id" = { dictionary = "events", probability = 0.5 }', ""]
    path = REPORTS / "schemathesis.toml"
    path.write_text("\n".join(lines))
    return path


def audit(stack, merchant: str) -> dict:
    """`payment-service audit` over the merchant's payments, with the stack's processors."""
    env = {**os.environ, **stack.env, "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "service.entrypoints.cli", "audit", "--merchant", merchant],
                          env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    report = json.loads(done.stdout)
    assert (done.returncode, report["drifts"]) == (0, []), done.stdout + done.stderr
    return report


def run_schemathesis(*args: str, report: str, config: pathlib.Path | None = None,
                     timeout: int = 900) -> tuple[subprocess.CompletedProcess, list[dict]]:
    REPORTS.mkdir(parents=True, exist_ok=True)
    events_path = REPORTS / f"{report}.ndjson"
    config_args = ["--config-file", str(config)] if config else []
    command = [str(ST), *config_args, "run", *args, "--seed", SEED, "--generation-database", "none", "--no-color",
               "--report", "junit,ndjson", "--report-junit-path", str(REPORTS / f"{report}.xml"),
               "--report-ndjson-path", str(events_path)]
    # schemathesis keeps a crash cache under its working directory: start each run without one
    shutil.rmtree(REPORTS / ".schemathesis", ignore_errors=True)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPORTS, env=env)
    events = [json.loads(line) for line in events_path.read_text().splitlines() if line.strip()]
    return result, events


def tally(events: list[dict]) -> dict:
    """Requests, checks and failures from schemathesis's NDJSON event stream."""
    figures = collections.Counter()
    statuses = collections.Counter()
    for event in events:
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        for case in finished.get("recorder", {}).get("interactions", {}).values():
            response = case.get("response")
            if response:
                figures["requests"] += 1
                statuses[response["status_code"]] += 1
        for checks in finished.get("recorder", {}).get("checks", {}).values():
            for check in checks:
                figures["checks"] += 1
                figures["failed_checks"] += check.get("status") != "success"
    return {**figures, "statuses": dict(sorted(statuses.items()))}


def test_rest_api_fuzzed_against_its_openapi_document_has_no_5xx_and_conforms(stack, e2e_key, record):
    excluded = [arg for operation in EXCLUDED_OPERATIONS for arg in ("--exclude-operation-id", operation)]
    REPORTS.mkdir(parents=True, exist_ok=True)
    resources = real_resources(stack, e2e_key)
    result, events = run_schemathesis(
        f"{stack.rest}/openapi.json", "--url", stack.rest, "-H", f"Authorization: Bearer {e2e_key}",
        "--checks", ",".join(REST_CHECKS), "--mode", "all", "--max-examples", "60",
        "--phases", "examples,coverage,fuzzing", "--workers", "2", "--request-timeout", "20",
        "--rate-limit", RATE_LIMIT,
        *excluded, report="rest", config=config_file(resources))
    figures = tally(events)
    print(f"schemathesis REST: {figures}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert figures["requests"] >= 1000 and figures["failed_checks"] == 0, figures
    assert not any(status >= 500 for status in figures["statuses"]), figures
    report = audit(stack, e2e_key.replace("sk_", "acct_"))
    print(f"audit after fuzzing: {report['examined']} payments, {report['drift_count']} drifts")
    record("schemathesis_rest", **{k: v for k, v in figures.items() if k != "statuses"},
           audited_payments=report["examined"], drifts=report["drift_count"])


def test_graphql_api_fuzzed_from_its_schema_has_no_5xx_and_no_stack_trace(stack, e2e_key, record):
    result, events = run_schemathesis(
        f"{stack.rest}/graphql", "-H", f"Authorization: Bearer {e2e_key}",
        # ST113 (not_a_server_error for GraphQL) counts INVALID_ARGUMENT errors as server failures:
        # no_graphql_server_error (schemathesis_hooks.py) is the stricter rule this API keeps.
        "--checks", "no_graphql_server_error,no_stack_trace", "--max-examples", "150",
        "--workers", "2", "--request-timeout", "20", "--rate-limit", RATE_LIMIT, report="graphql")
    figures = tally(events)
    print(f"schemathesis GraphQL: {figures}")
    record("schemathesis_graphql", **{k: v for k, v in figures.items() if k != "statuses"})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert figures["requests"] >= 300 and figures["failed_checks"] == 0, figures
    assert not any(status >= 500 for status in figures["statuses"]), figures
