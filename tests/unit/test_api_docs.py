"""The OpenAPI document says what Envoy serves; the static files are the pinned ones, served safely."""

from __future__ import annotations

import hashlib
import json
import pathlib
import re

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from gateway.static import CSP, STATIC_DIR, StaticFiles, api_docs

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((STATIC_DIR / "openapi.json").read_text())
OPERATIONS = [(method, path, operation) for path, operations in DOCUMENT["paths"].items()
              for method, operation in operations.items()]


def http_bindings() -> set[tuple[str, str]]:
    """(METHOD, path template) of every google.api.http rule in Envoy's descriptor set."""
    files = descriptor_pb2.FileDescriptorSet.FromString((ROOT / "envoy/payment.pb").read_bytes())
    found = set()
    for file in files.file:
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                for binding in (rule, *rule.additional_bindings):
                    pattern = binding.WhichOneof("pattern")
                    if pattern:
                        found.add((pattern.upper(), getattr(binding, pattern)))
    return found


def test_every_rest_binding_envoy_transcodes_is_in_the_document_and_nothing_else():
    documented = {(method.upper(), path) for method, path, _ in OPERATIONS}
    assert documented == http_bindings()
    assert {path.split("/")[1] for _, path in documented} == {"v1", "api", "webhooks"}


def test_responses_wrap_the_resource_and_print_int64_as_strings_and_enums_as_names():
    definitions = DOCUMENT["definitions"]
    assert definitions["CreatePaymentResponse"]["properties"]["payment"]["$ref"] == "#/definitions/Payment"
    amount = definitions["Payment"]["properties"]["amount"]
    assert (amount["type"], amount["format"], amount["pattern"]) == ("string", "int64", "^-?[0-9]+$")
    status = definitions["PaymentStatus"]
    assert status["type"] == "string" and "REQUIRES_CAPTURE" in status["enum"]
    assert "payment_id" in definitions["Payment"]["properties"]  # proto field names, not lowerCamel


def test_every_operation_lists_its_error_statuses_with_a_google_rpc_status_body_and_no_catch_all():
    for method, path, operation in OPERATIONS:
        responses = operation["responses"]
        assert "default" not in responses, (method, path)
        errors = {int(code) for code in responses if code != "200"}
        assert {400, 414, 429, 431, 503} <= errors, (method, path)
        assert all(responses[str(code)]["schema"] == {"$ref": "#/definitions/Status"} for code in errors)
    assert set(DOCUMENT["definitions"]["Status"]["properties"]) == {"code", "message", "details"}


def test_error_statuses_come_from_each_rpcs_errors_paragraph():
    get = DOCUMENT["paths"]["/v1/payments/{payment_id}"]["get"]
    assert "NOT_FOUND" in get["description"] and "404" in get["responses"]
    create = DOCUMENT["paths"]["/v1/payments"]["post"]
    assert "ABORTED" in create["description"] and "409" in create["responses"]
    assert "413" in create["responses"]  # a body route
    assert "404" not in DOCUMENT["paths"]["/v1/payments"]["get"]["responses"]


def test_api_key_everywhere_but_health_and_the_signed_webhooks():
    assert DOCUMENT["securityDefinitions"]["ApiKey"] == {
        **DOCUMENT["securityDefinitions"]["ApiKey"], "type": "apiKey", "in": "header", "name": "Authorization"}
    assert DOCUMENT["security"] == [{"ApiKey": []}]
    open_ = {operation["operationId"] for _, _, operation in OPERATIONS if operation.get("security") == []}
    assert open_ == {"PaymentService_HealthCheck", "WebhookService_HandleStripeWebhook",
                     "WebhookService_HandleInhouseWebhook"}
    for _, _, operation in OPERATIONS:
        assert ("401" in operation["responses"]) == (operation["operationId"] not in open_)
    stripe = DOCUMENT["paths"]["/webhooks/stripe"]["post"]
    signature = next(p for p in stripe["parameters"] if p["in"] == "header")
    assert (signature["name"], signature["required"]) == ("Stripe-Signature", True)


def test_idempotency_key_header_on_exactly_the_operations_whose_request_has_a_request_id():
    with_header = {operation["operationId"].rstrip("2") for _, _, operation in OPERATIONS
                   if any(p["name"] == "Idempotency-Key" for p in operation["parameters"])}
    assert with_header == {"PaymentService_CreatePayment", "PaymentService_ProcessPayment",
                           "PaymentService_SubmitDisputeEvidence", "PaymentService_CloseDispute"}


def test_vendored_swagger_ui_files_are_the_pinned_packages_bytes():
    directory = STATIC_DIR / "swagger-ui"
    lines = [line for line in (directory / "SOURCE").read_text().splitlines() if not line.startswith("#")]
    recorded = dict(reversed(line.split()) for line in lines)
    assert recorded.keys() == {file.name for file in directory.iterdir()} - {"SOURCE"}
    for name, digest in recorded.items():
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest, name


def test_the_docs_page_loads_only_files_the_gateway_serves():
    static = api_docs()
    page = static.respond("GET", "/docs")
    assert page is not None and page.status == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.body.decode())
    assert assets and all(static.handles(asset) for asset in assets), assets


def test_static_files_answer_only_their_table_with_security_headers(tmp_path):
    (tmp_path / "a.js").write_text("1")
    (tmp_path / "sub").mkdir()
    static = StaticFiles(pages={"/page": tmp_path / "a.js"}, mounts={"/m/": tmp_path})
    reply = static.respond("GET", "/m/a.js")
    assert reply.status == 200 and reply.body == b"1" and reply.content_type.startswith("text/javascript")
    assert ("content-security-policy", CSP) in reply.headers
    assert static.respond("HEAD", "/page").status == 200
    for path in ("/m/sub", "/m/../a.js", "/m/", "/m/b.js", "/other"):
        assert static.respond("GET", path) is None, path
    refused = static.respond("POST", "/m/a.js")
    assert refused.status == 405 and ("allow", "GET, HEAD") in refused.headers


def test_the_csp_names_no_origin_but_this_one():
    sources = {token for directive in CSP.split(";") for token in directive.split()[1:]}
    assert sources <= {"'self'", "'none'", "'unsafe-inline'", "data:"}, sources
