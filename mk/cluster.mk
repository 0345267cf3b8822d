# A real Kubernetes control plane on this machine, no Docker (docs/kubernetes.md): etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler v1.35.0 and a kwok node, all from `make setup`'s pinned tools
# modules (tools/), on free loopback ports, state in $(CLUSTER_DIR). Included by the Makefile.
# REAL=1 adds a real kubelet node (issue 17, devtools/realnode.py).
CLUSTER_DIR ?= .data/cluster
REAL ?=
CONFTEST ?= $(TOOLS_BIN)/conftest
CHECKOV ?= $(TOOLS_BIN)/checkov

.PHONY: cluster-up cluster-down cluster-status cluster-install test-cluster chart-policy

cluster-up: ## local Kubernetes (control plane + kwok node); prints the KUBECONFIG to use
	@$(PY) -m devtools.cluster up --dir $(CLUSTER_DIR) $(if $(filter 1,$(REAL)),--real)

cluster-down: ## stop the local Kubernetes (its processes by pid) and delete its data
	@$(PY) -m devtools.cluster down --dir $(CLUSTER_DIR)

cluster-status: ## is the local Kubernetes running?
	@$(PY) -m devtools.cluster status --dir $(CLUSTER_DIR)

cluster-install: ## install the chart (kind/values.yaml) into the local Kubernetes, then helm test
	@KUBECONFIG=$(CLUSTER_DIR)/kubeconfig $(TOOLS_BIN)/helm upgrade --install $(RELEASE) $(CHART) \
	  --namespace $(NAMESPACE) --create-namespace -f kind/values.yaml --wait --wait-for-jobs --timeout 5m
	@KUBECONFIG=$(CLUSTER_DIR)/kubeconfig $(TOOLS_BIN)/helm test $(RELEASE) --namespace $(NAMESPACE)

test-cluster: ## the chart on a fresh local Kubernetes: apply, install, upgrade, test, ct, uninstall
	@$(PYTEST) -q -m cluster tests

chart-policy: ## conftest (charts/payment/policy) and checkov over every rendered values set
	@$(PYTEST) -q -p no:cacheprovider tests/chart/test_chart_policy.py
