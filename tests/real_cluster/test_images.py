"""What the built payment-service image contains (the issue 10 rule, on the image itself rather than the
build context that tests/chart/test_dockerfile.py checks): the runtime dependencies and the service's
own packages, never the development tooling, devtools/ or tests/."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.real_cluster.conftest import REPO, figure

pytestmark = pytest.mark.real_cluster

LIST = """
import importlib.metadata as m, json, os, sysconfig
from packaging.requirements import Requirement
site = sysconfig.get_paths()["purelib"]
# Requirements that only this interpreter's version pulls in (the lock is a pip freeze on another 3.11).
reqs = [Requirement(r) for d in m.distributions() for r in d.requires or []]
by_version = sorted({r.name.lower().replace("_", "-") for r in reqs if r.marker and "python" in str(r.marker)
                     and "extra" not in str(r.marker) and r.marker.evaluate()})
print(json.dumps({"dists": sorted(d.metadata["Name"].lower().replace("_", "-") for d in m.distributions()),
                  "top": sorted(os.listdir(site)), "app": os.path.exists("/app"), "by_version": by_version}))
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
    unlocked = installed - locked - {"payment-service", "pip", "setuptools"}
    # Debian's python3 is 3.11.2: redis asks for async-timeout below 3.11.3, which the lock (frozen on a
    # later 3.11) does not pin. Only such interpreter-version requirements may be unpinned.
    figure(test="payment image: installed but not in the lock", packages=sorted(unlocked))
    assert unlocked <= set(payment_image["by_version"]), unlocked - set(payment_image["by_version"])
    dev_only = dev - runtime
    assert not installed & dev_only, installed & dev_only


def test_the_image_has_no_devtools_tests_or_source_tree(payment_image):
    top = set(payment_image["top"])
    assert {"service", "gateway", "common"} <= top
    assert not top & {"devtools", "tests", "bench", "scripts", "tools"}, top
    assert not payment_image["app"], "/app is the dev stage's (Tilt) source tree, not the runtime image's"
