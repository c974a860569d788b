"""The ``coopmarket`` command: serve, worker, migrate, create-staff, seed-demo, expire-orders,
reconcile, backup, restore.

Every command reads its settings from the ``COOPMARKET_*`` environment variables.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging.config
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError

from coopmarket import demo, worker
from coopmarket.accounts import service as accounts_service
from coopmarket.core import clock
from coopmarket.core.errors import DomainError
from coopmarket.core.phone import is_valid_phone
from coopmarket.db import Database
from coopmarket.flows import reconciliation
from coopmarket.migrate import alembic_config, upgrade
from coopmarket.ops import backup as backup_ops
from coopmarket.ops.logging import logging_config
from coopmarket.ops.metrics import MULTIPROC_ENV
from coopmarket.orders import expiry
from coopmarket.payments.errors import ProviderNotEnabled, ProviderUnavailable
from coopmarket.payments.providers import Window
from coopmarket.payments.registry import open_providers
from coopmarket.payments.schemas import ReconciliationRunOut
from coopmarket.settings import Settings, get_settings
from coopmarket.storage.base import StorageConfigurationError
from coopmarket.storage.deps import build_storage

APP_FACTORY = "coopmarket.app:create_app"
STAFF_ROLES = ("district_staff", "street_staff", "village_staff")
PASSWORD_MIN, PASSWORD_MAX = 8, 128


class CommandError(Exception):
    """A refusal worth one line on stderr and a non-zero exit."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _with_database(settings: Settings, work: Callable[[Database], Awaitable[Any]]) -> Any:
    db = Database(settings)
    try:
        return await work(db)
    finally:
        await db.dispose()


# --- serve -----------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the API with uvicorn; each worker process builds its own app from the environment."""
    import uvicorn

    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "factory": True,
        "log_config": logging_config(settings),
        # coopmarket.access logs each request with its route template and request id instead.
        "access_log": False,
        "server_header": False,
        # The client address comes from COOPMARKET_TRUSTED_PROXIES (core/ratelimit.py), never from
        # uvicorn's own reading of X-Forwarded-For.
        "proxy_headers": False,
        # uvicorn's supervisor kills a worker that has not answered its ping within this many
        # seconds. Its default (5 s) is shorter than a worker's start-up (importing the app) on a
        # busy machine, where workers were killed and restarted in a loop and the server never
        # came up; a worker stuck this long is still replaced.
        "timeout_worker_healthcheck": 30,
    }
    if args.reload:
        options["reload"] = True
        options["reload_dirs"] = [str(Path(__file__).parent)]
    else:
        options["workers"] = args.workers
    workers = 1 if args.reload else args.workers
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        # Each worker writes its metrics here; a scrape of any worker then sums them all.
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="coopmarket-metrics-")
    base = f"http://{args.host}:{args.port}"
    print(
        f"coopmarket serving on {base} with {workers} worker(s), database {_safe_url(settings.database_url)}\n"
        f"API docs: {base}/schema/swagger  (Ctrl+C stops the server)",
        flush=True,
    )
    uvicorn.run(APP_FACTORY, **options)
    return 0


# --- migrate ---------------------------------------------------------------------------------


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def migrate(settings: Settings) -> str | None:
    """Apply every migration to the configured database; the revision it is at afterwards.

    With ``COOPMARKET_JOB_QUEUE=procrastinate``, procrastinate's tables are created too (by its
    own schema manager) when they are missing.
    """

    async def work(db: Database) -> str | None:
        await upgrade(db.engine)
        async with db.engine.connect() as conn:
            return await conn.run_sync(_current_revision)

    revision = await _with_database(settings, work)
    if settings.job_queue == "procrastinate" and await worker.ensure_schema(settings):
        print("created the procrastinate job queue's tables")
    return revision


# --- worker ----------------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run the periodic and deferred jobs from the procrastinate queue until SIGINT/SIGTERM."""
    if settings.job_queue != "procrastinate":
        raise CommandError(
            "`coopmarket worker` needs COOPMARKET_JOB_QUEUE=procrastinate (and PostgreSQL); "
            "with the default in-process queue `coopmarket serve` runs the jobs itself",
            exit_code=2,
        )
    logging.config.dictConfig(logging_config(settings))
    print(f"coopmarket worker on {_safe_url(settings.database_url)} (Ctrl+C stops it)", flush=True)
    asyncio.run(worker.run_worker(settings, concurrency=args.concurrency, imports=args.imports))
    return 0


def cmd_migrate(_: argparse.Namespace, settings: Settings) -> int:
    """Bring the database to the newest revision and print it."""
    revision = asyncio.run(migrate(settings))
    print(f"database {_safe_url(settings.database_url)} is at revision {revision}")
    return 0


