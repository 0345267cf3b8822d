# The promises the chart makes about every pod it renders (docs/kubernetes.md, "Policy as code"):
# non-root, no privilege escalation, the restricted security context, resources on every container,
# probes on every long-running container, pinned image tags. conftest evaluates each rendered
# object as `input`; every `deny` message fails the check (tests/chart/test_chart_policy.py runs it
# on every values set the project ships).
package main

import rego.v1

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

long_running_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}

pod_spec := input.spec if input.kind == "Pod"

pod_spec := input.spec.template.spec if input.kind in workload_kinds

pod_spec := input.spec.jobTemplate.spec.template.spec if input.kind == "CronJob"

containers contains c if some c in pod_spec.containers

containers contains c if some c in pod_spec.initContainers

subject := sprintf("%s/%s", [input.kind, input.metadata.name])

# The container's setting, else the pod's, else `default`.
effective(c, key, default_value) := object.get(c, ["securityContext", key], object.get(pod_spec, ["securityContext", key], default_value))

deny contains msg if {
	some c in containers
	effective(c, "runAsNonRoot", false) != true
	msg := sprintf("%s: container %q may run as root: set runAsNonRoot: true", [subject, c.name])
}

deny contains msg if {
	some c in containers
	effective(c, "runAsUser", null) == 0
	msg := sprintf("%s: container %q runs as uid 0", [subject, c.name])
}

deny contains msg if {
	some c in containers
	object.get(c, ["securityContext", "allowPrivilegeEscalation"], true) != false
	msg := sprintf("%s: container %q must set allowPrivilegeEscalation: false", [subject, c.name])
}

deny contains msg if {
	some c in containers
	object.get(c, ["securityContext", "privileged"], false) == true
	msg := sprintf("%s: container %q is privileged", [subject, c.name])
}

deny contains msg if {
	some c in containers
	not "ALL" in object.get(c, ["securityContext", "capabilities", "drop"], [])
	msg := sprintf("%s: container %q must drop ALL capabilities", [subject, c.name])
}

deny contains msg if {
	some c in containers
	object.get(effective(c, "seccompProfile", {}), "type", "") != "RuntimeDefault"
	msg := sprintf("%s: container %q needs seccompProfile RuntimeDefault", [subject, c.name])
}

resource_fields := [["requests", "cpu"], ["requests", "memory"], ["limits", "cpu"], ["limits", "memory"]]

deny contains msg if {
	some c in containers
	some field in resource_fields
	object.get(c, array.concat(["resources"], field), null) == null
	msg := sprintf("%s: container %q has no resources.%s.%s", [subject, c.name, field[0], field[1]])
}

deny contains msg if {
	input.kind in long_running_kinds
	some c in pod_spec.containers
	some probe in ["readinessProbe", "livenessProbe"]
	not c[probe]
	msg := sprintf("%s: long-running container %q has no %s", [subject, c.name, probe])
}

# A tag that names one build: present and not "latest" (or a digest).
pinned(image) if contains(image, "@sha256:")

pinned(image) if {
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	not endswith(last, ":latest")
}

deny contains msg if {
	some c in containers
	not pinned(c.image)
	msg := sprintf("%s: container %q image %q is not pinned to a tag (none, or latest)", [subject, c.name, c.image])
}

# Writable root filesystems exist only under Tilt (liveUpdate.enabled): worth a warning, not a failure.
warn contains msg if {
	some c in containers
	object.get(c, ["securityContext", "readOnlyRootFilesystem"], false) != true
	msg := sprintf("%s: container %q has a writable root filesystem (development values only)", [subject, c.name])
}
