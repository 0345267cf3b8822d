"""Finish the generated OpenAPI document with what Envoy's edge adds (run by `make generate`).

    python tools/openapi_post.py build/openapi/payment.swagger.json gateway/static/openapi.json

protoc-gen-openapiv2 (grpc-gateway v2.33.0) describes the API from protos/: paths from the
google.api.http annotations (the /v1 and /api bindings), request and response messages (so the
`{"payment": {...}}` wrapping), int64 as strings, enums by name, proto field names. What a REST
caller also meets is decided at the edge, and this step writes it in:

  * the `Authorization: Bearer <api key>` header (a security definition; HealthCheck and the
    processor webhooks need none, the webhooks need their signature header instead);
  * the `Idempotency-Key` header, on every operation whose request has a `request_id`;
  * every HTTP status an operation can answer, each with a JSON `google.rpc.Status` body:
    the gRPC codes its proto comment lists after "Errors:" (AIP style: the comment is the
    contract), mapped as Envoy's grpc_json_transcoder maps them, plus the edge's own replies
    (envoy/envoy.yaml: 400, 413, 414, 429, 431, 503, 504). The generator's catch-all
    `default` response goes, so a status the document does not list is a finding;
  * the processor webhooks take the raw JSON body (google.api.HttpBody: Envoy forwards the
    bytes), not an HttpBody object; WatchEvents answers one WatchEventsResponse per line;
  * path parameters that are ids carry the id's pattern, read from service/domain/ids.py (the
    service's own rule), so clients and fuzzers know a well-formed id from a malformed one.

Why a post-processing step and not openapiv2 options in the proto: the options need
`protoc-gen-openapiv2/options/*.proto` imported by payment.proto, which would put those files
into the Python stubs, Envoy's descriptor and every client's build for facts that belong to
the edge, not the API; and the status codes would be written twice (comment and option).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from service.domain import ids

# google/rpc/code.proto -> HTTP, the table Envoy's transcoder uses (convert_grpc_status).
HTTP_STATUS = {
    "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500,
}
CODE_NAMES = re.compile(r"\b(" + "|".join(HTTP_STATUS) + r")\b")

# What every REST route can answer from the edge itself (envoy/envoy.yaml, local_reply_config).
EDGE_ERRORS = {
    400: "INVALID_ARGUMENT: the request breaks a rule (the message names the field), or Envoy "
         "refused it before the service (malformed JSON, a wrong type, an unknown query parameter)",
    414: "RESOURCE_EXHAUSTED: the path and query are longer than 4096 bytes",
    429: "RESOURCE_EXHAUSTED: rate limit of this API key and kind of request; retry after the "
         "Retry-After header (RetryInfo detail)",
    431: "RESOURCE_EXHAUSTED: the request headers are larger than 16 KiB",
    503: "UNAVAILABLE: the service or one of its dependencies is unreachable; retry (with the same "
         "Idempotency-Key for a mutation)",
    504: "DEADLINE_EXCEEDED: the service did not answer within 30 s",
}
BODY_ERRORS = {413: "RESOURCE_EXHAUSTED: the body is larger than the route allows"}
CODE_TEXT = {
    401: "UNAUTHENTICATED: no API key, or not a valid one",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND: no such resource for this merchant",
    409: "ABORTED: a request with the same Idempotency-Key is still running; retry",
    499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
}

WEBHOOK_SIGNATURES = {
    "WebhookService_HandleStripeWebhook": ("Stripe-Signature", "Stripe's `t=<unix>,v1=<hex HMAC-SHA256>`"),
    "WebhookService_HandleInhouseWebhook": ("Inhouse-Signature", "the in-house processor's `t=<unix>,v1=<hex>`"),
}
UNAUTHENTICATED_OPERATIONS = {"PaymentService_HealthCheck", *WEBHOOK_SIGNATURES}
INT64_PATTERN = "^-?[0-9]+$"
ID_PATTERNS = {"payment_id": ids.PAYMENT_ID.pattern, "dispute_id": ids.DISPUTE_ID.pattern,
               "event_id": ids.EVENT_ID.pattern, "endpoint_id": ids.ENDPOINT_ID.pattern}
STATUS_REF = {"$ref": "#/definitions/Status"}

INFO = {
    "title": "Payment API",
    "version": "v1",
    "description": (
        "The payment service's REST view, as Envoy's gRPC-JSON transcoder serves it (the same API "
        "is gRPC on the same port). Generated from protos/ by `make generate`: do not edit.\n\n"
        "Every call but `GET /v1/health` and the processor webhooks carries `Authorization: Bearer "
        "<api key>`. JSON uses the proto field names; int64 values are strings; enums are their "
        "names. Errors are a JSON `google.rpc.Status` (`code`, `message`, `details` with "
        "`google.rpc.BadRequest` field violations or a `google.rpc.ErrorInfo` reason)."),
}
SECURITY_DEFINITIONS = {
    "ApiKey": {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "`Bearer <api key>`, e.g. `Bearer sk_test_local` on the local stack",
    },
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False, "type": "string",
    "description": "Makes retries safe: a repeat with the same key returns the first result; the same "
                   "key with different parameters is 400 (IDEMPOTENCY_KEY_REUSED). Alternatively "
                   "send `request_id` in the body (not both, unless equal).",
}


def error_codes(operation: dict[str, Any]) -> set[str]:
    """The gRPC codes named after "Errors:" in the RPC's comment."""
    text = operation.get("description", "") + "\n" + operation.get("summary", "")
    _, found, errors = text.partition("Errors:")
    return set(CODE_NAMES.findall(errors)) if found else set()


