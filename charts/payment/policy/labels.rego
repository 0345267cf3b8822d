# Every object carries the chart's labels (one helper, "payment.labels", renders them), and every pod
# template the labels its Services, NetworkPolicies and ServiceMonitor select on.
package main

import rego.v1

object_labels := {
	"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
	"app.kubernetes.io/part-of", "app.kubernetes.io/version", "app.kubernetes.io/managed-by",
	"helm.sh/chart",
}

template_kinds := workload_kinds | {"CronJob"}

selector_labels := {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}

deny contains msg if {
	some label in object_labels
	not input.metadata.labels[label]
	msg := sprintf("%s/%s: missing label %q", [input.kind, input.metadata.name, label])
}

template_labels := object.get(input, ["spec", "template", "metadata", "labels"], {}) if {
	input.kind in workload_kinds
}

template_labels := object.get(input, ["spec", "jobTemplate", "spec", "template", "metadata", "labels"], {}) if {
	input.kind == "CronJob"
}

deny contains msg if {
	input.kind in template_kinds
	some label in selector_labels
	object.get(template_labels, label, "") == ""
	msg := sprintf("%s/%s: pod template lacks label %q", [input.kind, input.metadata.name, label])
}
