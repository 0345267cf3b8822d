"""The images `make images` builds here: clean recipes, one per image the chart runs, and the very
user each pod's securityContext asks for (runAsNonRoot can only check a number)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest
import yaml
from chart_env import CHART, KUBE_VERSION, REPO

pytestmark = pytest.mark.chart

HELM = REPO / ".tools" / "bin" / "helm"


def make(*target: str) -> str:
    return subprocess.run(["make", "-s", "-C", str(REPO), *target], capture_output=True, text=True, check=True).stdout


def recipes() -> dict[str, str]:
    """Image reference -> its Containerfile (or the project's Dockerfile)."""
    return dict(line.split() for line in make("images-list").splitlines())


def final_user(recipe: str) -> str:
    text = (REPO / recipe).read_text()
    if recipe == "Dockerfile":  # the runtime stage is the base stage, unchanged
        text = text.split(" AS dev")[0]
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users, f"{recipe} sets no USER"
    return users[-1]


def pod_spec(doc: dict) -> dict:
    if doc["kind"] == "Pod":
        return doc["spec"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def test_every_recipe_is_hadolint_clean():
    hadolint = REPO / ".venv" / "bin" / "hadolint"
    if not hadolint.exists():
        if os.environ.get("CI"):
            pytest.fail("hadolint missing (.venv/bin/hadolint; make setup)")
        pytest.skip("hadolint missing (.venv/bin/hadolint; make setup)")
    for recipe in sorted(set(recipes().values())):
        proc = subprocess.run([str(hadolint), str(REPO / recipe)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{recipe}: {proc.stdout}{proc.stderr}"


def test_every_image_runs_as_a_numeric_non_root_user():
    for ref, recipe in recipes().items():
        user = final_user(recipe)
        assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), f"{ref} ({recipe}) runs as {user}"


def test_stand_ins_keep_the_chart_repository_and_say_they_are_local():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart_repos = {
        values["image"]["repository"],
        *(values[c]["image"]["repository"] for c in ("envoy", "postgresql", "redis", "grpcui")),
        *(values["tests"][key].rsplit(":", 1)[0] for key in ("curlImage", "grpcurlImage")),
    }
    built = {ref.rsplit(":", 1)[0]: ref.rsplit(":", 1)[1] for ref in recipes()}
    assert chart_repos <= set(built), chart_repos - set(built)
    for repo, tag in built.items():
        if repo != values["image"]["repository"] and not repo.startswith("localhost/"):
            assert tag.endswith("-local"), f"{repo}:{tag} could be mistaken for the upstream image"


def test_each_pod_runs_its_image_as_the_user_the_image_declares():
    """helm template with `make images-helm-set`: runAsUser of every container == its image's USER."""
    if not HELM.exists():
        pytest.skip("helm missing (make setup)")
    flags = shlex.split(make("images-helm-set"))
    rendered = subprocess.run(
        [
            str(HELM),
            "template",
            "payment",
            str(CHART),
            "--kube-version",
            KUBE_VERSION,
            "-f",
            str(REPO / "kind" / "values.yaml"),
            *flags,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    by_ref = recipes()
    seen = set()
    for doc in yaml.safe_load_all(rendered):
        if not doc or doc["kind"] not in ("Deployment", "StatefulSet", "Job", "CronJob", "Pod"):
            continue
        pod = pod_spec(doc)
        for container in pod["containers"]:
            ref = container["image"]
            assert ref in by_ref, f"{doc['metadata']['name']} runs {ref}, which make images does not build"
            uid = str(container.get("securityContext", {}).get("runAsUser") or pod["securityContext"]["runAsUser"])
            assert final_user(by_ref[ref]) == f"{uid}:{uid}", (doc["metadata"]["name"], ref)
            seen.add(ref)
    assert seen == set(by_ref) - {ref for ref in by_ref if "pause" in ref}