def responses_for(operation: dict[str, Any], has_body: bool) -> dict[str, Any]:
    statuses = dict(EDGE_ERRORS)
    if has_body:
        statuses.update(BODY_ERRORS)
    for code in sorted(error_codes(operation)):
        status = HTTP_STATUS[code]
        statuses.setdefault(status, CODE_TEXT.get(status, code))
    if operation["operationId"] not in UNAUTHENTICATED_OPERATIONS:
        statuses.setdefault(401, CODE_TEXT[401])
    responses = {key: value for key, value in operation["responses"].items() if key != "default"}
    for status in sorted(statuses):
        responses[str(status)] = {"description": statuses[status], "schema": dict(STATUS_REF)}
    return responses


def body_schema(definitions: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    for parameter in operation.get("parameters", ()):
        if parameter["in"] == "body":
            ref = parameter["schema"].get("$ref", "")
            return definitions.get(ref.rsplit("/", 1)[-1])
    return None


def finish_operation(definitions: dict[str, Any], operation: dict[str, Any]) -> None:
    operation_id = operation["operationId"]
    parameters = operation.setdefault("parameters", [])
    body = body_schema(definitions, operation)
    if operation_id in WEBHOOK_SIGNATURES:
        header, description = WEBHOOK_SIGNATURES[operation_id]
        for parameter in parameters:
            if parameter["in"] == "body":
                parameter["schema"] = {"type": "object", "description": "The processor's event JSON, verbatim"}
        parameters.append({"name": header, "in": "header", "required": True, "type": "string",
                           "description": f"The signature over the raw body: {description}"})
    for parameter in parameters:
        if parameter["in"] == "path" and parameter["name"] in ID_PATTERNS:
            parameter["pattern"] = ID_PATTERNS[parameter["name"]]
    if body is not None and "request_id" in body.get("properties", {}):
        parameters.append(dict(IDEMPOTENCY_KEY))
    if operation_id in UNAUTHENTICATED_OPERATIONS:
        operation["security"] = []
    operation["responses"] = responses_for(operation, body is not None)
    success = operation["responses"]["200"]
    stream = success.get("schema", {}).get("properties", {}).get("result")
    if stream is not None:  # Envoy prints a server stream as one message per line, unwrapped
        success["schema"] = stream
        success["description"] = "One JSON message per line (newline-delimited), for as long as it runs."


def pattern_int64(node: Any) -> None:
    """int64 values are JSON strings of decimal digits (the protobuf JSON mapping)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") in ("int64", "uint64"):
            node["pattern"] = INT64_PATTERN
        for value in node.values():
            pattern_int64(value)
    elif isinstance(node, list):
        for value in node:
            pattern_int64(value)


def finish(document: dict[str, Any]) -> dict[str, Any]:
    definitions = document["definitions"]
    for operations in document["paths"].values():
        for operation in operations.values():
            finish_operation(definitions, operation)
    pattern_int64(document)
    head = {"swagger": document["swagger"], "info": INFO}
    rest = {key: value for key, value in document.items() if key not in ("swagger", "info")}
    return {**head, **rest, "securityDefinitions": SECURITY_DEFINITIONS, "security": [{"ApiKey": []}]}


def main(source: str, target: str) -> int:
    document = finish(json.loads(Path(source).read_text()))
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
