"""Secrets: none by default, only ever inside Secret objects, reached only through secretKeyRef."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import yaml
from chart_env import CHART, REPO, VALUE_SETS

pytestmark = pytest.mark.chart

SECRET_ENV = {"API_KEYS", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "POSTGRES_PASSWORD", "DB_PASSWORD"}
# Shapes of real credentials; none may appear in a default render.
CREDENTIAL = re.compile(r"sk_(live|test)_\w+|rk_(live|test)_\w+|whsec_\w+|://[^/\s:@]+:[^@\s$]+@")


def secret_values_in(paths: list[str]) -> set[str]:
    """Every secret the user set in these values files."""
    found = set()
    for path in paths:
        values = yaml.safe_load((REPO / path).read_text()) or {}
        secrets = values.get("secrets", {})
        found |= {v for k, v in secrets.items() if k != "existingSecret" and v}
        found |= {v for v in [values.get("postgresql", {}).get("auth", {}).get("password")] if v}
        for external in ("externalDatabase", "externalRedis"):
            if url := values.get(external, {}).get("url"):
                found.add(url)
                if password := urlsplit(url).password:
                    found.add(password)
    return found


def test_defaults_render_no_secret_at_all(render):
    manifests = render("default")
    assert manifests.of_kind("Secret") == []
    text = yaml.safe_dump_all(manifests.objects)
    assert not CREDENTIAL.search(text), CREDENTIAL.search(text)


def test_values_yaml_ships_no_secret():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert not any(v for k, v in values["secrets"].items())
    assert not values["postgresql"]["auth"]["password"]
    assert not values["externalDatabase"]["url"] and not values["externalRedis"]["url"]


def test_existing_secrets_are_referenced_not_rendered(render):
    manifests = render("production")
    assert manifests.of_kind("Secret") == []
    refs = {
        (env["valueFrom"]["secretKeyRef"]["name"], env["valueFrom"]["secretKeyRef"]["key"])
        for pod in manifests.pods()
        for c in pod.containers()
        for env in c.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    expected = {("payment-secrets", "API_KEYS"), ("payment-database", "DATABASE_URL"), ("payment-redis", "REDIS_URL")}
    assert expected <= refs


def test_secret_values_appear_only_in_secret_objects(render, value_set):
    secrets = secret_values_in(VALUE_SETS[value_set])
    manifests = render(value_set)
    for obj in manifests:
        if obj["kind"] == "Secret":
            continue
        text = yaml.safe_dump(obj)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{obj['kind']}/{obj['metadata']['name']} contains a secret value"
    stored = "".join(yaml.safe_dump(s) for s in manifests.of_kind("Secret"))
    assert all(s in stored for s in secrets), "every secret the user set is stored in a Secret"


def test_containers_get_secrets_only_through_secret_key_refs(render, value_set):
    for pod in render(value_set).pods():
        for c in pod.containers():
            for env in c.get("env", []):
                where = f"{pod.name}/{c['name']}/{env['name']}"
                if env["name"] in SECRET_ENV:
                    assert "secretKeyRef" in env.get("valueFrom", {}), where
                elif "value" in env and "://" in env["value"]:
                    # A URL in plain sight may only carry a kubelet-expanded reference.
                    password = urlsplit(env["value"]).password
                    assert password is None or re.fullmatch(r"\$\([A-Z_]+\)", password), where


def test_references_to_chart_secrets_name_existing_keys(render, value_set):
    manifests = render(value_set)
    rendered = {
        s["metadata"]["name"]: set(s.get("stringData", {})) | set(s.get("data", {}))
        for s in manifests.of_kind("Secret")
    }
    for pod in manifests.pods():
        for c in pod.containers():
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] in rendered and not ref.get("optional"):
                    assert ref["key"] in rendered[ref["name"]], (pod.name, ref)


def test_kind_values_hold_only_the_documented_demo_credentials():
    """kind/values.yaml mirrors .env.example's local demo merchants; nothing that looks live."""
    values = yaml.safe_load((REPO / "kind" / "values.yaml").read_text())
    for pair in values["secrets"]["apiKeys"].split(","):
        key, merchant = pair.split("=")
        assert key.startswith("sk_test_") and merchant.startswith("acct_"), pair
    assert values["secrets"]["stripeWebhookSecret"].startswith("whsec_test_")
    assert "stripeApiKey" not in values["secrets"]
