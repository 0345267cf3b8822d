"""The chart's pods running for real (containerd + runc on the real node): the README's calls from the
host on 127.0.0.1, `helm test`'s own pod, a killed payment pod, a rolling upgrade under traffic, the
migration hook's order and the reconcile CronJob. Each test prints what it measured."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import threading
import time
import uuid
from datetime import datetime

import httpx
import pytest

from tests.real_cluster.conftest import REPO, figure

pytestmark = pytest.mark.real_cluster

KEY = {"Authorization": "Bearer sk_test_local"}
GRPCURL = str(REPO / ".venv" / "bin" / "grpcurl")


def create(client: httpx.Client, edge: str, key: str) -> httpx.Response:
    return client.post(f"{edge}/v1/payments", headers={**KEY, "Idempotency-Key": key},
                       json={"amount": 1250, "currency": "USD", "customer_id": "cus_real"}, timeout=10)


def grpcurl(real_cluster, *args: str) -> str:
    """grpcurl ADDRESS ARGS... against Envoy's NodePort on 127.0.0.1."""
    argv = [GRPCURL, "-plaintext", "-max-time", "10", f"127.0.0.1:{real_cluster.edge_port}", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_every_pod_runs_on_the_real_node_with_the_images_built_here(real_cluster):
    pods = json.loads(real_cluster.kubectl("get", "pods", "-o", "json").stdout)["items"]
    running = [p for p in pods if p["status"]["phase"] == "Running"]
    assert {p["metadata"]["labels"]["app.kubernetes.io/component"] for p in running} >= {
        "payment", "graphql", "envoy", "postgresql", "redis", "grpcui"}
    for pod in running:
        assert pod["spec"]["nodeName"] == "localhost", pod["metadata"]["name"]
        for status in pod["status"]["containerStatuses"]:
            assert status["ready"], (pod["metadata"]["name"], status)
    figure(test="pods on the real node", running=len(running))


def test_rest_create_get_list_and_process_through_envoy(real_cluster):
    edge = real_cluster.edge
    with httpx.Client() as client:
        created = create(client, edge, f"real-{uuid.uuid4()}")
        assert created.status_code == 200, created.text
        payment_id = created.json()["payment"]["payment_id"]
        got = client.get(f"{edge}/v1/payments/{payment_id}", headers=KEY)
        assert got.json()["payment"]["status"] == "REQUIRES_CAPTURE"
        listed = client.get(f"{edge}/v1/payments", params={"page_size": 10, "customer_id": "cus_real"}, headers=KEY)
        assert payment_id in [p["payment_id"] for p in listed.json()["payments"]]
        captured = client.post(f"{edge}/v1/payments/{payment_id}:process", headers=KEY,
                               json={"action": "CAPTURE", "amount": 1000})
        assert captured.json()["payment"]["status"] == "CAPTURED", captured.text
        bad = client.post(f"{edge}/v1/payments", headers=KEY, json={"amount": 100, "currency": "XYZ"})
        assert bad.status_code == 400 and "currency" in bad.text
        assert client.get(f"{edge}/v1/payments").status_code == 401


def test_grpcurl_list_describe_and_health_through_envoy(real_cluster):
    assert "payment.v1.PaymentService" in grpcurl(real_cluster, "list")
    assert "rpc CreatePayment" in grpcurl(real_cluster, "describe", "payment.v1.PaymentService")
    assert '"SERVING"' in grpcurl(real_cluster, "grpc.health.v1.Health/Check")


def test_graphql_through_envoy(real_cluster):
    query = "{ payments(page_size: 5) { payments { payment_id status } } }"
    response = httpx.post(f"{real_cluster.edge}/graphql", headers=KEY, json={"query": query}, timeout=10)
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    assert isinstance(response.json()["data"]["payments"]["payments"], list)


def test_grpcui_page_is_served_from_its_pod(real_cluster):
    response = httpx.get(real_cluster.grpcui + "/", timeout=10, follow_redirects=True)
    assert response.status_code == 200 and "grpcui" in response.text.lower()


def test_metrics_are_scraped_from_the_pods(real_cluster):
    """Straight from each pod's address on the node bridge, as Prometheus would."""
    wanted = {"payment": (9464, "/metrics", "grpc_server"), "graphql": (9465, "/metrics", "graphql"),
              "envoy": (9902, "/stats/prometheus", "envoy_cluster_upstream_rq")}
    for component, (port, path, needle) in wanted.items():
        for pod in real_cluster.pods(component):
            body = httpx.get(f"http://{pod['status']['podIP']}:{port}{path}", timeout=10).text
            assert needle in body, (component, body[:500])


def test_helm_test_runs_its_real_pod(real_cluster):
    # Not `helm test --logs`: helm cannot read the logs of a pod with two containers.
    real_cluster.helm("helm test (real test pod)", "test", "payment", timeout=300)
    pod = json.loads(real_cluster.kubectl("get", "pod", "payment-test-edge", "-o", "json").stdout)
    assert pod["spec"]["nodeName"] == "localhost" and pod["status"]["phase"] == "Succeeded"
    for container in ("rest-health", "grpc-health"):
        logs = real_cluster.kubectl("logs", "payment-test-edge", "-c", container).stdout
        assert '"SERVING"' in logs, (container, logs)


def traffic(edge: str, stop: threading.Event, results: list, workers: int = 4) -> None:
    """Creates with unique idempotency keys until `stop`; results get (key, payment_id or None, status)."""

    def worker():
        with httpx.Client() as client:
            while not stop.is_set():
                key = f"real-{uuid.uuid4()}"
                try:
                    response = create(client, edge, key)
                    ok = response.status_code == 200
                    # A failure's figure names its status and Envoy's or the service's message
                    # ("503 upstream connect error ... reset reason: ..."), so a drop says why.
                    results.append((key, response.json()["payment"]["payment_id"] if ok else None,
                                    response.status_code if ok else f"{response.status_code} {reason(response)}"))
                except httpx.HTTPError as exc:
                    results.append((key, None, type(exc).__name__))
                time.sleep(0.02)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for _ in range(workers):
            pool.submit(worker)


def reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:160]
    except ValueError:
        return response.text[:160]


