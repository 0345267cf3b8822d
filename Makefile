# Entry points for people and CI (DESIGN.md). `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
TOOLS_BIN ?= $(CURDIR)/.tools/bin
PY := $(VENV)/bin/python
BUF := $(VENV)/bin/buf
PYTEST := $(PY) -m pytest
export PATH := $(CURDIR)/$(VENV)/bin:$(TOOLS_BIN):$(PATH)
SITE := $(shell [ -x $(PY) ] && $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

.DEFAULT_GOAL := help
.PHONY: help setup run test test-unit test-integration test-e2e test-chart lint generate check-generated \
        protodeps lock bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## install everything needed, idempotently (system packages, .venv, pinned tools)
	@bash scripts/setup.sh

run: ## run the whole local stack in the foreground (Ctrl-C stops it)
	@$(PY) -m devtools run

protodeps: ## copy google/api and google/rpc protos from googleapis-common-protos
	@mkdir -p build/protodeps/google/api build/protodeps/google/rpc
	@cp $(SITE)/google/api/{annotations,http,httpbody}.proto build/protodeps/google/api/
	@cp $(SITE)/google/rpc/{status,error_details,code}.proto build/protodeps/google/rpc/

OPENAPI := gateway/static/openapi.json
GENERATED := service/gen clients/python/src/payment_client/gen envoy/payment.pb $(OPENAPI)

generate: protodeps ## regenerate Python stubs (service and payment-client), Envoy's descriptor set and the OpenAPI document from protos/
	@test -x .tools/bin/protoc-gen-openapiv2 \
	  || { echo "protoc-gen-openapiv2 is missing: run 'make setup' (scripts/setup.d/15-openapiv2.sh)" >&2; exit 1; }
	@$(BUF) generate
	@$(BUF) build --exclude-source-info -o envoy/payment.pb
	@$(PY) tools/openapi_post.py build/openapi/payment.swagger.json $(OPENAPI)

check-generated: generate ## fail when committed generated code is stale
	@git diff --exit-code --stat -- $(GENERATED) \
	  || { echo "generated code is stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- $(GENERATED))" \
	  || { echo "untracked generated files: run 'make generate' and commit" >&2; exit 1; }

lint: protodeps ## buf lint (STANDARD) and ruff
	@$(BUF) lint
	@$(VENV)/bin/ruff check service gateway common devtools tests tools bench clients/python

test: lint check-generated ## the whole suite: lint, generated code, unit, integration, e2e, chart, cluster
	@$(PYTEST) -q -p no:cacheprovider tests

test-unit: ## unit tests (fakes through bootstrap)
	@$(PYTEST) -q -m unit tests

test-integration: ## integration tests (real PostgreSQL and Redis)
	@$(PYTEST) -q -m integration tests

test-e2e: ## end-to-end tests through the real Envoy (curl-like HTTP, grpcurl)
	@$(PYTEST) -q -m e2e tests

test-chart: ## Helm chart, Dockerfile and Tiltfile checks
	@$(PYTEST) -q -m chart tests

lock: ## re-resolve requirements/lock.txt from requirements/dev.in
	@$(VENV)/bin/pip install -q -r requirements/dev.in
	@{ echo "# Locked from requirements/dev.in with: make lock. Install: pip install -r requirements/lock.txt"; \
	   $(VENV)/bin/pip freeze --exclude-editable; } > requirements/lock.txt

clean: ## remove local data, logs and build output (not .venv or tools)
	rm -rf .data build .pytest_cache

-include mk/*.mk

bench: ## latency, throughput and memory of the real local stack (JSON on stdout)
	@$(PY) -m bench.bench
