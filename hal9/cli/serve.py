"""``hal9 serve``: the authenticated HTTP service (argument parsing only; FastAPI is imported lazily).

* ``hal9 serve [--host H] [--port P] [--workers N]`` — migrate (unless ``HAL9_AUTO_MIGRATE=false``),
  create the first admin from the settings, then run uvicorn with N worker processes.
* ``hal9 serve --with-worker N`` — also start ``hal9 worker --processes N`` beside the API (PostgreSQL;
  a single-machine deployment in one command; the workers run at niceness 10 unless
  ``HAL9_WORKER_NICE`` is set).
* ``hal9 serve migrate [--revision R | --downgrade R]`` — upgrade the database (default: to head), or
  roll it back (``--downgrade -1``).
* ``hal9 serve create-user --username U (--password-stdin | --password P) [--admin]``.

* ``hal9 worker [--processes N]`` — run queued jobs (PostgreSQL); any number, on any machines.

Settings come from the environment and ``.env`` (see ``docs/serving.md``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Any

#: Niceness of the workers that ``hal9 serve --with-worker`` starts, unless ``HAL9_WORKER_NICE`` is set.
WITH_WORKER_NICE = 10


def add_serve_parser(sub: Any) -> None:
    """Add the ``serve`` subcommand to the CLI's subparsers (no heavy imports here)."""
    serve = sub.add_parser(
        "serve",
        help="run the authenticated hal9 HTTP service (needs the 'serve' extra)",
        description="Run the hal9 HTTP API (settings from HAL9_* environment variables and .env).",
    )
    serve.add_argument("--host", default=None, help="bind address (default HAL9_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default HAL9_PORT or 8000)")
    serve.add_argument(
        "--workers", type=int, default=None, help="API processes of uvicorn (default HAL9_WORKERS or 1)"
    )
    serve.add_argument(
        "--with-worker",
        type=int,
        default=0,
        metavar="N",
        help="PostgreSQL: also run N job worker processes (`hal9 worker --processes N`) beside the API",
    )
    actions = serve.add_subparsers(
        dest="serve_command", metavar="ACTION", help="optional; without one, run the server"
    )
    mig = actions.add_parser("migrate", help="upgrade (or, with --downgrade, roll back) the database schema")
    mig_to = mig.add_mutually_exclusive_group()
    mig_to.add_argument("--revision", default="head", help="upgrade to this revision (default head)")
    mig_to.add_argument(
        "--downgrade",
        metavar="REV",
        help="roll back to REV (-1: one migration back, or a revision id); what the undone migrations "
        "added (columns, tables, the queue) is dropped with its data: back up first (docs/operations.md)",
    )
    user = actions.add_parser("create-user", help="create a user account")
    user.add_argument("--username", required=True)
    pw = user.add_mutually_exclusive_group(required=True)
    pw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    pw.add_argument("--password", help="the password (visible in the process list: prefer --password-stdin)")
    user.add_argument("--admin", action="store_true", help="give the account the admin role")


def add_worker_parser(sub: Any) -> None:
    """Add the ``worker`` subcommand (runs queued jobs; PostgreSQL only)."""
    worker = sub.add_parser(
        "worker",
        help="run queued service jobs (PostgreSQL queue; needs the 'serve' extra)",
        description="Run jobs queued by `hal9 serve` on PostgreSQL. Each process runs one job at a time; "
        "any number of workers on any number of machines share one database. SIGTERM: stop taking jobs, "
        "let the running one finish for HAL9_WORKER_SHUTDOWN_GRACE_S, then hand it back to the queue.",
    )
    worker.add_argument(
        "--processes", type=int, default=1, metavar="N", help="worker processes to run and supervise"
    )
    worker.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop (gracefully) when the parent process ends (used by `hal9 serve --with-worker`)",
    )


def _fail(message: str) -> int:
    print(f"hal9 serve: error: {message}", file=sys.stderr)
    return 2


