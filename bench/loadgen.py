"""The load generators `make bench` drives, and what /proc says the service spent.

REST goes through Envoy with wrk (C, from Debian), native gRPC with ghz (Go, pinned by
tools/ghz/go.mod). Both keep CONCURRENCY requests in flight for a fixed time. Every create
sends an Idempotency-Key (REST header, gRPC metadata), so the two doors do the same work.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import resource
import subprocess
import tempfile

from devtools.devstack import find_tool

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CREATE_BODY = {"amount": 1000, "currency": "USD"}

# wrk's Lua: one unique Idempotency-Key per request (thread number + counter), and a JSON summary
# as the last line of its output.
WRK_SCRIPT = r"""
local threads, n = 0, 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function request()
  n = n + 1
  local headers = {["Authorization"] = "Bearer %(key)s", ["Content-Type"] = "application/json"}
  if %(keyed)s then headers["Idempotency-Key"] = "%(run)s-" .. tid .. "-" .. n end
  return wrk.format("%(method)s", "%(path)s", headers, %(body)s)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\n{"requests": %%d, "duration_us": %%d, "errors": %%d, "non_2xx": %%d, ' ..
    '"p50_us": %%d, "p99_us": %%d, "mean_us": %%.1f}\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99),
    latency.mean))
end
"""


@dataclasses.dataclass
class Load:
    """One timed phase: how many requests answered well, and how fast."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(url: str, *, method: str, path: str, body: str | None, key: str, keyed: bool, run: str,
        concurrency: int, seconds: float) -> Load:
    script = WRK_SCRIPT % {"key": key, "keyed": "true" if keyed else "false", "run": run, "method": method,
                           "path": path, "body": json.dumps(body) if body is not None else "nil"}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run([_tool("wrk"), "-t", "2", "-c", str(concurrency), "-d", f"{int(seconds)}s",
                               "--timeout", "10s", "-s", handle.name, url], capture_output=True, text=True)
    finally:
        pathlib.Path(handle.name).unlink()
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    line = [line for line in done.stdout.splitlines() if line.startswith("{")][-1]
    out = json.loads(line)
    failed = out["errors"] + out["non_2xx"]
    return Load(requests=out["requests"] - out["non_2xx"], seconds=out["duration_us"] / 1e6,
                p50_ms=out["p50_us"] / 1000, p99_ms=out["p99_us"] / 1000, failed=failed)


def protoset(path: pathlib.Path) -> pathlib.Path:
    """A FileDescriptorSet of PaymentService and grpc.health.v1 (with their imports) for ghz."""
    from google.protobuf import descriptor_pb2
    from grpc_health.v1 import health_pb2

    from service.gen.payment.v1 import payment_pb2

    files, seen = descriptor_pb2.FileDescriptorSet(), set()

    def add(file) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        file.CopyToProto(files.file.add())

    add(payment_pb2.DESCRIPTOR)
    add(health_pb2.DESCRIPTOR)
    path.write_bytes(files.SerializeToString())
    return path


def ghz(target: str, *, call: str, data: dict, metadata: dict, concurrency: int, seconds: float,
        connections: int, descriptors: pathlib.Path) -> Load:
    done = subprocess.run([_tool("ghz"), "--insecure", "--protoset", str(descriptors), "--call", call,
                           "-d", json.dumps(data), "-m", json.dumps(metadata), "-c", str(concurrency),
                           "--connections", str(connections),
                           "-z", f"{int(seconds)}s", "--timeout", "10s", "-O", "json", target],
                          capture_output=True, text=True, check=False)
    if not done.stdout.strip():
        raise RuntimeError(f"ghz failed: {done.stderr.strip()}")
    out = json.loads(done.stdout)
    codes = out.get("statusCodeDistribution") or {}
    ok = codes.get("OK", 0)
    # ghz cancels the calls still in flight when the time is up; those are not failures.
    cut = codes.get("Canceled", 0) + codes.get("Unavailable", 0) if set(codes) <= {"OK", "Canceled", "Unavailable"} \
        and codes.get("Canceled", 0) + codes.get("Unavailable", 0) <= concurrency else 0
    latency = {row["percentage"]: row["latency"] for row in out.get("latencyDistribution") or []}
    return Load(requests=ok, seconds=out["total"] / 1e9, p50_ms=latency.get(50, 0) / 1e6,
                p99_ms=latency.get(99, 0) / 1e6, failed=out["count"] - ok - cut)


def h2load_grpc(target: str, *, path: str, message: bytes, expected_reply: int, metadata: dict[str, str],
                concurrency: int, seconds: float, connections: int) -> Load:
    """One unary gRPC method called over and over by h2load (nghttp2, C): a load generator that
    costs the machine a few times less CPU per call than ghz, for the phases that must leave the
    cores to the service. h2load knows HTTP/2, not gRPC: a call counts as answered only if the
    DATA bytes received add up to `expected_reply` (the gRPC-framed size of the OK reply) per
    call, so an error status (trailers only, no message) cannot pass for a success. h2load reports
    the mean and the slowest latency, not percentiles (`p50_ms` holds the mean, `p99_ms` the max)."""
    framed = b"\x00" + len(message).to_bytes(4, "big") + message
    with tempfile.NamedTemporaryFile("wb", suffix=".grpc", delete=False) as handle:
        handle.write(framed)
    headers = [arg for name, value in {"content-type": "application/grpc", "te": "trailers", **metadata}.items()
               for arg in ("-H", f"{name}: {value}")]
    try:
        done = subprocess.run([_tool("h2load"), "-D", str(int(seconds)), "-c", str(connections),
                               "-m", str(max(concurrency // connections, 1)), "-t", "1", "-d", handle.name,
                               *headers, f"http://{target}{path}"], capture_output=True, text=True)
    finally:
        pathlib.Path(handle.name).unlink()
    out = done.stdout
    found = {name: re.search(pattern, out) for name, pattern in {
        "done": r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded",
        "time": r"finished in ([\d.]+)s",
        "data": r"\((\d+)\) data",
        "latency": r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)"}.items()}
    if done.returncode != 0 or not all(found.values()):
        raise RuntimeError(f"h2load failed: {out[-500:]} {done.stderr[-500:]}")
    succeeded = int(found["done"].group(2))
    data = int(found["data"].group(1))
    answered = min(succeeded, data // expected_reply) if expected_reply else 0
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    latency = found["latency"]
    return Load(requests=answered, seconds=float(found["time"].group(1)),
                p50_ms=float(latency.group(5)) * unit[latency.group(6)],
                p99_ms=float(latency.group(3)) * unit[latency.group(4)],
                failed=int(found["done"].group(1)) - answered)


def _tool(name: str) -> str:
    found = find_tool(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: make setup installs it (scripts/setup.d/50-bench-tools.sh)")
    return found


# ---- /proc ------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (the supervisor and its workers)."""
    children = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return [pid, *sorted(children)]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """CPU seconds used so far by each of the processes (the ones already gone are left out)."""
    return {pid: cpu_seconds([pid]) for pid in pids}


def cpu_since(before: dict[int, float], pids: list[int]) -> float:
    """CPU the processes used since `before` was taken (a process started since then: all of its CPU)."""
    return sum(max(cpu_seconds([pid]) - before.get(pid, 0.0), 0.0) for pid in pids)


def machine_cpu_seconds() -> float:
    """CPU time every core of the machine has spent busy so far (/proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user nice system idle iowait irq softirq steal
    return busy / CLOCK_TICKS


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children (the load generators: wrk, ghz)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0
