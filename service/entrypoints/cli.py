"""`payment-service`: serve, migrate, reconcile, envoy-config, edge-validator and dev (the local stack)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import signal
import sys
import time
from datetime import timedelta

from .. import logs
from ..config import ConfigError, Settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from .grpc.server import serve

    serve(settings)
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from ..adapters.migrate import upgrade

    upgrade(settings.require_database(), args.revision)
    print(json.dumps({"migrated_to": args.revision}))
    return 0


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from ..bootstrap import bootstrap
    from ..service_layer.reconcile import prune_idempotency_keys, reconcile

    async def run() -> dict:
        app = bootstrap(settings)
        try:
            report = await reconcile(app.deps, older_than=timedelta(seconds=args.older_than))
            pruned = await prune_idempotency_keys(
                app.deps, timedelta(hours=settings.idempotency_retention_hours))
        finally:
            await app.close()
        return {**report.__dict__, "idempotency_keys_pruned": pruned}

    print(json.dumps(asyncio.run(run())))
    return 0


def _envoy_config(args: argparse.Namespace, settings: Settings) -> int:
    from .envoy_config import LOCAL_DEFAULTS, render_local

    print(render_local(pathlib.Path(args.output), {k: v for k, v in os.environ.items() if k in LOCAL_DEFAULTS}))
    return 0


def _edge_validator(args: argparse.Namespace, settings: Settings) -> int:
    from .edge.validator import serve

    serve()
    return 0


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    from .devstack import ROOT, LocalStack, load_env_file

    env_file = ROOT / ".env" if (ROOT / ".env").exists() else ROOT / ".env.example"
    env = {**load_env_file(env_file), **{k: v for k, v in os.environ.items() if k.isupper()}}
    data = ROOT / ".data"
    stack = LocalStack(env, data_dir=data, log_dir=data / "logs")
    # Ctrl-C and `kill` both stop the stack, even when SIGINT was inherited as ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"starting the local stack (settings from {env_file.name}, logs in {data / 'logs'}) ...", flush=True)
    try:
        stack.start()
        _print_urls(stack, env)
        while all(child.popen.poll() is None for child in stack.children):
            time.sleep(0.5)
        dead = [c.name for c in stack.children if c.popen.poll() is not None]
        print(f"stopping: {', '.join(dead)} exited (see {data / 'logs'})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping the local stack ...", flush=True)
        return 0
    finally:
        stack.stop()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _print_urls(stack, env: dict) -> None:
    key = next(iter(Settings.from_env(env).api_keys), "<api key>")
    rest, grpc = stack.urls["rest"], stack.urls["grpc"]
    lines = [
        "",
        "payment service is up:",
        f"  REST      {rest}/v1/payments",
        f"  gRPC      {grpc} (reflection on)",
        f"  GraphQL   {stack.urls.get('graphql', '(not started)')}",
        f"  grpcui    {stack.urls.get('grpcui', '(not installed)')}",
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
    parser = argparse.ArgumentParser(prog="payment-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the gRPC server").set_defaults(func=_serve)
    migrate = commands.add_parser("migrate", help="apply database migrations (idempotent)")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(func=_migrate)
    reconcile = commands.add_parser("reconcile", help="settle payments left waiting on a processor")
    reconcile.add_argument("--older-than", type=float, default=60.0, help="seconds a payment must have waited")
    reconcile.set_defaults(func=_reconcile)
    envoy = commands.add_parser("envoy-config", help="render envoy/envoy.yaml for local use")
    envoy.add_argument("--output", default=".data/envoy.yaml")
    envoy.set_defaults(func=_envoy_config)
    commands.add_parser("edge-validator", help="run the edge's REST body validator (Envoy ext_authz)").set_defaults(
        func=_edge_validator)
    commands.add_parser("dev", help="run the whole local stack in the foreground").set_defaults(func=_dev)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_level)
        return args.func(args, settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
