"""What the built payment-service image contains (the issue 10 rule, on the image itself rather than the
build context that tests/chart/test_dockerfile.py checks): the runtime dependencies and the service's
own packages, never the development tooling, devtools/ or tests/."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.real_cluster.conftest import REPO

pytestmark = pytest.mark.real_cluster

LIST = """
import importlib.metadata as m, json, os, sysconfig
site = sysconfig.get_paths()["purelib"]
print(json.dumps({"dists": sorted(d.metadata["Name"].lower().replace("_", "-") for d in m.distributions()),
                  "top": sorted(os.listdir(site)), "app": os.path.exists("/app")}))
"""


def names(path: str) -> set[str]:
    lines = (REPO / path).read_text().splitlines()
    return {re.split(r"[\[<>=!~; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
            for line in lines if line.strip() and not line.startswith(("#", "-", " "))}


@pytest.fixture(scope="module")
def payment_image(images) -> dict:
    ref = subprocess.run(["make", "-s", "-C", str(REPO), "images-list"], capture_output=True, text=True,
                         check=True).stdout.split()[0]
    proc = subprocess.run(["podman", "run", "--rm", "--network", "none", "--entrypoint", "python", ref, "-c", LIST],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_image_holds_the_locked_runtime_dependencies_and_no_dev_tooling(payment_image):
    installed = set(payment_image["dists"])
    runtime, dev = names("requirements/base.in"), names("requirements/dev.in")
    assert runtime <= installed, runtime - installed
    locked = names("requirements/lock.txt")
    assert installed - locked <= {"payment-service", "pip", "setuptools"}, installed - locked
    dev_only = dev - runtime
    assert not installed & dev_only, installed & dev_only


def test_the_image_has_no_devtools_tests_or_source_tree(payment_image):
    top = set(payment_image["top"])
    assert {"service", "gateway", "common"} <= top
    assert not top & {"devtools", "tests", "bench", "scripts", "tools"}, top
    assert not payment_image["app"], "/app is the dev stage's (Tilt) source tree, not the runtime image's"
