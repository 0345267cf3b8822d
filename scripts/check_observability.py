"""Check the shipped dashboard and alert rules against a real Prometheus scraping a real stack.

Debian's Prometheus is started on a free port with the scrape config of
observability/prometheus/prometheus.yml pointed at the stack (payment service
metrics, GraphQL metrics when something listens there, Envoy's stats
listener) at a 1s interval. Traffic is driven through the Envoy edge (creates,
captures, refunds, cancels, declines, errors, cache hits and misses, a forged
webhook), and then EVERY expression of observability/grafana/payment-dashboard.json
and observability/prometheus/alerts.yaml is evaluated through /api/v1/query.
A check fails when an expression does not evaluate, names a metric that has no
series, uses a label (in a matcher, or in by/without/on/ignoring/group_*) that
none of its metrics carries, or (dashboard panels) returns no data at all; or
when a payment-service label value looks like an id or key (unbounded cardinality).

    python scripts/check_observability.py      # against a running `make run` (ports as in .env)
    make check-observability                    # promtool checks + the e2e test (starts its own stack)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping

import httpx
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "observability" / "grafana" / "payment-dashboard.json"
ALERTS = ROOT / "observability" / "prometheus" / "alerts.yaml"
SCRAPE_CONFIG = ROOT / "observability" / "prometheus" / "prometheus.yml"
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "5m"}
ID_LIKE = re.compile(r"^(pay|re|acct|sk|pk|pm|cus|whsec)_[A-Za-z0-9]{6,}")


# ---- expressions ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expression:
    source: str  # "dashboard: <panel title>" or "alert: <name>"
    promql: str
    require_data: bool


@dataclasses.dataclass
class Selector:
    metric: str
    labels: dict[str, str]  # label -> the value it must equal ("" for regex and negative matchers)


@dataclasses.dataclass
class Parsed:
    selectors: list[Selector]
    grouping: set[str]


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def expressions(dashboard: pathlib.Path = DASHBOARD, alerts: pathlib.Path = ALERTS) -> list[Expression]:
    found = [Expression(f"dashboard: {panel['title']}", grafana_to_promql(target["expr"]), True)
             for panel in _panels(json.loads(dashboard.read_text())["panels"])
             for target in panel.get("targets", []) if target.get("expr")]
    for group in yaml.safe_load(alerts.read_text())["groups"]:
        found += [Expression(f"alert: {rule.get('alert') or rule.get('record')}", rule["expr"], False)
                  for rule in group["rules"]]
    return found


TOKEN = re.compile(r"""
    (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<matchers>\{(?:"(?:\\.|[^"\\])*"|[^{}"])*\})
  | (?P<range>\[[^\]]*\])
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z0-9]*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<other>\S)
""", re.VERBOSE)
MATCHER = re.compile(r"""\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"((?:\\.|[^"\\])*)"\s*,?""")
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"bool", "and", "or", "unless", "offset", "inf", "nan", "atan2"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
                "topk", "quantile", "limitk", "limit_ratio"}


def tokens(expr: str) -> list[tuple[str, str]]:
    return [(match.lastgroup or "", match.group()) for match in TOKEN.finditer(expr)]


def matchers(block: str) -> dict[str, str]:
    return {name: value if op == "=" else "" for name, op, value in MATCHER.findall(block[1:-1])}


def parse(expr: str) -> Parsed:
    """The metric selectors and grouping labels of a PromQL expression (enough of PromQL for ours)."""
    parsed, items, i = Parsed([], set()), tokens(expr), 0
    while i < len(items):
        kind, text = items[i]
        following = items[i + 1] if i + 1 < len(items) else ("", "")
        if kind == "ident" and text in GROUPING and following[0] == "open":
            i += 2
            while i < len(items) and items[i][0] != "close":
                parsed.grouping |= {items[i][1]} if items[i][0] == "ident" else set()
                i += 1
        elif kind == "ident" and following[0] != "open" and text not in KEYWORDS | GROUPING | AGGREGATIONS:
            labels = matchers(following[1]) if following[0] == "matchers" else {}
            parsed.selectors.append(Selector(text, labels))
        elif kind == "matchers" and (i == 0 or items[i - 1][0] != "ident"):
            labels = matchers(text)
            parsed.selectors.append(Selector(labels.pop("__name__", ""), labels))
        i += 1
    return parsed


# ---- Prometheus -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@dataclasses.dataclass(frozen=True)
class Targets:
    rest: str  # the Envoy edge, e.g. http://127.0.0.1:8080
    api_key: str
    payment_metrics_port: int
    envoy_stats_port: int
    graphql_metrics_port: int | None = None
    deliver_metrics_port: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], api_key: str) -> Targets:
        return cls(rest=f"http://127.0.0.1:{env.get('ENVOY_PORT') or 8080}", api_key=api_key,
                   payment_metrics_port=int(env.get("METRICS_PORT") or 9464),
                   envoy_stats_port=int(env.get("ENVOY_STATS_PORT") or 9902),
                   graphql_metrics_port=int(env.get("GRAPHQL_METRICS_PORT") or 9465),
                   deliver_metrics_port=int(env.get("DELIVER_METRICS_PORT") or 9466))


