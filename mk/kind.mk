# Kubernetes targets: kind cluster, image, Helm chart, observability, chart and
# Dockerfile lint. Included by the main Makefile (`include mk/kind.mk`).
# kind-up / kind-observability need Docker, kubectl and Go (for kind) on the
# machine; chart-lint and hadolint run anywhere `make setup` has run.

TOOLS_BIN ?= .tools/bin
VENV ?= .venv
HELM ?= $(TOOLS_BIN)/helm
KIND ?= $(TOOLS_BIN)/kind
KUBECTL ?= kubectl
DOCKER ?= docker

KIND_VERSION ?= v0.31.0
KIND_CLUSTER ?= payment
KIND_CONFIG ?= kind/cluster.yaml
KIND_DEV_CLUSTER ?= payment-dev
KIND_DEV_CONFIG ?= kind/cluster-dev.yaml
CHART ?= charts/payment
RELEASE ?= payment
NAMESPACE ?= payment
IMAGE_REPO ?= payment-service
# kube-prometheus-stack chart version (OCI, ghcr.io/prometheus-community).
KPS_VERSION ?= 80.13.3
KPS_RELEASE ?= kps
KPS_NAMESPACE ?= monitoring
# helm built with `go install` assumes Kubernetes 1.20 for offline rendering;
# lint against the version the kind node runs.
CHART_KUBE_VERSION ?= 1.35.0

KIND_CONTEXT = kind-$(KIND_CLUSTER)
KUBE_FLAGS = --kube-context $(KIND_CONTEXT)

.PHONY: kind-up kind-down kind-dev-up kind-dev-down kind-observability chart-lint hadolint

$(KIND):
	mkdir -p $(TOOLS_BIN)
	GOBIN=$(abspath $(TOOLS_BIN)) go install sigs.k8s.io/kind@$(KIND_VERSION)

kind-up: $(KIND) $(HELM) ## cluster, image and chart on kind; localhost:8080 is the edge (docs/kubernetes.md)
	$(KIND) get clusters | grep -qx '$(KIND_CLUSTER)' || $(KIND) create cluster --name $(KIND_CLUSTER) --config $(KIND_CONFIG)
	$(DOCKER) build --target runtime -t $(IMAGE_REPO):dev .
	@# Tag by image id so every code change rolls the pods; `dev` alone would not.
	set -e; tag=dev-$$($(DOCKER) image inspect -f '{{.Id}}' $(IMAGE_REPO):dev | cut -c8-19); \
	$(DOCKER) tag $(IMAGE_REPO):dev $(IMAGE_REPO):$$tag; \
	$(KIND) load docker-image $(IMAGE_REPO):$$tag --name $(KIND_CLUSTER); \
	observability=; \
	if $(KUBECTL) --context $(KIND_CONTEXT) get crd servicemonitors.monitoring.coreos.com >/dev/null 2>&1; then \
	  observability="-f kind/values-observability.yaml"; fi; \
	$(HELM) upgrade --install $(RELEASE) $(CHART) $(KUBE_FLAGS) --namespace $(NAMESPACE) --create-namespace \
	  -f kind/values.yaml $$observability --set image.tag=$$tag --wait --timeout 10m
	$(HELM) test $(RELEASE) $(KUBE_FLAGS) --namespace $(NAMESPACE) --logs
	@echo "REST/gRPC/GraphQL: http://localhost:8080  grpcui: http://localhost:8081  (docs/kubernetes.md)"

kind-down: $(KIND) ## delete the kind cluster and everything in it
	$(KIND) delete cluster --name $(KIND_CLUSTER)

kind-dev-up: $(KIND) ## the kind cluster Tilt uses (no host ports); then run `tilt up`
	$(KIND) get clusters | grep -qx '$(KIND_DEV_CLUSTER)' || $(KIND) create cluster --name $(KIND_DEV_CLUSTER) --config $(KIND_DEV_CONFIG)

kind-dev-down: $(KIND) ## delete the Tilt kind cluster
	$(KIND) delete cluster --name $(KIND_DEV_CLUSTER)

kind-observability: $(HELM) ## kube-prometheus-stack on kind (Grafana :3000, Prometheus :9090) + chart monitors
	$(HELM) upgrade --install $(KPS_RELEASE) oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack \
	  --version $(KPS_VERSION) $(KUBE_FLAGS) --namespace $(KPS_NAMESPACE) --create-namespace \
	  -f kind/kube-prometheus-stack.yaml --wait --timeout 15m
	if $(HELM) status $(RELEASE) $(KUBE_FLAGS) --namespace $(NAMESPACE) >/dev/null 2>&1; then \
	  $(HELM) upgrade $(RELEASE) $(CHART) $(KUBE_FLAGS) --namespace $(NAMESPACE) --reuse-values \
	    -f kind/values-observability.yaml --wait --timeout 10m; fi
	@echo "Grafana: http://localhost:3000 (user admin; password: make)  Prometheus: http://localhost:9090"

chart-lint: $(HELM) ## helm lint --strict with every supported values set
	$(HELM) lint --strict --kube-version $(CHART_KUBE_VERSION) $(CHART)
	for values in $(CHART)/ci/*-values.yaml kind/values.yaml; do \
	  $(HELM) lint --strict --kube-version $(CHART_KUBE_VERSION) $(CHART) -f $$values || exit 1; done
	$(HELM) lint --strict --kube-version $(CHART_KUBE_VERSION) $(CHART) -f kind/values.yaml -f kind/values-tilt.yaml

hadolint: ## lint the Dockerfile
	$(VENV)/bin/hadolint Dockerfile
