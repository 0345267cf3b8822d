"""`make bench`: the real local stack under load, next to the limits of what it stands on.

Starts the same LocalStack as `make run` on free ports, with a durable PostgreSQL (fsync on),
Redis, the payment service (WORKERS workers, default: the CPUs this process may use) and Envoy.
Then, in one run and REPETITIONS times over, interleaved so machine noise hits every phase alike:

* creates over REST through Envoy (wrk) and over native gRPC straight to the service (ghz),
  both with an Idempotency-Key per request;
* GetPayment over REST through Envoy (cache hits), grpc.health.v1 Health/Check direct and
  through Envoy (ghz): the cost of the path itself;
* pgbench on the same PostgreSQL: one durable INSERT per transaction, and the service's own
  create transactions replayed (bench/limits.py captures them from the real use case);
* creates over gRPC to extra servers started with --workers 1 and --workers 2 (the scaling).

Service CPU per request comes from /proc (the server and its workers), RSS per worker too; the
load average is recorded with every repetition. It prints ONE JSON document on stdout and
nothing else (the stack's own output goes to stderr). BENCH_EDGE=1 adds the edge's costs
(bench/edge.py: body validation, TLS), measured in-process with httpx.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid

from bench import limits, loadgen
from devtools.devstack import Child, LocalStack, free_port, wait_for_port
from service.config import Settings

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
REPETITIONS = int(os.environ.get("BENCH_REPETITIONS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(len(os.sched_getaffinity(0)))))
KEY, MERCHANT = "sk_bench", "acct_bench"
AUTH = {"Authorization": f"Bearer {KEY}"}
GRPC_CONNECTIONS = 8  # ghz (and h2load) open this many HTTP/2 connections, so SO_REUSEPORT can spread them


class Bench:
    def __init__(self, stack: LocalStack, work: pathlib.Path) -> None:
        self.stack, self.work = stack, work
        self.env = stack.env
        self.run = uuid.uuid4().hex[:12]
        self.rest = stack.urls["rest"]
        self.direct = f"127.0.0.1:{self.env['GRPC_PORT']}"
        self.edge = f"127.0.0.1:{self.env['ENVOY_PORT']}"
        self.service = next(c for c in stack.children if c.name == "payment-service").popen.pid
        url = urllib.parse.urlsplit(Settings.from_env(self.env).require_database().replace("+asyncpg", ""))
        self.db = {"host": url.hostname, "port": str(url.port), "user": url.username,
                   "database": url.path.lstrip("/")}
        self.samples: dict[str, list[dict]] = {}
        self.reply_size = 0  # set by _one_payment
        self.descriptors = loadgen.protoset(work / "protoset.pb")

    # ---- phases -----------------------------------------------------------

    def components(self, service: int) -> dict[str, list[int]]:
        """The processes whose CPU a phase accounts for, by part of the stack."""
        named = {child.name: child.popen.pid for child in self.stack.children}
        postmaster = self.stack.postgres.postmaster_pid() if self.stack.postgres else None
        parts = {"service": loadgen.process_tree(service), "envoy": [named["envoy"]],
                 "edge_validator": [named["edge-validator"]], "redis": [named["redis"]] if "redis" in named else [],
                 "postgres": loadgen.process_tree(postmaster) if postmaster else []}
        parts["other_stack"] = [pid for name, pid in named.items()
                                if name not in ("envoy", "edge-validator", "redis", "payment-service")]
        return parts

    def timed(self, name: str, measure, pids: list[int] | None = None) -> None:
        """Run one phase; record its rate, latency, and the CPU each part of the machine spent per request.

        `service_cpu_ms_per_request` is the server under test (its supervisor and workers);
        `cpu_ms_per_request` splits the rest: Envoy, the edge validator, Redis, PostgreSQL (every
        backend), the load generator (wrk/ghz, this process's children) and the whole machine
        (/proc/stat: every process on it, other sessions' included); `machine_busy_cores` is how
        many of the cores were busy on average, so a phase that could not have used a core more
        shows it.
        """
        service = pids[0] if pids is not None else self.service
        parts = self.components(service)
        before = {part: loadgen.cpu_by_pid(members) for part, members in parts.items()}
        machine, generator, started = loadgen.machine_cpu_seconds(), loadgen.children_cpu_seconds(), time.monotonic()
        load = measure()
        wall = time.monotonic() - started
        machine, generator = loadgen.machine_cpu_seconds() - machine, loadgen.children_cpu_seconds() - generator
        parts = self.components(service)  # postgres backends and workers started during the phase count too
        spent = {part: loadgen.cpu_since(before[part], members) for part, members in parts.items()}
        sample = {"rps": round(load.rps, 1), "p50_ms": round(load.p50_ms, 2), "p99_ms": round(load.p99_ms, 2),
                  "requests": load.requests, "failed": load.failed, "machine_busy_cores": round(machine / wall, 2)}
        if load.requests:
            per = {part: round(seconds * 1000 / load.requests, 3) for part, seconds in spent.items()}
            per["load_generator"] = round(generator * 1000 / load.requests, 3)
            per["machine"] = round(machine * 1000 / load.requests, 3)
            sample["service_cpu_ms_per_request"] = per.pop("service")
            sample["cpu_ms_per_request"] = per
            sample["service_share_of_machine_cpu"] = round(spent["service"] / machine, 3) if machine else None
        self.samples.setdefault(name, []).append(sample)

    def rest_create(self) -> loadgen.Load:
        return loadgen.wrk(self.rest, method="POST", path="/v1/payments", body=json.dumps(loadgen.CREATE_BODY),
                           key=KEY, keyed=True, run=f"{self.run}-{time.time_ns()}", concurrency=CONCURRENCY,
                           seconds=SECONDS)

    def grpc_create(self, target: str) -> loadgen.Load:
        return loadgen.ghz(target, call="payment.v1.PaymentService.CreatePayment", data=loadgen.CREATE_BODY,
                           metadata={"authorization": f"Bearer {KEY}", "idempotency-key": "{{newUUID}}"},
                           concurrency=CONCURRENCY, seconds=SECONDS, connections=GRPC_CONNECTIONS,
                           descriptors=self.descriptors)

    def rest_get(self, payment_id: str) -> loadgen.Load:
        return loadgen.wrk(self.rest, method="GET", path=f"/v1/payments/{payment_id}", body=None, key=KEY,
                           keyed=False, run=self.run, concurrency=CONCURRENCY, seconds=SECONDS)

    def health(self, target: str) -> loadgen.Load:
        return loadgen.ghz(target, call="grpc.health.v1.Health.Check", data={}, metadata={},
                           concurrency=CONCURRENCY, seconds=SECONDS, connections=GRPC_CONNECTIONS,
                           descriptors=self.descriptors)

    def grpc_get(self, target: str, payment_id: str) -> loadgen.Load:
        """GetPayment cache hits over native gRPC with h2load: the service's own CPU is nearly all
        of the machine's (Redis and h2load cost a few percent of it), so the service is what
        saturates, by design: the phase that can show what a second worker adds."""
        from service.gen.payment.v1 import payment_pb2 as pb

        return loadgen.h2load_grpc(target, path="/payment.v1.PaymentService/GetPayment",
                                   message=pb.GetPaymentRequest(payment_id=payment_id).SerializeToString(),
                                   expected_reply=self.reply_size, metadata={"authorization": f"Bearer {KEY}"},
                                   concurrency=CONCURRENCY, seconds=SECONDS, connections=GRPC_CONNECTIONS)

    def scaling(self, workers: int, payment_id: str) -> None:
        """Creates over gRPC (ghz), then GetPayment cache hits (h2load), to an extra server started
        with --workers N: the same database, Redis and cached payment; the worker count is the only
        difference."""
        port = free_port()
        env = {**self.env, "GRPC_PORT": str(port), "METRICS_PORT": "0"}
        child = Child(f"payment-service-{workers}w", [str(pathlib.Path(sys.prefix) / "bin" / "payment-service"),
                                                        "serve", "--workers", str(workers)],
                      env=env, log_dir=self.work / "logs")
        try:
            try:
                wait_for_port(port, process=child)
            except Exception as exc:  # a server without --workers (before issue 11) or one that failed
                self.samples.setdefault(f"grpc_create_{workers}_workers", []).append({"error": str(exc)[:200]})
                return
            time.sleep(1.0)  # every worker bound
            pids = loadgen.process_tree(child.popen.pid)
            self.timed(f"grpc_create_{workers}_workers", lambda: self.grpc_create(f"127.0.0.1:{port}"), pids)
            self.timed(f"grpc_get_cache_hit_{workers}_workers", lambda: self.grpc_get(f"127.0.0.1:{port}", payment_id),
                       pids)
        finally:
            child.stop()

    # ---- the run ----------------------------------------------------------

    def measure(self) -> dict:
        captured = asyncio.run(limits.capture_create(self.env, MERCHANT))
        mimic = limits.pgbench_script(captured)
        (self.work / "mimic.sql").write_text(mimic)
        limits.psql(self.db, limits.INSERT_SETUP)
        payment_id = self._one_payment()
        loads = []
        for _ in range(REPETITIONS):
            loads.append(os.getloadavg()[0])
            self.timed("rest_create_via_envoy", self.rest_create)
            self.timed("grpc_create_direct", lambda: self.grpc_create(self.direct))
            self.timed("rest_get_cache_hit_via_envoy", lambda: self.rest_get(payment_id))
            self.timed("grpc_health_direct", lambda: self.health(self.direct))
            self.timed("grpc_health_via_envoy", lambda: self.health(self.edge))
            self.limit("pgbench_insert", limits.INSERT_SCRIPT, "prepared")
            self.limit("pgbench_service_mimic", mimic, "simple")
            for workers in (1, 2):
                self.scaling(workers, payment_id)
            loads.append(os.getloadavg()[0])
        pids = loadgen.process_tree(self.service)
        return {"mimic": {"transactions": len(captured.transactions), "statements": captured.statements},
                "load_average_1m": [round(x, 2) for x in loads],
                "rss_mib_per_process": {str(pid): loadgen.rss_mib(pid) for pid in pids}}

    def limit(self, name: str, script: str, mode: str) -> None:
        tps = limits.pgbench(self.db, script, clients=CONCURRENCY, seconds=SECONDS, mode=mode, workdir=self.work)
        self.samples.setdefault(name, []).append({"rps": round(tps, 1)})

    def _one_payment(self) -> str:
        """A payment for the GET phases, read once over gRPC so it is cached (and its reply's size known)."""
        import urllib.request

        import grpc

        from service.gen.payment.v1 import payment_pb2 as pb
        from service.gen.payment.v1 import payment_pb2_grpc

        request = urllib.request.Request(f"{self.rest}/v1/payments", data=json.dumps(loadgen.CREATE_BODY).encode(),
                                         headers={**AUTH, "Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as reply:
            payment_id = json.loads(reply.read())["payment"]["payment_id"]
        with grpc.insecure_channel(self.direct) as channel:
            read = payment_pb2_grpc.PaymentServiceStub(channel).GetPayment(
                pb.GetPaymentRequest(payment_id=payment_id), metadata=(("authorization", f"Bearer {KEY}"),), timeout=30)
        self.reply_size = 5 + read.ByteSize()  # the gRPC frame of the OK reply: a flag byte, a length, the message
        return payment_id


def summarize(samples: list[dict]) -> dict:
    out = {"repetitions": samples}
    for field in ("rps", "p50_ms", "p99_ms", "service_cpu_ms_per_request", "machine_busy_cores",
                  "service_share_of_machine_cpu"):
        values = [s[field] for s in samples if s.get(field) is not None]
        if values:
            out[field] = {"min": min(values), "median": round(statistics.median(values), 3),
                          "max": max(values)}
    parts = {part for s in samples for part in s.get("cpu_ms_per_request", {})}
    if parts:  # the median CPU of each part of the machine, per request
        out["cpu_ms_per_request"] = {part: round(statistics.median(
            [s["cpu_ms_per_request"][part] for s in samples if part in s.get("cpu_ms_per_request", {})]), 3)
            for part in sorted(parts)}
    return out


def ratios(phases: dict) -> dict:
    def median(name: str, field: str = "rps") -> float | None:
        phase = phases.get(name)
        return phase[field]["median"] if phase and field in phase else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    return {
        "rest_create_via_envoy / pgbench_service_mimic": ratio(median("rest_create_via_envoy"),
                                                                median("pgbench_service_mimic")),
        "service_cpu_ms_per_create (rest via envoy)": median("rest_create_via_envoy", "service_cpu_ms_per_request"),
        "rest_get_cache_hit_via_envoy / grpc_health_via_envoy": ratio(median("rest_get_cache_hit_via_envoy"),
                                                                       median("grpc_health_via_envoy")),
        "rest_create_via_envoy / grpc_create_direct": ratio(median("rest_create_via_envoy"),
                                                             median("grpc_create_direct")),
        "grpc_create 2 workers / 1 worker": ratio(median("grpc_create_2_workers"), median("grpc_create_1_workers")),
        "grpc_get_cache_hit 2 workers / 1 worker": ratio(median("grpc_get_cache_hit_2_workers"),
                                                         median("grpc_get_cache_hit_1_workers")),
        "pgbench_service_mimic / pgbench_insert": ratio(median("pgbench_service_mimic"), median("pgbench_insert")),
        **{f"{kind} 2 workers / 1 worker, the most 2 cores allow": scaling_bound(phases, kind)
           for kind in ("grpc_create", "grpc_get_cache_hit")},
    }


def scaling_bound(phases: dict, kind: str) -> float | None:
    """The 2-workers/1-worker throughput ratio this machine could show at best, from the CPU each
    call cost in the two phases: one worker can use at most one core; two workers share the two
    cores with what the call costs the rest of our stack (the load generator, Redis, PostgreSQL,
    ...). Other sessions on the machine are left out, so this is what an otherwise idle machine
    would allow; the measured ratio next to it says how close the run came."""
    def stack_ms(name: str) -> tuple[float, float] | None:
        phase = phases.get(name, {})
        if "service_cpu_ms_per_request" not in phase or "cpu_ms_per_request" not in phase:
            return None
        service = phase["service_cpu_ms_per_request"]["median"]
        rest = sum(ms for part, ms in phase["cpu_ms_per_request"].items() if part != "machine")
        return service, service + rest

    one, two = stack_ms(f"{kind}_1_workers"), stack_ms(f"{kind}_2_workers")
    if not one or not two or not one[0] or not two[1]:
        return None
    best_one = min(1000 / one[0], 2000 / one[1])  # calls per second
    return round((2000 / two[1]) / best_one, 3)


def start_stack(work: pathlib.Path) -> LocalStack:
    ports = {name: str(free_port()) for name in ("GRPC_PORT", "ENVOY_PORT", "ENVOY_ADMIN_PORT", "ENVOY_STATS_PORT",
                                                  "METRICS_PORT", "POSTGRES_PORT", "REDIS_PORT", "EDGE_VALIDATOR_PORT",
                                                  "GRAPHQL_PORT", "GRAPHQL_METRICS_PORT", "ENVOY_TLS_PORT",
                                                  "GRPCUI_PORT", "DELIVER_METRICS_PORT")}
    env = {"API_KEYS": f"{KEY}={MERCHANT}", "LOCAL_GRAPHQL": "off", "LOCAL_GRPCUI": "off", "LOG_LEVEL": "WARNING",
           "DATABASE_URL": "", "REDIS_URL": "", "WORKERS": str(WORKERS), **ports,
           # The bench measures the stack, not Envoy's per-key rate limits.
           "RATE_LIMIT_MUTATIONS_PER_SECOND": "1000000", "RATE_LIMIT_READS_PER_SECOND": "1000000",
           "RATE_LIMIT_WEBHOOKS_PER_SECOND": "1000000"}
    return LocalStack(env, data_dir=work / "data", log_dir=work / "logs", durable=True).start()


def main() -> int:
    work = pathlib.Path(tempfile.mkdtemp(prefix="payment-bench-"))
    work.chmod(0o755)
    stdout = os.dup(1)
    os.dup2(2, 1)  # everything the stack prints goes to stderr; only the JSON goes to stdout
    try:
        stack = start_stack(work)
        try:
            bench = Bench(stack, work)
            facts = bench.measure()
            if os.environ.get("BENCH_EDGE") == "1":
                facts["edge"] = run_edge(stack, work)
        finally:
            stack.stop()
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
    phases = {name: summarize(samples) for name, samples in bench.samples.items()}
    document = {
        "machine": {"cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)), "uname": os.uname().release},
        "settings": {"seconds": SECONDS, "repetitions": REPETITIONS, "concurrency": CONCURRENCY,
                     "workers": WORKERS, "postgres_fsync": True},
        **facts,
        "phases": phases,
        "ratios": ratios(phases),
    }
    print(json.dumps(document, indent=2))
    return 0


def run_edge(stack: LocalStack, work: pathlib.Path) -> list[dict]:
    from bench.edge import measure_edge, run_phase

    return asyncio.run(measure_edge(stack.env, work / "logs", run_phase, AUTH, CONCURRENCY))


if __name__ == "__main__":
    sys.exit(main())
