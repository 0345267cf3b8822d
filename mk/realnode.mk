# The real node of `make cluster-up REAL=1` (devtools/realnode.py) and its test tier. Included by the
# Makefile. The tier needs root, the images (`make images`, which it runs) and the control plane of
# devtools/cluster.py; `make test` runs it too.
.PHONY: test-real-cluster

test-real-cluster: ## the chart's pods running for real on a kubelet node (containerd, runc, CNI bridge)
	@$(PYTEST) -q -p no:cacheprovider -m real_cluster tests/real_cluster
