"""GraphiQL from the gateway's own files: the page, its vendored scripts and styles, the CSP."""

from __future__ import annotations

import hashlib
import re

import pytest

from gateway.static import CSP, STATIC_DIR, graphiql
from tests.unit import test_graphql_harness as harness
from tests.unit.test_graphql_harness import open_gateway, send

pytestmark = pytest.mark.unit

payment_api = harness.payment_api  # the shared fixture: a real gRPC server on fakes


def test_vendored_graphiql_files_are_the_pinned_packages_bytes():
    directory = STATIC_DIR / "graphiql"
    source = (directory / "SOURCE").read_text()
    for package in ("graphiql@3.8.3", "react@18.3.1", "react-dom@18.3.1"):
        assert f"# {package} integrity sha512-" in source, package
    lines = [line for line in source.splitlines() if not line.startswith("#")]
    recorded = {name: digest for digest, name in (line.split() for line in lines)}
    assert recorded.keys() == {file.name for file in directory.iterdir()} - {"SOURCE"}
    for name, digest in recorded.items():
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest, name


async def test_graphiql_page_and_every_file_it_loads_come_from_the_gateway(payment_api):
    app = await open_gateway(payment_api.target)
    try:
        page = await send(app, "GET", "/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CSP
        assert "unpkg" not in page.text and "cdn" not in page.text.lower()
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        local = [asset for asset in assets if asset != "data:,"]
        assert len(local) == 6 and all(asset.startswith("/graphql/") for asset in local), assets
        for asset in local:
            reply = await send(app, "GET", asset)
            assert reply.status_code == 200, asset
            assert reply.headers["content-security-policy"] == CSP
            assert reply.headers["x-content-type-options"] == "nosniff"
            expected = "text/css" if asset.endswith(".css") else "text/javascript"
            assert reply.headers["content-type"].startswith(expected), asset
        assert (await send(app, "HEAD", "/graphql")).status_code == 200
        # POST /graphql is still GraphQL, not the page
        answer = await send(app, "POST", "/graphql", json={"query": "{ __typename }"})
        assert answer.json() == {"data": {"__typename": "Query"}}
    finally:
        await app.shutdown()


async def test_graphiql_files_are_not_served_when_graphiql_is_off(payment_api):
    app = await open_gateway(payment_api.target, graphiql=False)
    try:
        for asset in graphiql().files:
            if asset != "/graphql":
                assert (await send(app, "GET", asset)).status_code == 404, asset
        assert (await send(app, "GET", "/docs")).status_code == 200, "the API docs stay on"
    finally:
        await app.shutdown()


def test_the_init_script_talks_to_this_origin_only_and_keeps_no_key():
    script = (STATIC_DIR / "graphql" / "graphiql-init.js").read_text()
    assert 'window.location.origin + "/graphql"' in script
    assert "shouldPersistHeaders: false" in script
    assert "defaultHeaders" not in script, "the page ships no API key"
