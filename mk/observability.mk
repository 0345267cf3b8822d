# Observability checks, included by the Makefile (`-include mk/*.mk`).
# promtool comes with Debian's prometheus package (make setup installs it).
PROMTOOL ?= promtool
PROMETHEUS ?= prometheus
.PHONY: promtool-check check-observability prometheus

promtool-check: ## promtool: alert rules (syntax and unit tests) and the scrape config
	@cd observability/prometheus && $(PROMTOOL) check rules alerts.yaml \
	  && $(PROMTOOL) test rules alerts_test.yaml && $(PROMTOOL) check config prometheus.yml

check-observability: promtool-check ## evaluate every dashboard and alert expression on a real Prometheus scraping a fresh stack
	@$(PYTEST) -q -p no:cacheprovider tests/e2e/test_observability.py

prometheus: ## run Prometheus on :9090 scraping `make run` (default ports), with the alert rules
	@mkdir -p .data/prometheus
	@$(PROMETHEUS) --config.file=observability/prometheus/prometheus.yml --storage.tsdb.path=.data/prometheus \
	  --web.listen-address=127.0.0.1:9090