# --- create-staff ----------------------------------------------------------------------------


def _read_password(stdin: TextIO) -> str:
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise CommandError("the two passwords differ", exit_code=2)
        return first
    return stdin.readline().rstrip("\r\n")


def cmd_create_staff(args: argparse.Namespace, settings: Settings) -> int:
    """Create a staff login (the bootstrap for the first district staff account)."""
    if not is_valid_phone(args.phone):
        raise CommandError(f"--phone must be an 11-digit mainland mobile number, got {args.phone!r}", 2)
    password = args.password if args.password is not None else _read_password(sys.stdin)
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise CommandError(f"the password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long", 2)
    display_name = args.display_name.strip()
    if not display_name:
        raise CommandError("--display-name must not be empty", 2)

    async def work(db: Database) -> Any:
        async with db.unit_of_work() as session:
            return await accounts_service.create_staff_unchecked(
                session,
                phone=args.phone,
                password=password,
                display_name=display_name,
                role=args.role,
                region_code=args.region_code,
            )

    try:
        user = asyncio.run(_with_database(settings, work))
    except DomainError as exc:
        if exc.code == "phone_taken":
            raise CommandError(f"a user with phone {args.phone} already exists; nothing was created") from exc
        raise CommandError(exc.detail, exit_code=2) from exc
    print(
        f"created {user.role} {user.display_name} (id {user.id}, phone {args.phone}) for region {user.region_code}"
    )
    return 0


# --- seed-demo -------------------------------------------------------------------------------


def cmd_seed_demo(_: argparse.Namespace, settings: Settings) -> int:
    """Fill an empty, migrated database with demonstration data (once)."""
    async def work(db: Database) -> None:
        storage = build_storage(settings)
        try:
            await storage.check()
            await demo.seed(db, storage, out=print)
        finally:
            await storage.aclose()

    try:
        asyncio.run(_with_database(settings, work))
    except StorageConfigurationError as exc:
        raise CommandError(str(exc)) from exc
    return 0


# --- expire-orders ---------------------------------------------------------------------------


def cmd_expire_orders(_: argparse.Namespace, settings: Settings) -> int:
    """Cancel overdue unpaid orders once (the server also does this in the background)."""
    expired = asyncio.run(_with_database(settings, expiry.expire_overdue_orders))
    print(f"expired {expired} overdue order(s)")
    return 0


# --- reconcile -------------------------------------------------------------------------------

# Exit status of a run that left differences for a person (so that cron and monitoring notice).
EXIT_NEEDS_ATTENTION = 3


def _instant(value: str, timezone: str) -> datetime:
    """An ISO date (midnight in the report time zone) or date-time (no zone: the report time zone)."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time(), tzinfo=ZoneInfo(timezone))
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not an ISO date or date-time: {value!r}", exit_code=2) from exc
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=ZoneInfo(timezone))


def _print_run(run: ReconciliationRunOut) -> None:
    print(
        f"reconciled {run.provider} from {run.window_start.isoformat()} to {run.window_end.isoformat()} "
        f"(run {run.id}): {run.payments_seen} payment(s) and {run.refunds_seen} refund(s) at {run.provider}, "
        f"{run.repaired} repaired, {run.needs_attention} need a person"
    )
    for item in run.items or []:
        order = f" order {item.order_id}" if item.order_id else ""
        refund = f" refund {item.refund_id}" if item.refund_id else ""
        print(
            f"  {item.action:<18} {item.kind} {item.provider_ref}{order}{refund} {item.amount_fen} fen: "
            f"{item.finding}" + (f" ({item.detail})" if item.detail else "")
        )


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    """Compare a provider's payments and refunds of a window with ours, repair, and print what changed."""
    until = _instant(args.until, settings.report_timezone) if args.until else clock.now()
    since = (
        _instant(args.since, settings.report_timezone)
        if args.since
        else until - timedelta(hours=settings.reconciliation_lookback_hours)
    )
    if since >= until:
        raise CommandError("--since must be before --until", exit_code=2)
    if args.provider not in settings.payment_providers:
        raise CommandError(f"{args.provider} is not enabled (COOPMARKET_PAYMENT_PROVIDERS)", exit_code=2)

    async def work(db: Database) -> ReconciliationRunOut:
        async with open_providers(settings) as providers:
            return await reconciliation.reconcile(
                db, providers, args.provider, Window(since=since, until=until), trigger="cli"
            )

    try:
        run = asyncio.run(_with_database(settings, work))
    except ProviderNotEnabled as exc:
        raise CommandError(exc.detail, exit_code=2) from exc
    except ProviderUnavailable as exc:
        raise CommandError(f"{args.provider} could not be listed: {exc.detail}") from exc
    _print_run(run)
    return EXIT_NEEDS_ATTENTION if run.needs_attention else 0


