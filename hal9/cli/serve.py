"""``hal9 serve``: the authenticated HTTP service (argument parsing only; FastAPI is imported lazily).

* ``hal9 serve [--host H] [--port P] [--workers N]`` — migrate (unless ``HAL9_AUTO_MIGRATE=false``),
  create the first admin from the settings, then run uvicorn with N worker processes.
* ``hal9 serve migrate [--revision R]`` — upgrade the database (default: to head).
* ``hal9 serve create-user --username U (--password-stdin | --password P) [--admin]``.

Settings come from the environment and ``.env`` (see ``docs/serving.md``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from typing import Any


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
        "--workers", type=int, default=None, help="worker processes (default HAL9_WORKERS or 1)"
    )
    actions = serve.add_subparsers(
        dest="serve_command", metavar="ACTION", help="optional; without one, run the server"
    )
    mig = actions.add_parser("migrate", help="upgrade the database schema")
    mig.add_argument("--revision", default="head", help="target revision (default head)")
    user = actions.add_parser("create-user", help="create a user account")
    user.add_argument("--username", required=True)
    pw = user.add_mutually_exclusive_group(required=True)
    pw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    pw.add_argument("--password", help="the password (visible in the process list: prefer --password-stdin)")
    user.add_argument("--admin", action="store_true", help="give the account the admin role")


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


def _migrate(args: argparse.Namespace) -> int:
    from hal9.serve.db import make_engine
    from hal9.serve.migrate import current_revision, upgrade

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine, args.revision)
        print(f"hal9 serve: database at migration {current_revision(engine)}")
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


def _run_server(args: argparse.Namespace) -> int:
    settings = _settings()
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers < 1 or not 0 < port < 65_536:
        return _fail("--workers must be >= 1 and --port in 1..65535")
    metrics_dir: str | None = None
    if workers > 1:
        # Every worker must sign and check tokens with the same secret, and count metrics in one place.
        os.environ.setdefault("HAL9_SECRET_KEY", settings.secret_key.get_secret_value())
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            metrics_dir = tempfile.mkdtemp(prefix="hal9-prometheus-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    import uvicorn

    from hal9.serve.accounts import ensure_admin, fail_interrupted_runs
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
        fail_interrupted_runs(engine)
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
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Run ``hal9 serve``; returns the exit code."""
    try:
        import fastapi  # noqa: F401
    except ModuleNotFoundError:
        return _fail("the service needs the 'serve' extra: pip install 'hal9[serve]'")
    command = getattr(args, "serve_command", None)
    if command == "migrate":
        return _migrate(args)
    if command == "create-user":
        return _create_user(args)
    return _run_server(args)