def read_back(client: httpx.Client, edge: str, payment_id: str) -> int | str:
    """GET the payment until the answer is definite: 200 (there) or 404 (lost). A 503 or a reset while the
    edge still learns the replacement pod is retried, for up to a minute."""
    status: int | str = "none"
    for _ in range(60):
        try:
            status = client.get(f"{edge}/v1/payments/{payment_id}", headers=KEY, timeout=10).status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        if status in (200, 404):
            return status
        time.sleep(1)
    return status


def run_traffic_during(edge: str, action, settle: float = 3.0) -> list:
    stop, results = threading.Event(), []
    thread = threading.Thread(target=traffic, args=(edge, stop, results))
    thread.start()
    try:
        time.sleep(settle)
        action()
        time.sleep(settle)
    finally:
        stop.set()
        thread.join(60)
    return results


def test_killing_the_payment_pod_loses_no_acknowledged_payment(real_cluster):
    victim = real_cluster.pods("payment")[0]["metadata"]["name"]

    def kill():
        real_cluster.kubectl("delete", "pod", victim, "--grace-period=0", "--force", "--wait=false")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            pods = [p for p in real_cluster.pods("payment") if p["metadata"]["name"] != victim]
            if pods and all(c["ready"] for p in pods for c in p["status"].get("containerStatuses", [])):
                return
            time.sleep(1)
        raise AssertionError("no replacement payment pod became ready")

    results = run_traffic_during(real_cluster.edge, kill)
    acknowledged = [pid for _, pid, _ in results if pid]
    with httpx.Client() as client:
        found = {pid: read_back(client, real_cluster.edge, pid) for pid in acknowledged}
    lost = [pid for pid, status in found.items() if status != 200]
    figure(test="payment pod killed (SIGKILL, force delete) under create traffic", requests=len(results),
           acknowledged=len(acknowledged), failed=len(results) - len(acknowledged), lost=len(lost),
           failures=sorted({str(r[2]) for r in results if not r[1]}),
           lost_statuses=sorted({str(found[pid]) for pid in lost}))
    assert acknowledged and not lost


