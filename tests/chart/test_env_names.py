"""One list of variables: `.env.example`, the settings classes and the chart's environment name the same ones.

The settings classes are the source (common/env.py reads them): the service's
`Settings`, the gateway's `GraphQLSettings` and the local stack's `DevSettings`.
`.env.example` documents every one of them; the chart sets each variable a
process reads, and only those, except where a reason is written below.
"""

from __future__ import annotations

import re

import pytest
from chart_env import REPO, VALUE_SETS

from common.env import variables
from devtools.settings import DevSettings
from gateway.config import GraphQLSettings
from service.config import Settings, WebhookSettings

pytestmark = pytest.mark.chart

# The service reads Settings and its webhook part (WebhookSettings in service/config.py).
SERVICE = {**variables(Settings), **variables(WebhookSettings)}
GATEWAY, DEV = variables(GraphQLSettings), variables(DevSettings)
PROGRAM_SETTINGS = {"payment-service": SERVICE, "payment-graphql": GATEWAY}

# Set by the chart although no settings class reads it.
CHART_ONLY = {
    "DB_PASSWORD": "the bundled PostgreSQL's password; the kubelet expands $(DB_PASSWORD) into DATABASE_URL",
}
# Read by a process but left to its default in the cluster (values.yaml does not expose them).
NOT_IN_CHART = {
    "GRPC_HOST": "0.0.0.0, what a pod needs",
    "GRAPHQL_HOST": "0.0.0.0, what a pod needs",
    "API_KEYS_REFRESH_SECONDS": "docs/api-keys.md: the documented default (NOTIFY makes changes take effect sooner)",
    "API_KEY_ROTATION_OVERLAP_HOURS": "read by `payment-service keys rotate`, run by hand (kubectl exec); "
                                      "--overlap-hours per rotation",
    "DB_POOL_SIZE": "the default suits the chart's resources",
    "SHUTDOWN_GRACE_SECONDS": "the default fits terminationGracePeriodSeconds",
    "IDEMPOTENCY_RETENTION_HOURS": "the documented default",
    "IDEMPOTENCY_LEASE_SECONDS": "the documented default",
    "GRAPHQL_MAX_DEPTH": "docs/graphql.md#limits: the chart uses the process defaults",
    "GRAPHQL_MAX_ALIASES": "docs/graphql.md#limits: the chart uses the process defaults",
    "GRAPHQL_MAX_TOKENS": "docs/graphql.md#limits: the chart uses the process defaults",
    "GRAPHQL_MAX_COMPLEXITY": "docs/graphql.md#limits: the chart uses the process defaults",
    "GRAPHQL_MAX_BODY_BYTES": "docs/graphql.md#limits: the chart uses the process defaults",
    "GRAPHQL_GRPC_TIMEOUT_SECONDS": "the default deadline",
    "INHOUSE_IDEMPOTENCY_RETENTION_SECONDS": "the documented default (24 h, as Stripe)",
    "INHOUSE_WEBHOOK_SECRET": "the chart runs no in-house simulator, so nothing signs in-house webhooks there;"
                              " unset, POST /webhooks/inhouse is refused (FAILED_PRECONDITION)",
    "INHOUSE_WEBHOOK_URL": "read by `payment-service inhouse-simulator`, a local-development process only",
    "WEBHOOK_ALLOW_LOOPBACK": "local development only (make run); never in a cluster",
    "WEBHOOK_BACKOFF_BASE_SECONDS": "docs/webhooks.md: the documented retry schedule",
    "WEBHOOK_BACKOFF_MAX_SECONDS": "docs/webhooks.md: the documented retry schedule",
    "EVENT_RETENTION_DAYS": "docs/events.md: the documented 30 days",
}


def env_example() -> str:
    return (REPO / ".env.example").read_text()


def documented() -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", env_example(), re.M))


def app_containers(manifests) -> list[tuple[str, dict]]:
    """(program, container) of every container that runs the app image's payment-service or payment-graphql."""
    found = []
    for pod in manifests.pods():
        for container in pod.containers():
            program = (container.get("args") or container.get("command") or [""])[0]
            if program in PROGRAM_SETTINGS:
                found.append((program, container))
    return found


def env_names(manifests, container: dict) -> set[str]:
    names = {item["name"] for item in container.get("env", [])}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            names |= set(manifests.get("ConfigMap", source["configMapRef"]["name"]).get("data", {}))
    return names


@pytest.fixture(scope="module")
def chart_env(render) -> dict[str, set[str]]:
    """Program -> every variable the chart sets for it, over every values set the project ships."""
    by_program: dict[str, set[str]] = {program: set() for program in PROGRAM_SETTINGS}
    for value_set in VALUE_SETS:
        manifests = render(value_set)
        for program, container in app_containers(manifests):
            by_program[program] |= env_names(manifests, container)
    return by_program


def test_env_example_documents_exactly_the_variables_the_settings_read():
    read = set(SERVICE) | set(GATEWAY) | set(DEV)
    assert documented() - read == set(), "documented in .env.example, read by no settings class"
    assert read - documented() == set(), "read by a settings class, missing from .env.example"
    aliases = {alias for names in (SERVICE, GATEWAY, DEV) for alias in [a for v in names.values() for a in v]}
    assert aliases and all(alias in env_example() for alias in aliases), "aliases are mentioned too"
    print(f".env.example: {len(documented())} variables, {len(aliases)} alias")


def test_the_chart_sets_only_variables_its_process_reads(chart_env):
    for program, names in chart_env.items():
        assert names, f"no container runs {program}"
        unread = names - set(PROGRAM_SETTINGS[program]) - set(CHART_ONLY)
        assert unread == set(), f"the chart sets {sorted(unread)} for {program}, which does not read them"


def test_the_chart_sets_every_variable_a_process_reads_except_the_listed_defaults(chart_env):
    chart = set().union(*chart_env.values())
    read = set(SERVICE) | set(GATEWAY)
    assert read - chart == set(NOT_IN_CHART), "a new setting must reach the chart or be listed in NOT_IN_CHART"
    assert chart - read == set(CHART_ONLY)
    print(f"chart: {len(chart)} variables over {len(VALUE_SETS)} values sets; {len(NOT_IN_CHART)} left to defaults")
