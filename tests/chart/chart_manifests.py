"""Read rendered Kubernetes manifests: objects by kind and name, pod specs, containers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

WORKLOADS = ("Deployment", "StatefulSet", "Job", "CronJob", "Pod")


@dataclass(frozen=True)
class Pod:
    """A pod template (or a bare Pod) and the object that owns it."""

    owner: Obj
    metadata: Obj
    spec: Obj

    @property
    def name(self) -> str:
        return f"{self.owner['kind']}/{self.owner['metadata']['name']}"

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.get("labels", {})

    def containers(self) -> Iterator[Obj]:
        yield from self.spec.get("initContainers", [])
        yield from self.spec["containers"]


class Manifests:
    def __init__(self, objects: list[Obj]):
        self.objects = objects

    def __iter__(self) -> Iterator[Obj]:
        return iter(self.objects)

    def of_kind(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> Obj:
        for obj in self.of_kind(kind):
            if obj["metadata"]["name"] == name:
                return obj
        raise KeyError(f"{kind}/{name} not rendered; have {[o['metadata']['name'] for o in self.of_kind(kind)]}")

    def has(self, kind: str, name: str) -> bool:
        return any(o["metadata"]["name"] == name for o in self.of_kind(kind))

    def pods(self) -> list[Pod]:
        pods = []
        for obj in self.objects:
            kind = obj["kind"]
            if kind == "Pod":
                pods.append(Pod(obj, obj["metadata"], obj["spec"]))
            elif kind == "CronJob":
                template = obj["spec"]["jobTemplate"]["spec"]["template"]
                pods.append(Pod(obj, template["metadata"], template["spec"]))
            elif kind in WORKLOADS:
                template = obj["spec"]["template"]
                pods.append(Pod(obj, template["metadata"], template["spec"]))
        return pods

    def pod(self, component: str) -> Pod:
        for pod in self.pods():
            if pod.labels.get("app.kubernetes.io/component") == component:
                return pod
        raise KeyError(f"no pod with component {component}")

    def components(self) -> set[str]:
        return {p.labels["app.kubernetes.io/component"] for p in self.pods()}
