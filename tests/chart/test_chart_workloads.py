"""Workload wiring: migrations (hook or Job), reconcile CronJob, autoscaling, services, grpcui."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.chart


def migrate_job(manifests):
    return manifests.get("Job", "payment-migrate")


def test_migrations_run_as_a_hook_after_the_release_creates_its_database(render):
    job = migrate_job(render("default"))
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["payment-service", "migrate"]
    assert "envFrom" not in container, "a hook must not depend on release objects"


def test_migrations_run_pre_install_when_everything_already_exists(render):
    job = migrate_job(render("production"))
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    # The release's ServiceAccount does not exist before install.
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "default"


def test_tilt_gets_a_plain_migration_job(render):
    job = migrate_job(render("tilt"))
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})


def test_reconcile_cronjob(render):
    cron = render("default").get("CronJob", "payment-reconcile")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["payment-service", "reconcile"]
    names = {e["name"] for e in container["env"]}
    assert {"DATABASE_URL", "REDIS_URL", "STRIPE_API_KEY"} <= names
    assert "API_KEYS" not in names, "reconcile serves no API calls"


def test_autoscaling_owns_the_replica_count(render):
    manifests = render("production")
    hpa = manifests.get("HorizontalPodAutoscaler", "payment")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "payment"}
    assert hpa["spec"]["minReplicas"] == 3
    assert "replicas" not in manifests.get("Deployment", "payment")["spec"]
    assert not render("default").has("HorizontalPodAutoscaler", "payment")


def test_disruption_budget_and_service_account(render):
    manifests = render("default")
    pdb = manifests.get("PodDisruptionBudget", "payment")
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "payment"
    assert manifests.get("ServiceAccount", "payment")["automountServiceAccountToken"] is False


def test_payment_service_is_headless_for_grpc_balancing(render):
    service = render("default").get("Service", "payment")
    assert service["spec"]["clusterIP"] == "None"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"grpc": 50051, "metrics": 9464}


def test_graphql_targets_the_payment_service(render):
    def env(value_set):
        return {e["name"]: e.get("value") for e in render(value_set).pod("graphql").spec["containers"][0]["env"]}

    # dns:/// resolves every pod behind the headless Service, so gRPC balances across them.
    assert env("default")["PAYMENT_GRPC_TARGET"] == "dns:///payment:50051"
    assert env("default")["GRAPHIQL_ENABLED"] == "false", "the IDE is off unless asked for"
    assert env("kind")["GRAPHIQL_ENABLED"] == "true"


def test_graphql_probes_use_its_health_endpoints(render):
    container = render("default").pod("graphql").spec["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_grpcui_is_a_toggle_using_reflection(render):
    assert "grpcui" not in render("default").components()
    container = render("kind").pod("grpcui").spec["containers"][0]
    assert container["image"].startswith("fullstorydev/grpcui:v")
    assert container["args"] == ["-plaintext", "-port", "8081", "-bind", "0.0.0.0", "payment:50051"]
    assert render("kind").get("Service", "payment-grpcui")["spec"]["ports"][0]["nodePort"] == 30081


def test_helm_test_checks_rest_and_grpc_health_through_envoy(render):
    pod = render("default").get("Pod", "payment-test-edge")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    scripts = {c["name"]: c["args"][0] for c in pod["spec"]["containers"]}
    assert "https://payment-envoy:8443/v1/health" in scripts["rest-health"]
    assert "payment-envoy:8443 grpc.health.v1.Health/Check" in scripts["grpc-health"]
    images = {c["name"]: c["image"] for c in pod["spec"]["containers"]}
    assert images["grpc-health"].startswith("fullstorydev/grpcurl:v1.9.")
