"""The local stack's Envoy config: every placeholder filled from the settings the processes read."""

from __future__ import annotations

import pytest
import yaml

from devtools.envoy_config import ENVOY_TEMPLATE, PLACEHOLDER, local_values, render_local

pytestmark = pytest.mark.unit


def test_every_placeholder_of_envoy_yaml_has_a_local_value():
    placeholders = {m.group(1) for m in PLACEHOLDER.finditer(ENVOY_TEMPLATE.read_text())}
    assert placeholders and placeholders == set(local_values({}))


def test_the_ports_follow_the_same_variables_as_the_processes(tmp_path):
    env = {"ENVOY_PORT": "18080", "GRPC_PORT": "15051", "GRAPHQL_PORT": "18000"}
    values = local_values(env)
    assert (values["ENVOY_PORT"], values["PAYMENT_GRPC_PORT"], values["GRAPHQL_PORT"]) == ("18080", "15051", "18000")
    assert local_values({})["ENVOY_PORT"] == "8080" and local_values({})["PAYMENT_GRPC_PORT"] == "50051"
    config = yaml.safe_load(render_local(tmp_path / "envoy.yaml", env).read_text())
    listeners = config["static_resources"]["listeners"]
    assert 18080 in [listener["address"]["socket_address"]["port_value"] for listener in listeners]
