"""The browser pages in a real headless Chromium: GraphiQL and the Swagger UI through the real
Envoy, grpcui as `make run` serves it. Each test saves a screenshot under build/browser/ and
fails on any console error, uncaught exception, failed request, or request to another origin.

Chromium is Debian's package (scripts/setup.d/50-chromium.sh), driven over the DevTools pipe
(tests/e2e/chromium.py). Where it is missing the tests skip saying so; in CI they fail instead.
"""

from __future__ import annotations

import json
import pathlib
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest

from devtools.devstack import find_tool
from gateway.static import STATIC_DIR
from tests.conftest import require
from tests.e2e.chromium import Chromium, Page, browser, find_chromium

pytestmark = pytest.mark.e2e

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "browser"
PAYMENTS = "query Payments { payments(page_size: 5) { payments { payment_id amount currency status } } }"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    binary = find_chromium()
    require(binary is not None, "chromium (Debian package; make setup installs it: scripts/setup.d/50-chromium.sh)")
    with browser(binary) as running:
        yield running


@pytest.fixture
def page(chromium, request) -> Iterator[Page]:
    """A fresh tab; its screenshot is saved as build/browser/<test name>.png, pass or fail."""
    tab = chromium.new_page()
    tab.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1,
                                                    "mobile": False})
    try:
        yield tab
    finally:
        tab.screenshot(SCREENSHOTS / f"{request.node.name}.png")
        tab.close()


def origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def assert_clean(page: Page, base: str) -> None:
    """Nothing failed, nothing logged an error, nothing was asked of another origin."""
    assert page.errors == [], f"console errors: {page.errors}"
    assert page.failed == [], f"failed requests: {page.failed}"
    foreign = [url for url in page.requests if not url.startswith("data:") and origin(url) != origin(base)]
    assert foreign == [], f"requests to other origins: {foreign}"


def create_payment(stack, key: str, amount: int) -> str:
    reply = httpx.post(f"{stack.rest}/v1/payments", json={"amount": amount, "currency": "EUR"},
                       headers={"Authorization": f"Bearer {key}"}, timeout=15)
    assert reply.status_code == 200, reply.text
    return reply.json()["payment"]["payment_id"]


def set_field(page: Page, selector: str, value: str) -> None:
    """Clicks into an input and types the value, as a user does."""
    page.click(f"document.querySelector({json.dumps(selector)})")
    page.type(value)
    assert page.evaluate(f"document.querySelector({json.dumps(selector)}).value") == value, selector


def choose(page: Page, selector: str, value: str) -> None:
    """Picks an option of a <select> (value, then the change event a user's pick fires)."""
    page.evaluate(f"""(() => {{ const field = document.querySelector({json.dumps(selector)});
        field.value = {json.dumps(value)}; field.dispatchEvent(new Event("change", {{bubbles: true}}));
        return true; }})()""")


def test_graphiql_loads_from_this_origin_and_runs_a_payments_query(stack, e2e_key, page):
    payment_id = create_payment(stack, e2e_key, 4321)
    page.goto(f"{stack.rest}/graphql?{urllib.parse.urlencode({'query': PAYMENTS})}")
    page.wait_for("document.querySelector('.graphiql-execute-button') !== null", "GraphiQL to render")
    assert "payments(page_size: 5)" in page.evaluate(
        "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()")
    # the API key in GraphiQL's Headers editor, as a user would paste it
    headers = ("[...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]"
               ".find(editor => editor.getBoundingClientRect().x >= 0)")  # the one on screen: Headers
    page.wait_for(f"{headers} !== undefined", "the Headers editor")
    page.click(f"{headers}.querySelector('.CodeMirror-lines')")
    page.type(json.dumps({"Authorization": f"Bearer {e2e_key}"}))
    assert f"Bearer {e2e_key}" in page.evaluate(f"{headers}.CodeMirror.getValue()")
    page.click("document.querySelector('.graphiql-execute-button')")
    result = page.wait_for(f"""(() => {{
        const text = document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue();
        return text.includes({json.dumps(payment_id)}) && text; }})()""", "the query's result")
    shown = json.loads(result)
    assert {"payment_id": payment_id, "amount": "4321", "currency": "EUR", "status": "REQUIRES_CAPTURE"} in \
        shown["data"]["payments"]["payments"]
    assert_clean(page, stack.rest)
    assert f"{stack.rest}/graphql/graphiql/graphiql.min.js" in page.requests