def _settings() -> Any:
    from pydantic import ValidationError

    from hal9.serve.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        errors = "; ".join(str(e["msg"]) for e in exc.errors())
        raise SystemExit(_fail(f"invalid settings: {errors}")) from None


def _check_database(url: str) -> str | None:
    """``None`` when the database of ``url`` can be reached; else one line that says what to do."""
    from sqlalchemy.exc import OperationalError

    from hal9.serve.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        if "does not exist" in reason and engine.dialect.name == "postgresql":
            name = engine.url.database
            return (
                f"database {name!r} does not exist; create it first: createdb -h {engine.url.host} "
                f"-U {engine.url.username} {name}  (or: psql -c 'CREATE DATABASE {name}')"
            )
        return f"cannot reach the database {engine.url.render_as_string(hide_password=True)}: {reason}"
    finally:
        engine.dispose()
    return None


def _migrate(args: argparse.Namespace) -> int:
    from alembic.util import CommandError

    from hal9.serve.db import make_engine
    from hal9.serve.migrate import current_revision, downgrade, upgrade

    settings = _settings()
    if (problem := _check_database(settings.database_url)) is not None:
        return _fail(problem)
    engine = make_engine(settings.database_url)
    try:
        before = current_revision(engine)
        if args.downgrade is not None:
            downgrade(engine, args.downgrade)
        else:
            upgrade(engine, args.revision)
        print(f"hal9 serve: database at migration {current_revision(engine)} (was {before})")
    except CommandError as exc:  # an unknown or unreachable revision: alembic's message, no traceback
        return _fail(f"migration: {exc}")
    finally:
        engine.dispose()
    return 0