def scrape_config(targets: Targets) -> dict:
    """The repository's scrape config, pointed at ``targets``, scraping every second."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"}
    ports = {"payment-service": targets.payment_metrics_port, "envoy": targets.envoy_stats_port,
             "payment-graphql": targets.graphql_metrics_port, "payment-deliver": targets.deliver_metrics_port}
    jobs = []
    for job in config["scrape_configs"]:
        port = ports.get(job["job_name"])
        if port and listening(port):
            job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
            jobs.append(job)
    config["scrape_configs"] = jobs
    return config


class Prometheus:
    """Debian's /usr/bin/prometheus on a free port, with its own storage in ``work_dir``."""

    def __init__(self, config: dict, work_dir: pathlib.Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.work_dir = work_dir
        self.config = config
        self.process: subprocess.Popen | None = None
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def start(self) -> Prometheus:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        shutil.copy(ALERTS, self.work_dir / ALERTS.name)
        (self.work_dir / "prometheus.yml").write_text(yaml.safe_dump(self.config))
        self.log = (self.work_dir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [binary, f"--config.file={self.work_dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.work_dir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=warn"], stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait(lambda: self.http.get("/-/ready").status_code == 200, "Prometheus to be ready")
        return self

    def stop(self) -> None:
        self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.log.close()

    def _wait(self, ready, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.work_dir / 'prometheus.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if ready():
                    return
            time.sleep(0.25)
        raise TimeoutError(f"timed out waiting for {what}")

    def api(self, path: str, **params) -> dict:
        body = self.http.get(f"/api/v1/{path}", params=params).json()
        if body.get("status") != "success":
            raise ValueError(body.get("error", body))
        return body["data"]

    def query(self, promql: str) -> list[dict]:
        return self.api("query", query=promql)["result"]

    def scalar(self, promql: str) -> float:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else 0.0

    def label_names(self, metric: str) -> set[str] | None:
        """The labels of ``metric``'s series, or None when it has none."""
        series = self.api("series", **{"match[]": metric})
        return {label for item in series for label in item} - {"__name__"} if series else None

    def wait_for_targets(self, jobs: int) -> None:
        def all_up() -> bool:
            active = self.api("targets")["activeTargets"]
            return len(active) == jobs and all(target["health"] == "up" for target in active)

        self._wait(all_up, f"{jobs} scrape targets to be up")

    def wait_for(self, promql: str, at_least: float, what: str) -> None:
        self._wait(lambda: self.scalar(promql) >= at_least, what)


@contextlib.contextmanager
def prometheus(targets: Targets, work_dir: pathlib.Path) -> Iterator[Prometheus]:
    config = scrape_config(targets)
    server = Prometheus(config, work_dir).start()
    try:
        server.wait_for_targets(len(config["scrape_configs"]))
        yield server
    finally:
        server.stop()


# ---- traffic ----------------------------------------------------------------------------------


def drive_traffic(targets: Targets) -> None:
    """Every kind of call a dashboard panel shows: successes, declines, errors, hits and misses."""
    auth = {"Authorization": f"Bearer {targets.api_key}"}
    with httpx.Client(base_url=targets.rest, headers=auth, timeout=30) as http:
        for _ in range(3):
            _payment_lifecycles(http)
        http.post("/v1/payments", json={"amount": 1000, "currency": "USD", "payment_method": "pm_card_chargeDeclined"})
        http.post("/v1/payments", json={"amount": 1000, "currency": "USD", "payment_method": "pm_card_unavailable"})
        http.post("/v1/payments", json={"amount": -5, "currency": "USD"})
        http.get(f"/v1/payments/pay_{'0' * 26}")
        http.get("/v1/payments", params={"page_size": 5})
        http.get("/v1/payments", headers={"Authorization": "Bearer sk_wrong"})
        http.get("/v1/no-such-route")
        http.post("/webhooks/stripe", content=b'{"type": "payment_intent.succeeded"}',
                  headers={"Stripe-Signature": "t=1,v1=forged", "Content-Type": "application/json"})
        http.post("/graphql", json={"query": "{ __typename }"})


def _payment_lifecycles(http: httpx.Client) -> None:
    manual = _expect(http.post("/v1/payments", json={"amount": 1000, "currency": "USD"}), "REQUIRES_CAPTURE")
    for _ in range(3):
        http.get(f"/v1/payments/{manual['payment_id']}")
    http.post(f"/v1/payments/{manual['payment_id']}:process", json={"action": "CAPTURE"})
    http.post(f"/v1/payments/{manual['payment_id']}:process", json={"action": "REFUND", "amount": "300"})
    http.post(f"/v1/payments/{manual['payment_id']}:process", json={"action": "REFUND"})
    http.get(f"/v1/payments/{manual['payment_id']}")
    canceled = _expect(http.post("/v1/payments", json={"amount": 500, "currency": "EUR"}), "REQUIRES_CAPTURE")
    http.post(f"/v1/payments/{canceled['payment_id']}:process", json={"action": "CANCEL"})
    http.post(f"/v1/payments/{canceled['payment_id']}:process", json={"action": "CAPTURE"})  # FailedPrecondition
    http.post("/v1/payments", json={"amount": 700, "currency": "GBP", "capture_method": "AUTOMATIC"},
              headers={"Idempotency-Key": uuid.uuid4().hex})


def _expect(reply: httpx.Response, status: str) -> dict:
    payment = reply.json().get("payment", {})
    if payment.get("status") != status:
        raise RuntimeError(f"the stack did not create a payment (HTTP {reply.status_code}: {reply.text[:300]})")
    return payment


def metric_total(port: int, path: str, name: str, label_filter: str = "") -> float:
    """Sum of ``name`` samples (optionally only lines containing ``label_filter``) on a /metrics page."""
    text = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if (line.startswith(name + "{") or line.startswith(name + " ")) and label_filter in line)


def wait_until_scraped(server: Prometheus, targets: Targets) -> None:
    """Prometheus has samples taken after the traffic, and a few more for rate() windows."""
    handled = metric_total(targets.payment_metrics_port, "/metrics", "grpc_server_handled_total")
    edge = metric_total(targets.envoy_stats_port, "/stats/prometheus", "envoy_http_downstream_rq_total",
                        'envoy_http_conn_manager_prefix="edge"')
    server.wait_for('sum(grpc_server_handled_total{job="payment-service"})', handled, "the service's traffic")
    server.wait_for('sum(envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="edge"})', edge,
                    "Envoy's traffic")
    time.sleep(3)


# ---- checks -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    evaluated: list[tuple[Expression, int]] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_expression(server: Prometheus, expression: Expression, labels_of: dict[str, set[str] | None]) -> list[str]:
    where = f"{expression.source}: {' '.join(expression.promql.split())}"
    try:
        result = server.query(expression.promql)
    except ValueError as exc:
        return [f"{where}\n    does not evaluate: {exc}"]
    parsed = parse(expression.promql)
    problems: list[str] = []
    seen: set[str] = set()
    for selector in parsed.selectors:
        if selector.metric not in labels_of:
            labels_of[selector.metric] = server.label_names(selector.metric) if selector.metric else set()
        known = labels_of[selector.metric]
        if known is None:
            problems.append(f"{where}\n    metric {selector.metric} has no series")
            continue
        seen |= known
        problems += [f"{where}\n    label {label} is not a label of {selector.metric} (it has {sorted(known)})"
                     for label in selector.labels if label not in known]
    if parsed.selectors and all(labels_of.get(s.metric) is not None for s in parsed.selectors):
        problems += [f"{where}\n    grouping label {label} is on none of its metrics"
                     for label in sorted(parsed.grouping - seen)]
    if expression.require_data and not problems and not result:
        problems.append(f"{where}\n    returns no data after the traffic")
    return problems


def check_cardinality(server: Prometheus) -> list[str]:
    """No label of the service's own series may hold an id or a key."""
    series = server.api("series", **{"match[]": '{job="payment-service"}'})
    leaks = sorted({f"{item['__name__']}{{{label}={value!r}}}" for item in series
                    for label, value in item.items() if label != "__name__" and ID_LIKE.match(value)})
    return [f"unbounded label value: {leak}" for leak in leaks]


def check(server: Prometheus, to_check: list[Expression]) -> Report:
    report, labels_of = Report(), {}
    for expression in to_check:
        problems = check_expression(server, expression, labels_of)
        report.problems += problems
        if not problems:
            report.evaluated.append((expression, len(server.query(expression.promql))))
    report.problems += check_cardinality(server)
    return report


def run(targets: Targets, work_dir: pathlib.Path) -> Report:
    """Start Prometheus on ``targets``, drive traffic, check every expression."""
    with prometheus(targets, work_dir) as server:
        drive_traffic(targets)
        wait_until_scraped(server, targets)
        return check(server, expressions())


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from devtools.devstack import load_env_file

    env = {**load_env_file(ROOT / ".env.example"), **load_env_file(ROOT / ".env"), **os.environ}
    api_key = next(iter(item.partition("=")[0] for item in env.get("API_KEYS", "").split(",") if item), "")
    targets = Targets.from_env(env, api_key or "sk_test_local")
    with tempfile.TemporaryDirectory(prefix="check-observability-") as work_dir:
        report = run(targets, pathlib.Path(work_dir))
    for expression, series in report.evaluated:
        print(f"ok  {series:3d} series  {expression.source}")
    for problem in report.problems:
        print(f"FAIL {problem}", file=sys.stderr)
    print(f"{len(report.evaluated)} expressions evaluated, {len(report.problems)} problems")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
