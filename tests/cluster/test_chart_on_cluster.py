"""The chart against a real API server: what it accepts, installs, rolls, tests and leaves behind.

Every test works in its own namespace with Pod Security `restricted` enforced and warned; a warning in
any output fails the test. Pods are simulated by kwok, so these tests prove what the API server and
the controllers decide (schemas, admission, scheduling, rollouts, hooks, garbage collection), not
that the containers run (issue 17's real-cluster tier does that).
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
import yaml

from tests.chart.chart_env import CHART, VALUE_SETS
from tests.cluster.kube import (
    Kube,
    create_secret,
    install_args,
    pods_by_component,
    production_secrets,
    render,
    server_dry_run,
    wait_for,
    warnings_in,
)

pytestmark = pytest.mark.cluster

# What `helm uninstall` leaves (docs/kubernetes.md): the database's volume, kept on purpose, and the
# pod of the last `helm test`, kept so `helm test --logs` can read it.
DOCUMENTED_LEFTOVERS = {("PersistentVolumeClaim", "data-payment-postgresql-0"), ("Pod", "payment-test-edge")}
# What Kubernetes itself puts in every namespace.
NAMESPACE_DEFAULTS = {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")}


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_values_set_is_accepted_by_the_api_server_under_restricted_pod_security(
    kube: Kube, namespace, prometheus_crds, value_set
):
    manifests = render(kube, value_set, namespace=namespace)
    objects = [doc for doc in yaml.safe_load_all(manifests) if doc]
    # Admission looks pods up against their ServiceAccount, which a dry run does not store: create it.
    accounts = [o for o in objects if o["kind"] == "ServiceAccount"]
    if accounts:
        kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(accounts)).ok()
    run = server_dry_run(kube, namespace, manifests)
    print(f"{value_set}: {len(objects)} objects accepted by server-side apply (dry run) in {run.seconds} s")
    run.ok()
    assert not warnings_in(run), warnings_in(run)
    assert run.stdout.count("serverside-applied (server dry run)") == len(objects), run.stdout


def test_observability_objects_need_the_crds_and_the_crd_schema_rejects_a_bad_field(
    kube: Kube, namespace, prometheus_crds
):
    before = prometheus_crds["before"]
    assert before.returncode != 0 and "ServiceMonitor" in before.stderr, before.stderr
    objects = [doc for doc in yaml.safe_load_all(render(kube, "kind-observability", namespace=namespace)) if doc]
    monitoring = [o for o in objects if o["kind"] in ("ServiceMonitor", "PrometheusRule")]
    assert {o["kind"] for o in monitoring} == {"ServiceMonitor", "PrometheusRule"}
    server_dry_run(kube, namespace, yaml.safe_dump_all(monitoring)).ok()

    monitor = next(o for o in monitoring if o["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["scheme"] = "ftp"
    rejected = server_dry_run(kube, namespace, yaml.safe_dump(monitor))
    assert rejected.returncode != 0 and "spec.endpoints[0].scheme" in rejected.stderr, rejected.stderr

    rule = next(o for o in monitoring if o["kind"] == "PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    rejected = server_dry_run(kube, namespace, yaml.safe_dump(rule))
    assert rejected.returncode != 0 and "spec.groups[0].rules[0].for" in rejected.stderr, rejected.stderr


def test_observability_values_install_with_the_generated_crds(kube: Kube, namespace, prometheus_crds):
    run = kube.helm("install", "payment", str(CHART), "-n", namespace, *install_args("kind-observability")).ok()
    print(f"helm install (kind + observability values): {run.seconds} s")
    assert not warnings_in(run), warnings_in(run)
    kube.kubectl("get", "servicemonitor/payment", "prometheusrule/payment", "-n", namespace).ok()


def timestamp(text: str) -> datetime:
    """helm's RFC 3339 times carry nanoseconds; Python parses up to microseconds."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text))


def hook_runs(kube: Kube, namespace: str) -> dict[str, dict]:
    status = json.loads(kube.helm("status", "payment", "-n", namespace, "-o", "json").ok().stdout)
    return {hook["name"]: hook.get("last_run", {}) for hook in status.get("hooks", [])}