def _create_user(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from hal9.serve.accounts import UserExists, create_user
    from hal9.serve.db import make_engine
    from hal9.serve.migrate import is_at_head, upgrade
    from hal9.serve.schemas import AdminUserCreate
    from hal9.serve.security import Passwords

    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else args.password
    try:
        body = AdminUserCreate(username=args.username, password=password, is_admin=args.admin)
    except ValidationError as exc:
        return _fail("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors()))
    settings = _settings()
    if (problem := _check_database(settings.database_url)) is not None:
        return _fail(problem)
    engine = make_engine(settings.database_url)
    try:
        if settings.auto_migrate:
            upgrade(engine)
        elif not is_at_head(engine):
            return _fail("database not migrated; run `hal9 serve migrate` first")
        user_id = create_user(
            engine, Passwords.from_settings(settings), body.username, body.password, is_admin=body.is_admin
        )
    except UserExists:
        return _fail(f"user {body.username!r} exists")
    finally:
        engine.dispose()
    print(f"hal9 serve: created user {body.username!r} (id {user_id}{', admin' if body.is_admin else ''})")
    return 0


def _note_signal(signum: int, _frame: Any) -> None:
    """Handler of SIGTERM/SIGINT around ``uvicorn.run``: let the shut-down code after it run."""


def _run_server(args: argparse.Namespace) -> int:
    settings = _settings()
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers < 1 or not 0 < port < 65_536 or args.with_worker < 0:
        return _fail("--workers must be >= 1, --with-worker >= 0 and --port in 1..65535")
    if args.with_worker and not settings.uses_queue:
        return _fail(
            "--with-worker needs PostgreSQL (DATABASE_URL=postgresql://...); on SQLite jobs run in-process"
        )
    if (problem := _check_database(settings.database_url)) is not None:
        return _fail(problem)
    metrics_dir: str | None = None
    if workers > 1:
        # Every worker must sign and check tokens with the same secret, and count metrics in one place.
        os.environ.setdefault("HAL9_SECRET_KEY", settings.secret_key.get_secret_value())
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            metrics_dir = tempfile.mkdtemp(prefix="hal9-prometheus-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    import uvicorn

    from hal9.serve.accounts import ensure_admin
    from hal9.serve.db import make_engine
    from hal9.serve.logging import configure_logging
    from hal9.serve.migrate import is_at_head, upgrade
    from hal9.serve.security import Passwords

    configure_logging(settings.log_level, json_lines=settings.log_json)
    engine = make_engine(settings.database_url)
    try:
        if settings.auto_migrate:
            upgrade(engine)
        elif not is_at_head(engine):
            return _fail("database not migrated; run `hal9 serve migrate` first")
        if settings.admin_username and settings.admin_password:
            ensure_admin(
                engine,
                Passwords.from_settings(settings),
                settings.admin_username,
                settings.admin_password.get_secret_value(),
            )
    finally:
        engine.dispose()
    import inspect

    extra: dict[str, Any] = {}
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:  # uvicorn >= 0.30
        # uvicorn kills a worker that does not answer its health check within 5 s, including one still
        # importing at start-up: on a busy machine that became a restart loop. 30 s still catches hangs.
        extra["timeout_worker_healthcheck"] = 30
    worker_proc = None
    if args.with_worker:
        # Same settings (environment) for the workers; they stop by themselves if this process dies.
        # They share this machine's cores with the API: unless told otherwise they run niced, so that a
        # job computing does not delay request handling (measured in docs/serving.md, "Load").
        env = dict(os.environ)
        if "worker_nice" not in settings.model_fields_set:
            env["HAL9_WORKER_NICE"] = str(WITH_WORKER_NICE)
        worker_proc = subprocess.Popen(
            [
                sys.executable,
                *(
                    "-m",
                    "hal9.cli.main",
                    "worker",
                    "--processes",
                    str(args.with_worker),
                    "--exit-with-parent",
                ),
            ],
            env=env,
        )
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shut-down, with the handlers it found installed:
    # with these, that re-raise returns here, and the workers are stopped below instead of orphaned.
    stop_signals = {sig: signal.signal(sig, _note_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.run(
            "hal9.serve.app:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
            log_config=None,
            server_header=False,
            **extra,
        )
    finally:
        if worker_proc is not None:
            from hal9.serve.supervise import stop_process

            stop_process(worker_proc, settings.worker_shutdown_grace_s + 15.0)
        for sig, handler in stop_signals.items():
            signal.signal(sig, handler)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Run ``hal9 serve``; returns the exit code."""
    try:
        import fastapi  # noqa: F401
    except ModuleNotFoundError:
        return _fail("the service needs the 'serve' extra: pip install -e '.[serve]'")
    command = getattr(args, "serve_command", None)
    if command == "migrate":
        return _migrate(args)
    if command == "create-user":
        return _create_user(args)
    return _run_server(args)


def run_worker_command(args: argparse.Namespace) -> int:
    """Run ``hal9 worker``; returns the exit code."""
    try:
        import procrastinate  # noqa: F401
    except ModuleNotFoundError:
        return _fail("the worker needs the 'serve' extra: pip install -e '.[serve]'")
    if args.processes < 1:
        return _fail("--processes must be >= 1")
    settings = _settings()
    if not settings.uses_queue:
        return _fail(
            "hal9 worker runs the PostgreSQL queue: set DATABASE_URL=postgresql://... "
            "(on SQLite `hal9 serve` runs jobs in-process and needs no worker)"
        )
    if (problem := _check_database(settings.database_url)) is not None:
        return _fail(problem)
    from hal9.serve.db import make_engine
    from hal9.serve.logging import configure_logging
    from hal9.serve.migrate import is_at_head

    configure_logging(settings.log_level, json_lines=settings.log_json)
    engine = make_engine(settings.database_url)
    try:
        if not is_at_head(engine):
            return _fail("database not migrated; run `hal9 serve migrate` first")
    finally:
        engine.dispose()
    if args.processes > 1 or args.exit_with_parent:
        from hal9.serve.supervise import supervise

        command = [sys.executable, "-m", "hal9.cli.main", "worker", "--processes", "1"]
        return supervise(
            command,
            args.processes,
            grace_s=settings.worker_shutdown_grace_s + 10.0,
            parent_pid=os.getppid() if args.exit_with_parent else None,
        )
    from hal9.serve.workerproc import run_worker

    return run_worker(settings)