def test_rolling_upgrade_with_two_replicas_drops_no_request_and_migrates_first(real_cluster):
    real_cluster.upgrade("helm upgrade to 2 payment replicas", "--set", "payment.replicaCount=2")
    before = {p["metadata"]["name"] for p in real_cluster.pods("payment")}
    assert len(before) == 2
    started_at = datetime.now().astimezone()

    results = run_traffic_during(real_cluster.edge, lambda: real_cluster.upgrade(
        "helm upgrade (rolling, under traffic)", "--set", "payment.replicaCount=2",
        # --set-string: 8 hex digits are all decimal digits ~2% of the time, and --set would then pass
        # a number where the chart's schema wants a string (the upgrade failed that way once)
        "--set-string", f"payment.podAnnotations.rollout={uuid.uuid4().hex[:8]}"))
    failed = [r for r in results if not r[1]]
    figure(test="rolling upgrade, 2 replicas, create traffic", requests=len(results),
           acknowledged=len(results) - len(failed), dropped=len(failed), failures=sorted({str(r[2]) for r in failed}))
    assert results and not failed

    after = real_cluster.pods("payment")
    assert len(after) == 2 and not before & {p["metadata"]["name"] for p in after}
    # The hook Job is deleted once it succeeds (hook-delete-policy); its Completed event stays.
    events = json.loads(real_cluster.kubectl("get", "events", "-o", "json", "--field-selector",
                                             "involvedObject.kind=Job,involvedObject.name=payment-migrate,"
                                             "reason=Completed").stdout)["items"]
    completions = [datetime.fromisoformat((e.get("lastTimestamp") or e["eventTime"]).replace("Z", "+00:00"))
                   for e in events]
    started_at = started_at.replace(microsecond=0)  # the API's timestamps are whole seconds
    completions = [c for c in completions if c >= started_at]
    assert completions, f"no migration Job completed during the upgrade: {events}"
    finished = max(completions)
    first_new_pod = min(datetime.fromisoformat(p["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
                        for p in after)
    figure(test="migration hook before the new pods", job_completed=str(finished), first_new_pod=str(first_new_pod))
    assert started_at <= finished <= first_new_pod


def test_the_reconcile_cronjobs_job_completes(real_cluster):
    name = f"reconcile-now-{uuid.uuid4().hex[:6]}"
    real_cluster.kubectl("create", "job", name, "--from=cronjob/payment-reconcile")
    started = time.monotonic()
    real_cluster.kubectl("wait", f"job/{name}", "--for=condition=complete", "--timeout=180s", timeout=200)
    logs = real_cluster.kubectl("logs", f"job/{name}").stdout
    figure(test="reconcile Job from the CronJob", seconds=round(time.monotonic() - started, 1),
           log_lines=len(logs.splitlines()))


PROBE = """for target in payment-envoy:8080 payment-postgresql:5432 payment-redis:6379 payment:50051; do
  if timeout 5 bash -c "exec 3<>/dev/tcp/${target%:*}/${target#*:}" 2>/dev/null; then echo "$target open"
  else echo "$target closed"; fi
done"""


def test_network_policies_are_enforced_for_a_pod_they_do_not_name(real_cluster):
    """kube-router's firewall on the real node: a pod outside the release reaches the edge (anyone may)
    but not PostgreSQL, Redis or the payment gRPC port, which only the release's own components may call.
    The bridge plugin alone lets all four through."""
    if os.environ.get("REAL_NETWORK_POLICY") != "1":
        pytest.skip("NetworkPolicies are not enforced by the bridge plugin; REAL_NETWORK_POLICY=1 adds kube-router")
    name = f"np-probe-{uuid.uuid4().hex[:6]}"
    context = {"runAsNonRoot": True, "runAsUser": 65532, "allowPrivilegeEscalation": False,
               "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    overrides = {"spec": {
        "nodeSelector": {"payment.local/real-node": "true"},
        "tolerations": [{"key": "payment.local/real-node", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [{"name": name, "image": "curlimages/curl:bookworm-local", "imagePullPolicy": "Never",
                        "command": ["bash", "-c", PROBE], "securityContext": context}]}}
    real_cluster.kubectl("run", name, "--image=curlimages/curl:bookworm-local", "--restart=Never",
                         f"--overrides={json.dumps(overrides)}")
    real_cluster.kubectl("wait", f"pod/{name}", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s",
                         timeout=150)
    seen = dict(line.split() for line in real_cluster.kubectl("logs", name).stdout.splitlines())
    figure(test="NetworkPolicy probe from a pod outside the release", **seen)
    assert seen == {"payment-envoy:8080": "open", "payment-postgresql:5432": "closed",
                    "payment-redis:6379": "closed", "payment:50051": "closed"}
