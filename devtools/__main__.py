"""`python -m devtools run|envoy-config`: the local stack in the foreground, and Envoy's local config.

`make run` is `python -m devtools run`. They live outside the runtime package, so
the image carries no dev tooling.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import pathlib
import signal
import sys
import time

from common import logs
from service.config import ConfigError, Settings

from .devstack import ROOT, LocalStack, load_env_file
from .envoy_config import render_local
from .supervisor import Supervisor

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _envoy_config(args: argparse.Namespace) -> int:
    print(render_local(pathlib.Path(args.output), os.environ))
    return 0


class Shutdown:
    """SIGINT/SIGTERM handler: the first signal stops the stack, and nothing interrupts that stop.

    While the stack starts (blocking waits), the first signal raises KeyboardInterrupt; once it is
    up, it only sets `requested` (the supervision loop is never cut mid-restart). Later signals
    are ignored, so a second Ctrl-C or `kill` cannot break off the stop before PostgreSQL is stopped."""

    def __init__(self) -> None:
        self.requested = False
        self.raise_on_signal = True

    def __call__(self, signum: int, frame: object) -> None:
        if self.requested:
            print(f"already stopping ({signal.Signals(signum).name} ignored)", file=sys.stderr, flush=True)
            return
        self.requested = True
        if self.raise_on_signal:
            raise KeyboardInterrupt


def _stop_with_parent() -> None:
    """Ask Linux for a SIGTERM when the parent dies: `kill <pid of make>` (make does not pass signals on
    to its commands) then stops the stack too, instead of leaving it running without a terminal."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _run(args: argparse.Namespace) -> int:
    env_file = ROOT / ".env" if (ROOT / ".env").exists() else ROOT / ".env.example"
    env = {**load_env_file(env_file), **{k: v for k, v in os.environ.items() if k.isupper()}}
    data = pathlib.Path(args.data_dir) if args.data_dir else ROOT / ".data"
    stack = LocalStack(env, data_dir=data, log_dir=data / "logs")
    shutdown = Shutdown()
    # Ctrl-C, `kill`, a closed terminal and the death of `make` all stop the stack, even when SIGINT
    # was inherited as ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, shutdown)
    _stop_with_parent()
    print(f"starting the local stack (settings from {env_file.name}, logs in {data / 'logs'}) ...", flush=True)
    try:
        stack.start()
        _print_urls(stack, env)
        supervisor = Supervisor(stack, log_path=data / "logs" / "supervisor.log")
        shutdown.raise_on_signal = False
        while not shutdown.requested:
            supervisor.check()
            time.sleep(0.25)
    except KeyboardInterrupt:
        pass
    finally:
        shutdown.requested = True  # from here on, signals are ignored: the stop below must finish
        print("\nstopping the local stack ...", flush=True)
        stack.stop()
        print("stopped", flush=True)
    return 0


def _print_urls(stack: LocalStack, env: dict) -> None:
    key = next(iter(Settings.from_env(env).api_keys), "<api key>")
    rest, grpc = stack.urls["rest"], stack.urls["grpc"]
    lines = [
        "",
        "payment service is up:",
        f"  REST      {rest}/v1/payments",
        f"  gRPC      {grpc} (reflection on)",
        f"  TLS       {stack.urls['https']} and gRPC {stack.urls['grpc_tls']} (trust .data/tls/ca.crt)",
        f"  GraphQL   {stack.urls.get('graphql', '(not started)')}"
        + (" (GraphiQL in a browser; the key goes in its Headers tab)" if "graphql" in stack.urls else ""),
        f"  grpcui    {stack.urls.get('grpcui', '(not installed)')}",
        f"  API docs  {stack.urls.get('api_docs', '(GraphQL service not started)')} (Swagger UI; "
        f"OpenAPI at {stack.urls.get('openapi', '-')})",
        f"  metrics   {stack.urls['metrics']}",
        f"  Envoy     {stack.urls['envoy_admin']} (admin, loopback only)",
        "",
        "try:",
        f"  curl -s -H 'Authorization: Bearer {key}' \\\n"
        f"    -d '{{\"amount\": 1000, \"currency\": \"USD\"}}' {rest}/v1/payments",
        f"  grpcurl -plaintext -H 'authorization: Bearer {key}' {grpc} payment.v1.PaymentService/ListPayments",
        "",
        "Ctrl-C stops everything.",
    ]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the whole local stack in the foreground; restarts what crashes")
    run.add_argument("--data-dir", default="", help="where PostgreSQL's cluster and the logs go (default .data/)")
    run.set_defaults(func=_run)
    envoy = commands.add_parser("envoy-config", help="render envoy/envoy.yaml for local use")
    envoy.add_argument("--output", default=".data/envoy.yaml")
    envoy.set_defaults(func=_envoy_config)
    args = parser.parse_args(argv)
    try:
        logs.configure(Settings.from_env().log_level)
        return args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