# --- backup / restore --------------------------------------------------------------------


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def _describe(outcome: backup_ops.Outcome) -> str:
    return (
        f"{outcome.digest.total_rows} rows in {len(outcome.digest.tables)} tables, revision {outcome.revision}, "
        f"digest {outcome.digest.combined[:16]}"
    )


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    """Copy the live SQLite database to a new file, checked by digest (the server may keep running)."""
    try:
        source = backup_ops.sqlite_file(settings.database_url)
        outcome = backup_ops.backup(source, Path(args.path).expanduser().resolve())
    except backup_ops.BackupError as exc:
        raise CommandError(str(exc), exit_code=2) from exc
    print(f"backed up {source} to {outcome.path}: {_describe(outcome)} (checked)")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    """Replace the SQLite database with a backup (the previous file is kept beside it)."""
    try:
        target = backup_ops.sqlite_file(settings.database_url)
        outcome = backup_ops.restore(
            Path(args.path).expanduser().resolve(),
            target,
            known_revisions=_known_revisions(),
            force=args.force,
        )
    except backup_ops.BackupError as exc:
        raise CommandError(str(exc), exit_code=2) from exc
    kept = f"; the previous database is kept at {outcome.kept_previous}" if outcome.kept_previous else ""
    print(
        f"restored {target} from {args.path}: {_describe(outcome)} (checked){kept}\n"
        "Restart the server, then run `coopmarket migrate` if the backup is from an older release."
    )
    return 0


# --- wiring ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coopmarket",
        description="Marketplace backend for Fangzi District's cooperatives. "
        "Settings come from COOPMARKET_* environment variables.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="apply the database migrations").set_defaults(handler=cmd_migrate)

    jobs = commands.add_parser(
        "worker", help="run periodic and deferred jobs from the procrastinate queue (COOPMARKET_JOB_QUEUE)"
    )
    jobs.add_argument("--concurrency", type=int, default=4, help="jobs run at once (default 4)")
    jobs.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="also register the tasks of MODULE (its register(queue, db)); repeatable",
    )
    jobs.set_defaults(handler=cmd_worker)

    staff = commands.add_parser("create-staff", help="create a staff login (e.g. the first district staff)")
    staff.add_argument("--phone", required=True, help="11-digit mainland mobile number (the login)")
    staff.add_argument(
        "--password", help="omit to be asked (or to read one line from stdin when it is not a terminal)"
    )
    staff.add_argument("--display-name", required=True)
    staff.add_argument("--role", choices=STAFF_ROLES, default="district_staff")
    staff.add_argument("--region-code", default="370704", help="district, street or village code")
    staff.set_defaults(handler=cmd_create_staff)

    commands.add_parser(
        "seed-demo", help="load demonstration cooperatives and products (idempotent)"
    ).set_defaults(handler=cmd_seed_demo)
    commands.add_parser("expire-orders", help="cancel overdue unpaid orders once").set_defaults(
        handler=cmd_expire_orders
    )

    reconcile = commands.add_parser(
        "reconcile",
        help="compare a payment provider's payments and refunds with ours, repair, print what changed",
    )
    reconcile.add_argument("--provider", required=True, help="a provider with records, e.g. stripe")
    reconcile.add_argument(
        "--since",
        help="ISO date or date-time (no zone: COOPMARKET_REPORT_TIMEZONE); default: --until less "
        "COOPMARKET_RECONCILIATION_LOOKBACK_HOURS",
    )
    reconcile.add_argument("--until", help="ISO date or date-time, exclusive; default: now")
    reconcile.set_defaults(handler=cmd_reconcile)

    backup = commands.add_parser("backup", help="copy the live SQLite database to a new file (checked)")
    backup.add_argument("path", help="the new backup file (must not exist)")
    backup.set_defaults(handler=cmd_backup)
    restore = commands.add_parser("restore", help="replace the SQLite database with a backup (checked)")
    restore.add_argument("path", help="a file made by `coopmarket backup`")
    restore.add_argument("--force", action="store_true", help="replace a database that holds data")
    restore.set_defaults(handler=cmd_restore)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``coopmarket`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "serve" and (args.workers < 1 or not 0 < args.port < 65536):
        print("error: --workers must be at least 1 and --port between 1 and 65535", file=sys.stderr)
        return 2
    get_settings.cache_clear()  # each invocation reads the environment as it is now
    try:
        settings = get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        print(f"error: invalid COOPMARKET_* settings: {problems}", file=sys.stderr)
        return 2
    try:
        return int(args.handler(args, settings))
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        return 1
    except (OSError, OperationalError) as exc:
        print(f"error: database {_safe_url(settings.database_url)}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
