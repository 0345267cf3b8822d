"""schemathesis hooks for tests/e2e/test_fuzz_openapi.py (loaded through SCHEMATHESIS_HOOKS).

* Strategies for the gateway's custom GraphQL scalars (gateway/types.py), valid and not:
  Int64 is a decimal string or an integer (any size, so out-of-range values are tried too).
* `no_stack_trace`: no answer, REST or GraphQL, shows a Python or Go stack trace or names a
  Python exception class (the service masks its bugs as INTERNAL with a request id).
* `no_graphql_server_error`: for GraphQL, no HTTP 5xx and no error whose `extensions.code` is a
  server-side gRPC code (INTERNAL, UNKNOWN, DATA_LOSS, UNAVAILABLE, DEADLINE_EXCEEDED) or that
  carries no code at all. It replaces schemathesis's own GraphQL rule (ST113), which counts every
  error outside query validation as a resolver failure: this API reports a client's mistake
  (INVALID_ARGUMENT naming the field, NOT_FOUND) as a GraphQL error with its code, by design
  (docs/graphql.md), and those must stay allowed.
"""

from __future__ import annotations

import json
import re

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

INT64 = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(nodes.Int),
    st.integers().map(nodes.Int),
    st.from_regex(r"\A-?[0-9]{1,20}\Z").map(nodes.String),
    st.text(max_size=24).map(nodes.String),
)
schemathesis.graphql.scalar("Int64", INT64)
schemathesis.graphql.scalar("Timestamp", st.text(max_size=40).map(nodes.String))

STACK_TRACE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|goroutine \d+ \[|"
                         r"<class '[A-Za-z_.]+'>|\b[A-Za-z]+(Error|Exception): ")
SERVER_CODES = {"INTERNAL", "UNKNOWN", "DATA_LOSS", "UNAVAILABLE", "DEADLINE_EXCEEDED"}


@schemathesis.check
def no_stack_trace(ctx, response, case):
    """No stack trace or exception class name in any response."""
    found = STACK_TRACE.search(response.text or "")
    if found:
        raise AssertionError(f"the response shows an internal detail: {found.group(0)!r}")


@schemathesis.check
def no_graphql_server_error(ctx, response, case):
    """GraphQL: no 5xx, and every error is a client error with its gRPC code."""
    if not case.operation.label.startswith(("Query.", "Mutation.")):
        return None
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code} from /graphql")
    try:
        errors = json.loads(response.text).get("errors") or []
    except (ValueError, AttributeError):
        raise AssertionError("the /graphql answer is not a JSON object") from None
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        if code is None or code in SERVER_CODES:
            raise AssertionError(f"a server-side GraphQL error ({code}): {error.get('message')!r}")
    return None
