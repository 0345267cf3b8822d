"""`payment-service`: serve, migrate, reconcile and edge-validator (one image, the chart picks the command)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta

from common import logs

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


def _edge_validator(args: argparse.Namespace, settings: Settings) -> int:
    from .edge.validator import serve

    serve(settings)
    return 0


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
    commands.add_parser("edge-validator", help="run the edge's REST body validator (Envoy ext_authz)").set_defaults(
        func=_edge_validator)
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
