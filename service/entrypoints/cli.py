"""`payment-service`: serve, migrate, keys, reconcile, audit, deliver, prune-events, inhouse-simulator
and edge-validator (one image, the chart picks the command)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta

from common import logs

from ..config import ConfigError, Settings
from . import keys_cli


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from .grpc.workers import serve

    return serve(settings, args.workers)


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from ..adapters.migrate import upgrade

    upgrade(settings.require_database(), args.revision)
    print(json.dumps({"migrated_to": args.revision}))
    return 0


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from ..bootstrap import bootstrap
    from ..service_layer.reconcile import prune_idempotency_keys, reconcile, requiring_review

    if args.report:
        async def listing() -> list[dict]:
            app = bootstrap(settings)
            try:
                return await requiring_review(app.deps)
            finally:
                await app.close()

        flagged = asyncio.run(listing())
        print(json.dumps({"requiring_review": flagged, "count": len(flagged)}, indent=2))
        return 1 if flagged else 0

    async def run() -> dict:
        app = bootstrap(settings)
        try:
            report = await reconcile(app.deps, older_than=timedelta(seconds=args.older_than))
            pruned = await prune_idempotency_keys(
                app.deps, timedelta(hours=settings.idempotency_retention_hours))
            events = await _prune_events(app.engine, settings)
        finally:
            await app.close()
        return {**report.__dict__, "idempotency_keys_pruned": pruned, "events_pruned": events}

    print(json.dumps(asyncio.run(run())))
    return 0


async def _prune_events(engine, settings: Settings) -> dict:
    from ..adapters.delivery_queue import prune
    from ..adapters.event_log import sequence
    from ..domain.model import utcnow

    # An event still waiting for its position is never pruned; place the waiting ones first, or a
    # stack without a running delivery worker would keep its old events for ever.
    await sequence(engine, wait=True)
    return await prune(engine, utcnow() - timedelta(days=settings.webhooks.event_retention_days))


def _prune(args: argparse.Namespace, settings: Settings) -> int:
    from ..bootstrap import make_engine

    async def run() -> dict:
        engine = make_engine(settings)
        try:
            return await _prune_events(engine, settings)
        finally:
            await engine.dispose()

    print(json.dumps({"events_pruned": asyncio.run(run())}))
    return 0


def _deliver(args: argparse.Namespace, settings: Settings) -> int:
    from .deliver import main as deliver

    deliver(settings)
    return 0


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from ..bootstrap import bootstrap
    from ..service_layer.auditor import audit

    async def run() -> dict:
        app = bootstrap(settings)
        try:
            report = await audit(app.deps, processor_rate=args.processor_rate,
                                 compare_processor=not args.skip_processor,
                                 stuck_after=timedelta(seconds=args.stuck_after),
                                 merchants=tuple(args.merchant or ()))
        finally:
            await app.close()
        return report.as_dict()

    result = asyncio.run(run())
    print(json.dumps(result, indent=2))
    return 1 if result["drift_count"] else 0


def _inhouse_simulator(args: argparse.Namespace, settings: Settings) -> int:
    """Play what the in-house processor does later and send its signed webhooks (processors/inhouse/simulator.py)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from ..adapters.processors.inhouse.simulator import advance, deliver

    if not (settings.inhouse_webhook_url and settings.inhouse_webhook_secret):
        raise ConfigError("INHOUSE_WEBHOOK_URL and INHOUSE_WEBHOOK_SECRET are required to send in-house webhooks")

    async def run() -> None:
        engine = create_async_engine(settings.require_database(), hide_parameters=True)
        try:
            while True:
                advanced = await advance(engine)
                delivered = await deliver(engine, settings.inhouse_webhook_url, settings.inhouse_webhook_secret)
                if args.once:
                    print(json.dumps({**advanced.__dict__, **delivered.__dict__}))
                    return
                await asyncio.sleep(args.interval)
        finally:
            await engine.dispose()

    asyncio.run(run())
    return 0


def _edge_validator(args: argparse.Namespace, settings: Settings) -> int:
    from .edge.validator import serve

    serve(settings)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="payment-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC server")
    serve.add_argument("--workers", type=int, default=None,
                       help="server processes sharing GRPC_PORT (default: WORKERS, or one per usable CPU)")
    serve.set_defaults(func=_serve)
    migrate = commands.add_parser("migrate", help="apply database migrations (idempotent)")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(func=_migrate)
    keys_cli.add_parser(commands, keys_cli.run)
    reconcile = commands.add_parser("reconcile", help="settle payments left waiting on a processor")
    reconcile.add_argument("--older-than", type=float, default=60.0, help="seconds a payment must have waited")
    reconcile.add_argument("--report", action="store_true",
                           help="only list the payments marked for a person (JSON); exit 1 when there are any")
    reconcile.set_defaults(func=_reconcile)
    commands.add_parser("deliver", help="run the webhook delivery worker").set_defaults(func=_deliver)
    commands.add_parser("prune-events", help="delete events older than EVENT_RETENTION_DAYS (reconcile does it too)"
                        ).set_defaults(func=_prune)
    audit = commands.add_parser("audit", help="check every payment's invariants and the processor's view (JSON);"
                                              " exit 1 on any drift")
    audit.add_argument("--processor-rate", type=float, default=20.0,
                       help="processor lookups per second, per processor (0: unlimited)")
    audit.add_argument("--skip-processor", action="store_true", help="do not compare with the processors")
    audit.add_argument("--stuck-after", type=float, default=3600.0,
                       help="seconds after which a pending processor call counts as stuck")
    audit.add_argument("--merchant", action="append", help="only this merchant's payments (repeatable)")
    audit.set_defaults(func=_audit)
    simulator = commands.add_parser("inhouse-simulator", help="play the in-house processor's later events"
                                                               " (failed refunds, disputes) and send its webhooks")
    simulator.add_argument("--once", action="store_true", help="one pass, then print what it did (JSON)")
    simulator.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    simulator.set_defaults(func=_inhouse_simulator)
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
