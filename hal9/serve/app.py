"""The FastAPI application: :func:`create_app` wires settings, database, security and routes.

Examples
--------
>>> from fastapi.testclient import TestClient
>>> from hal9.serve import Settings, create_app
>>> app = create_app(Settings(database_url="sqlite:///hal9-serve.db"))  # doctest: +SKIP
>>> with TestClient(app) as client:  # doctest: +SKIP
...     client.get("/health").json()
{'status': 'ok'}
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from hal9 import __version__
from hal9.serve.accounts import ensure_admin
from hal9.serve.db import make_engine
from hal9.serve.deps import KeyCache, Services
from hal9.serve.heap import freeze_startup_heap, watch_gc
from hal9.serve.inprocess import InProcessRunner
from hal9.serve.jobs import JobRegistry, default_registry
from hal9.serve.leanread import LeanReader, lean_conninfo
from hal9.serve.logging import configure_logging
from hal9.serve.metrics import ServeMetrics
from hal9.serve.middleware import RequestMiddleware
from hal9.serve.problems import COMMON_RESPONSES, install_handlers
from hal9.serve.queuestats import QueueStats
from hal9.serve.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from hal9.serve.routes import auth, keys, runs, system, users
from hal9.serve.security import Passwords
from hal9.serve.settings import Settings

__all__ = ["app_factory", "create_app"]

_log = logging.getLogger("hal9.serve")


def _limiter(settings: Settings) -> RateLimiter:
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, settings.rate_limit_prefix)
    return MemoryRateLimiter(settings.rate_limit_prefix)


def create_app(settings: Settings | None = None, *, registry: JobRegistry | None = None) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings : Settings, optional
        Default: read from the environment and ``.env``.
    registry : JobRegistry, optional
        Job kinds to serve; default :func:`~hal9.serve.jobs.default_registry`.

    Returns
    -------
    FastAPI
        Its database must be migrated (``hal9 serve migrate``) before it serves requests; the first
        admin (``HAL9_ADMIN_USERNAME`` / ``HAL9_ADMIN_PASSWORD``) is created when the app starts.
    """
    settings = settings if settings is not None else Settings()
    registry = registry if registry is not None else default_registry()
    metrics = ServeMetrics()
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        application_name="hal9-api",
    )
    metrics.add_collector(QueueStats(engine, settings))
    services = Services(
        settings=settings,
        engine=engine,
        passwords=Passwords.from_settings(settings),
        limiter=_limiter(settings),
        metrics=metrics,
        registry=registry,
        runner=None if settings.uses_queue else InProcessRunner(engine, registry, settings, metrics),
        # With revocations pushed by NOTIFY the cache starts off and is enabled once the watcher listens.
        key_cache=KeyCache(settings.key_cache_ttl_s, enabled=not settings.key_cache_pushed),
        reader=engine.execution_options(isolation_level="AUTOCOMMIT"),
    )

    lean_wanted = settings.db_lean_reads and engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lean = (
            LeanReader(engine.url.render_as_string(hide_password=False), size=settings.db_lean_pool_size)
            if lean_wanted
            else None
        )
        if lean is not None:
            await lean.open()
            services.lean = lean
        watcher = None
        if settings.key_cache_pushed and settings.key_cache_ttl_s > 0:
            from hal9.serve.keywatch import KeyWatcher

            watcher = KeyWatcher(
                lean_conninfo(engine.url.render_as_string(hide_password=False)), services.key_cache
            )
            await watcher.start()
        if services.runner is not None:
            services.runner.start()
            _log.info(
                "jobs run in-process (SQLite default): in this API process, on HAL9_JOB_WORKERS threads",
                extra={"job_workers": settings.job_workers, "execution": "inprocess"},
            )
        else:
            _log.info(
                "jobs go to the PostgreSQL queue; start `hal9 worker` processes to run them",
                extra={"execution": "queue"},
            )
        if settings.admin_username and settings.admin_password:
            try:
                created = ensure_admin(
                    engine,
                    services.passwords,
                    settings.admin_username,
                    settings.admin_password.get_secret_value(),
                )
            except Exception as exc:
                _log.error("could not create the admin user", extra={"exc_type": type(exc).__name__})
            else:
                if created:
                    _log.info("admin user created", extra={"username": settings.admin_username})
        try:
            yield
        finally:
            if watcher is not None:
                await watcher.stop()
            services.lean = None
            if lean is not None:
                await lean.close()
            if services.runner is not None:
                services.runner.shutdown()
            services.limiter.close()
            engine.dispose()

    app = FastAPI(
        title="hal9",
        version=__version__,
        summary="Authenticated API of hal9: simulations, self-organization and integration metrics as jobs.",
        docs_url="/docs" if settings.docs_enabled else None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    install_handlers(app)
    # Each router carries its full prefix (no prefix at inclusion), so ``scope["route"].path`` is the
    # complete path template used in logs and metrics.
    # Routes are matched in order, one by one: the hot ones (the run reads, then /health) first. No two
    # routes share a method and path, so the order changes nothing but the time to find a match.
    app.include_router(runs.build_router(registry, settings.limits), responses=COMMON_RESPONSES)
    app.include_router(system.build_router(settings.metrics_access))
    for router in (auth.router, users.router, keys.router):
        app.include_router(router, responses=COMMON_RESPONSES)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            allow_credentials=False,
        )
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes, metrics=metrics)
    return app


def app_factory() -> FastAPI:
    """Entry point of uvicorn workers (``hal9.serve.app:app_factory``): settings from the environment."""
    settings = Settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    if settings.job_torch_threads:
        import torch

        torch.set_num_threads(settings.job_torch_threads)
    app = create_app(settings)
    metrics = app.state.services.metrics
    metrics.flushers.append(watch_gc(metrics.gc_pause).flush)
    frozen = freeze_startup_heap()
    _log.info("start-up heap frozen (gc.freeze)", extra={"objects": frozen})
    return app
