"""The README's examples, run verbatim against the real stack (only the port differs)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

import pytest

from devtools.devstack import VENV_BIN

pytestmark = pytest.mark.e2e

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def examples() -> str:
    text = README.read_text()
    section = text[text.index("## Call it"):text.index("### Statuses")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert blocks, "README lost its examples"
    return "\n".join(blocks)


def test_readme_examples_work_as_written(stack):
    port = stack.rest.rsplit(":", 1)[1]
    script = "set -euo pipefail\n" + examples().replace("localhost:8080", f"localhost:{port}").replace(
        "localhost:8443", f"localhost:{stack.env['ENVOY_TLS_PORT']}")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, cwd=README.parent,
                          env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert '"status":"PARTIALLY_REFUNDED"' in out and '"amount_refunded":"500"' in out
    assert '"code":3' in out and "ISO 4217" in out
    assert "payment.v1.PaymentService" in out and out.count('"status": "SERVING"') == 2
    assert '{"status":"SERVING","version":' in out  # GET /v1/health over TLS
    assert '{"data":{"payments":{"payments":[{"payment_id":' in out