def test_install_waits_for_jobs_and_an_upgrade_rolls_exactly_the_pods_whose_spec_changed(kube: Kube, namespace):
    install = kube.helm("install", "payment", str(CHART), "-n", namespace, *install_args("kind")).ok()
    print(f"helm install --wait --wait-for-jobs (kind values): {install.seconds} s")
    assert not warnings_in(install), warnings_in(install)
    first_migration = hook_runs(kube, namespace)["payment-migrate"]
    assert first_migration["phase"] == "Succeeded", first_migration
    before = pods_by_component(kube, namespace)
    assert {"payment", "graphql", "envoy", "postgresql", "redis", "grpcui"} <= set(before), before

    # LOG_LEVEL reaches the pods that read the service's ConfigMap (its checksum: the API and the webhook
    # delivery worker) and the GraphQL pods (inline env) only.
    upgrade = kube.helm("upgrade", "payment", str(CHART), "-n", namespace,
                        *install_args("kind", "--set", "config.logLevel=DEBUG")).ok()
    print(f"helm upgrade --wait --wait-for-jobs: {upgrade.seconds} s")
    assert not warnings_in(upgrade), warnings_in(upgrade)
    after = wait_for(lambda: (p := pods_by_component(kube, namespace)) and all(
        len(p.get(c, {})) == len(before[c]) for c in before) and p, what="the rollout to settle")
    rolled = {c for c in before if not set(before[c].values()) & set(after[c].values())}
    kept = {c for c in before if before[c] == after[c]}
    print(f"rolled: {sorted(rolled)}; untouched: {sorted(kept)}")
    assert rolled == {"payment", "deliver", "graphql"}
    assert kept == set(before) - rolled

    second_migration = hook_runs(kube, namespace)["payment-migrate"]
    assert second_migration["phase"] == "Succeeded", second_migration
    assert timestamp(second_migration["started_at"]) > timestamp(first_migration["completed_at"])


def test_helm_test_runs_the_chart_test_pod_to_success(kube: Kube, namespace):
    kube.helm("install", "payment", str(CHART), "-n", namespace, *install_args("kind")).ok()
    run = kube.helm("test", "payment", "-n", namespace, "--timeout", "60s").ok()
    print(f"helm test: {run.seconds} s")
    assert "TEST SUITE:     payment-test-edge" in run.stdout and "Phase:          Succeeded" in run.stdout, run.stdout


def leftovers(kube: Kube, namespace: str) -> set[tuple[str, str]]:
    kinds = kube.kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name").ok().stdout.split()
    kinds = [k for k in kinds if not k.startswith("events")]
    items = kube.get(",".join(kinds), "-n", namespace, "--ignore-not-found")["items"]
    return {(o["kind"], o["metadata"]["name"]) for o in items if not o["metadata"].get("deletionTimestamp")}


def test_uninstall_leaves_only_the_documented_volume_and_test_pod(kube: Kube, namespace):
    kube.helm("install", "payment", str(CHART), "-n", namespace, *install_args("kind")).ok()
    kube.helm("test", "payment", "-n", namespace, "--timeout", "60s").ok()
    assert len(leftovers(kube, namespace)) > 30
    run = kube.helm("uninstall", "payment", "-n", namespace, "--wait", "--timeout", "60s").ok()
    print(f"helm uninstall --wait: {run.seconds} s")
    # Owned objects (ReplicaSets, pods, EndpointSlices) go with the garbage collector, just after.
    left = wait_for(lambda: (rest := leftovers(kube, namespace) - NAMESPACE_DEFAULTS) == DOCUMENTED_LEFTOVERS
                    or print(f"  still there: {sorted(rest - DOCUMENTED_LEFTOVERS)}"), timeout=60, interval=2)
    assert left


def test_production_values_refuse_to_install_until_the_secrets_they_name_exist(kube: Kube, namespace, prometheus_crds):
    refused = kube.helm("install", "payment", str(CHART), "-n", namespace, *install_args("production"))
    assert refused.returncode != 0
    for name, key in [("payment-secrets", "API_KEYS"), ("payment-database", "DATABASE_URL"),
                      ("payment-redis", "REDIS_URL")]:
        assert f'Secret "{name}" with key "{key}"' in refused.stderr, refused.stderr
    assert kube.helm("list", "-n", namespace, "-q").ok().stdout.strip() == ""
    assert kube.get("all", "-n", namespace)["items"] == []

    # A Secret without the key the pods read is refused too.
    create_secret(kube, namespace, "payment-secrets", STRIPE_API_KEY="sk_test_no_api_keys")
    refused = kube.helm("install", "payment", str(CHART), "-n", namespace, *install_args("production"))
    assert refused.returncode != 0 and 'Secret "payment-secrets" with key "API_KEYS"' in refused.stderr
    kube.kubectl("delete", "secret", "payment-secrets", "-n", namespace).ok()

    production_secrets(kube, namespace)
    run = kube.helm("install", "payment", str(CHART), "-n", namespace, *install_args("production")).ok()
    print(f"helm install (production values, Secrets present): {run.seconds} s")
    assert not warnings_in(run), warnings_in(run)


def test_default_values_refuse_to_install_without_the_app_and_database_secrets(kube: Kube, namespace):
    refused = kube.helm("install", "payment", str(CHART), "-n", namespace, "--timeout", "60s")
    assert refused.returncode != 0
    assert 'Secret "payment-secrets" with key "API_KEYS"' in refused.stderr, refused.stderr
    assert 'Secret "payment-postgresql" with key "password"' in refused.stderr, refused.stderr