def service_methods() -> list[str]:
    from google.protobuf import descriptor_pb2

    files = descriptor_pb2.FileDescriptorSet.FromString((ROOT / "envoy/payment.pb").read_bytes())
    return sorted(method.name for file in files.file if file.package == "payment.v1"
                  for service in file.service if service.name == "PaymentService" for method in service.method)


def test_grpcui_lists_the_payment_methods_and_invokes_get_payment(stack, e2e_key, page):
    grpcui = find_tool("grpcui")
    require(grpcui is not None, "grpcui (make setup: scripts/setup.d/10-grpcui.sh)")
    url = f"http://127.0.0.1:{stack.env['GRPCUI_PORT']}/"
    payment_id = create_payment(stack, e2e_key, 1234)
    page.goto(url)
    services = page.wait_for("[...document.querySelectorAll('#grpc-service option')].map(o => o.value)",
                             "grpcui's service list")
    assert "payment.v1.PaymentService" in services, services
    choose(page, "#grpc-service", "payment.v1.PaymentService")
    methods = page.wait_for("""(() => { const names = [...document.querySelectorAll('#grpc-method option')]
        .map(o => o.value); return names.includes('GetPayment') && names; })()""", "the service's methods")
    assert sorted(methods) == service_methods()
    choose(page, "#grpc-method", "GetPayment")
    page.wait_for("document.querySelector('#grpc-request-form textarea') !== null", "GetPayment's request form")
    page.click("document.querySelector('#grpc-request-metadata-add-row')")
    set_field(page, "#grpc-request-metadata-form tr.metadataRow input.name", "authorization")
    set_field(page, "#grpc-request-metadata-form tr.metadataRow input.value", f"Bearer {e2e_key}")
    # payment_id, the request's one field: tick "set", then type the id
    page.click("document.querySelector('#grpc-request-form td.toggle_presence input')")
    page.wait_for("!document.querySelector('#grpc-request-form textarea').disabled", "payment_id to be editable")
    set_field(page, "#grpc-request-form textarea", payment_id)
    page.click("document.querySelector('.grpc-invoke')")
    response = page.wait_for(f"""(() => {{ const shown = document.querySelector('#grpc-response-data textarea');
        return shown !== null && shown.value.includes({json.dumps(payment_id)}) && shown.value; }})()""",
                             "GetPayment's response")
    shown = json.loads(response)["payment"]
    assert (shown["payment_id"], shown["amount"], shown["status"]) == (payment_id, "1234", "REQUIRES_CAPTURE")
    assert page.evaluate("document.querySelector('#grpc-response-error-desc').textContent.trim()") == ""
    assert_clean(page, url)


def test_swagger_ui_lists_every_operation_of_the_document(stack, page):
    document = json.loads((STATIC_DIR / "openapi.json").read_text())
    expected = sorted((method.upper(), path) for path, operations in document["paths"].items()
                      for method in operations)
    page.goto(f"{stack.rest}/docs")
    count = f"document.querySelectorAll('.opblock').length >= {len(expected)}"
    page.wait_for(count, f"Swagger UI to list {len(expected)} operations")
    shown = page.evaluate("""[...document.querySelectorAll('.opblock')].map(block => [
        block.querySelector('.opblock-summary-method').innerText.trim(),
        block.querySelector('.opblock-summary-path').dataset.path])""")
    assert sorted(map(tuple, shown)) == expected
    assert_clean(page, stack.rest)
    assert f"{stack.rest}/openapi.json" in page.requests


def test_the_driver_reports_console_errors_failed_and_foreign_requests(chromium):
    """The checks above can fail: a page that logs an error and loads from elsewhere is caught."""
    tab = chromium.new_page()
    try:
        tab.goto("data:text/html,<script>console.error('broken')</script><img src='http://127.0.0.1:9/x.png'>")
        tab.wait_for("document.readyState === 'complete'", "the page")
        with pytest.raises(AssertionError, match="console errors"):
            assert_clean(tab, "http://localhost")
        assert any("console.error: broken" in error for error in tab.errors)
        assert [failed for failed in tab.failed if failed.startswith("http://127.0.0.1:9/x.png")]
        tab.errors.clear()
        tab.failed.clear()
        with pytest.raises(AssertionError, match="other origins"):
            assert_clean(tab, "http://localhost")
    finally:
        tab.close()
