"""The API docs through the real Envoy: /openapi.json and the Swagger UI page at /docs, no key."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from gateway.static import STATIC_DIR

pytestmark = pytest.mark.e2e


def test_openapi_json_is_served_without_a_key_and_is_the_committed_document(stack):
    reply = httpx.get(f"{stack.rest}/openapi.json", timeout=15)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == json.loads((STATIC_DIR / "openapi.json").read_text())
    assert reply.json()["paths"]["/v1/payments"]["post"]["operationId"] == "PaymentService_CreatePayment"


def test_swagger_ui_page_and_every_asset_it_loads_come_from_this_origin_under_a_strict_csp(stack):
    page = httpx.get(f"{stack.rest}/docs", timeout=15)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp
    assert "http" not in csp and "*" not in csp, f"a third-party origin in the CSP: {csp}"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(asset.startswith("/docs/") for asset in assets), assets
    sizes = {}
    for asset in assets:
        reply = httpx.get(f"{stack.rest}{asset}", timeout=15)
        assert reply.status_code == 200, f"{asset}: {reply.status_code}"
        assert reply.headers["x-content-type-options"] == "nosniff"
        sizes[asset] = len(reply.content)
    initializer = httpx.get(f"{stack.rest}/docs/assets/docs.js", timeout=15).text
    assert 'url: "/openapi.json"' in initializer and "validatorUrl: null" in initializer
    print(f"/docs loads {len(assets)} assets, {sum(sizes.values())} bytes")


def test_docs_paths_outside_the_served_files_are_not_found_and_other_methods_refused(stack):
    assert httpx.get(f"{stack.rest}/docs/swagger-ui/../../app.py", timeout=15).status_code == 404
    assert httpx.get(f"{stack.rest}/docs/swagger-ui/nothing.js", timeout=15).status_code == 404
    refused = httpx.post(f"{stack.rest}/openapi.json", content=b"{}", timeout=15)
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"


def test_make_run_prints_the_api_docs_urls_and_they_answer(stack, capsys):
    from devtools.__main__ import _print_urls

    _print_urls(stack.local, stack.env)
    printed = capsys.readouterr().out
    docs, openapi = stack.local.urls["api_docs"], stack.local.urls["openapi"]
    assert f"API docs  {docs}" in printed and openapi in printed
    assert httpx.get(docs, timeout=15).status_code == 200
    assert httpx.get(openapi, timeout=15).json()["info"]["title"] == "Payment API"
